/**
 * The mail adapter: hands one rendered report to an SMTP server or to the local sendmail program
 * through nodemailer, as logcheck does through mime-construct: plain text UTF-8 (or the report as an
 * attachment), `Auto-Submitted: auto-generated`. Failures become MailError with a stable code
 * (LS_SMTP_UNREACHABLE: try again later; LS_SMTP_REJECTED: the server said no) and, for SMTP, the
 * command and response code the server answered.
 */
import { readFileSync } from 'node:fs';
import { hostname as osHostname, userInfo } from 'node:os';
import { gzipSync } from 'node:zlib';
import nodemailer from 'nodemailer';
import type { SendMailOptions, Transporter } from 'nodemailer';
import { runCommand, TriSentryError } from '@trisentry/shared';
import type { LogsentryConfig } from './config.js';
import { sanitizeHeaderValue } from './report.js';

/** A mail delivery failure. `responseCode`/`command`/`response` are the SMTP server's, when it answered. */
export class MailError extends TriSentryError {
  /** The SMTP reply code (e.g. 554), or the sendmail exit status; undefined when nothing answered. */
  readonly responseCode: number | undefined;
  /** The SMTP command that got the reply (`DATA`, `RCPT TO`, `AUTH PLAIN`, ...). */
  readonly command: string | undefined;
  /** The server's reply text. */
  readonly response: string | undefined;

  constructor(
    code: 'LS_SMTP_REJECTED' | 'LS_SMTP_UNREACHABLE',
    message: string,
    info: { responseCode?: number | undefined; command?: string | undefined; response?: string | undefined; cause?: unknown } = {},
  ) {
    super(code, message, { cause: info.cause });
    this.responseCode = info.responseCode;
    this.command = info.command;
    this.response = info.response;
  }
}

/** A report as the mailer takes it; the spool's entries fit this shape. */
export interface MailReport {
  readonly subject: string;
  /** Unicode text, or a byte string (one char per byte) when `bytes` is true. */
  readonly body: string;
  /**
   * true: `body` is a byte string and is sent as exactly those bytes (logsentry's reports, whose log
   * lines may hold any byte, as logcheck mails them), still declared `charset=utf-8`. Absent or false:
   * `body` is text, sent as its UTF-8 encoding (hostsentry's alerts, old spool entries).
   */
  readonly bytes?: boolean;
  /** `<id@host>`; keep it across retries so duplicates are recognisable. Default: nodemailer makes one. */
  readonly messageId?: string;
  /** The Date header, ISO 8601 (the time the report was made). Default: now. */
  readonly created?: string;
}

/** What the server said when it took the message. */
export interface MailReceipt {
  readonly messageId: string;
  /** The final reply of the server (`250 ...`); empty for sendmail. */
  readonly response: string;
}

/** Sends reports; close() once at the end of the run. */
export interface Mailer {
  /** Resolves when the server accepted the message (250 after DATA, or sendmail exited 0); else rejects with MailError. */
  send(report: MailReport): Promise<MailReceipt>;
  close(): void;
}

/** Settings beyond logsentry.yaml's `mail` section. */
export interface MailerOptions {
  /** This host's name (fully qualified when it can be): the EHLO name, the default sender's domain and the domain given to bare local recipients. */
  readonly host: string;
  /** The SMTP password (see {@link readSmtpPassword}); needed when mail.smtp.user is set. */
  readonly password?: string;
  /** Extra CA certificates (PEM) trusted for STARTTLS/TLS besides the system ones. */
  readonly ca?: string | Buffer;
  /** Connection, greeting and socket timeouts in ms. Default 30,000. */
  readonly timeoutMs?: number;
}

/** Reads the first line of the SMTP password file (mail.smtp.password_file). Throws MailError LS_SMTP_UNREACHABLE when unreadable. */
export function readSmtpPassword(path: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/, 1)[0] ?? '';
  } catch (e) {
    throw new MailError('LS_SMTP_UNREACHABLE', `cannot read the SMTP password file ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The host name for the subject and sender: report.subject.hostname when set, else this host's name,
 * fully qualified (`hostname --fqdn`, as logcheck with FQDN=1) or short. Falls back to os.hostname()
 * when the hostname program fails. Never contains control characters.
 */
export async function resolveHostName(subject: { readonly hostname: string; readonly fqdn: boolean }): Promise<string> {
  if (subject.hostname !== '') return sanitizeHeaderValue(subject.hostname);
  let name = osHostname();
  try {
    const r = await runCommand('hostname', [subject.fqdn ? '--fqdn' : '--short'], { timeoutMs: 5_000 });
    const out = r.stdout.trim();
    if (out !== '') name = out;
  } catch {
    // No hostname program, or no resolvable FQDN: the kernel's name is what `hostname` would print then.
    if (!subject.fqdn) name = name.split('.')[0] ?? name;
  }
  return sanitizeHeaderValue(name);
}

const UNREACHABLE = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Maps a nodemailer (or spawn) error to a MailError. */
export function toMailError(e: unknown, where: string): MailError {
  if (e instanceof MailError) return e;
  const err = (e ?? {}) as { code?: unknown; responseCode?: unknown; command?: unknown; response?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  const responseCode = typeof err.responseCode === 'number' ? err.responseCode : undefined;
  const command = typeof err.command === 'string' ? err.command : undefined;
  const response = typeof err.response === 'string' ? err.response.trim() : undefined;
  const text = typeof err.message === 'string' ? err.message : String(e);
  if (responseCode !== undefined) {
    const said = response ?? String(responseCode);
    return new MailError('LS_SMTP_REJECTED', `${where} refused the report${command ? ` at ${command}` : ''}: ${said}`, { responseCode, command, response, cause: e });
  }
  const exit = /exited with code (\d+)/.exec(text);
  if (code === 'ESENDMAIL' && exit && exit[1] !== '127') {
    return new MailError('LS_SMTP_REJECTED', `${where} refused the report: ${text}`, { responseCode: Number(exit[1]), cause: e });
  }
  if (UNREACHABLE.has(code) || code === 'ESENDMAIL') {
    return new MailError('LS_SMTP_UNREACHABLE', `${where} cannot be reached: ${text}${code ? ` (${code})` : ''}`, { cause: e });
  }
  // Anything else (a protocol oddity, an auth mechanism missing) is the server not taking the mail.
  return new MailError('LS_SMTP_REJECTED', `${where} did not take the report: ${text}${code ? ` (${code})` : ''}`, { command, response, cause: e });
}

/**
 * Builds the mailer for logsentry.yaml's `mail` section. SMTP: security none is plain SMTP (STARTTLS
 * is not attempted, so a broken opportunistic TLS cannot stop reports), starttls requires STARTTLS,
 * tls speaks TLS from the first byte; certificates are verified. sendmail: runs mail.sendmail_path
 * with `-i -f <from> <to...>`. The sender is mail.from, else `<running user>@<host>`. A bare local
 * recipient (`root`) is written `root@<host>` in the To header and over SMTP; sendmail gets it bare.
 */
export function createMailer(mail: LogsentryConfig['mail'], opts: MailerOptions): Mailer {
  const timeout = opts.timeoutMs ?? 30_000;
  let transporter: Transporter;
  let where: string;
  switch (mail.transport) {
    case 'smtp': {
      const smtp = mail.smtp;
      where = `SMTP server ${smtp.host}:${smtp.port}`;
      if (smtp.user !== '' && opts.password === undefined) {
        throw new MailError('LS_SMTP_REJECTED', `${where}: mail.smtp.user is set but no password was given`);
      }
      transporter = nodemailer.createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.security === 'tls',
        requireTLS: smtp.security === 'starttls',
        ignoreTLS: smtp.security === 'none',
        name: opts.host,
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        socketTimeout: timeout,
        ...(smtp.user !== '' ? { auth: { user: smtp.user, pass: opts.password ?? '' } } : {}),
        ...(opts.ca !== undefined ? { tls: { ca: opts.ca } } : {}),
      });
      break;
    }
    case 'sendmail':
      where = `sendmail (${mail.sendmail_path})`;
      transporter = nodemailer.createTransport({ sendmail: true, path: mail.sendmail_path, newline: 'unix' });
      break;
    default: {
      const never: never = mail.transport;
      throw new Error(`unknown mail transport ${String(never)}`);
    }
  }
  const domain = opts.host.replace(/[^A-Za-z0-9.-]/g, '') || 'localhost';
  const from = mail.from !== '' ? mail.from : `${safeUser()}@${domain}`;
  // A bare local name (`root`) is no address in a header or over SMTP: qualify it with this host, as
  // sendmail does for mail(1). sendmail itself gets the names as configured, so it delivers them locally.
  const qualified = mail.to.map((a) => (a.includes('@') ? a : `${a}@${domain}`));
  const envelope = { from, to: mail.transport === 'sendmail' ? [...mail.to] : qualified };

  return {
    async send(report: MailReport): Promise<MailReceipt> {
      const message: SendMailOptions = {
        from,
        to: qualified,
        envelope,
        // The subject is sanitised again here: a report may come from an older spool entry or another caller.
        subject: sanitizeHeaderValue(report.subject),
        headers: { 'Auto-Submitted': 'auto-generated' },
        ...(report.messageId !== undefined ? { messageId: report.messageId } : {}),
        ...(report.created !== undefined ? { date: new Date(report.created) } : {}),
        ...bodyParts(bodyContent(report), mail.attach, mail.encoding),
      };
      try {
        const info = (await transporter.sendMail(message)) as { messageId?: unknown; response?: unknown };
        return {
          messageId: typeof info.messageId === 'string' ? info.messageId : (report.messageId ?? ''),
          response: typeof info.response === 'string' ? info.response : '',
        };
      } catch (e) {
        throw toMailError(e, where);
      }
    },
    close(): void {
      transporter.close();
    },
  };
}

/** The running user's name for the default sender, restricted to characters safe in an address. */
function safeUser(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9._-]/g, '') || 'root';
  } catch {
    return 'root';
  }
}

/**
 * The body as nodemailer should take it: text as a string; a byte string as a Buffer of its bytes,
 * unless every byte is ASCII (then the string is the same bytes, and nodemailer may still pick 7bit,
 * which it never does for a Buffer).
 */
function bodyContent(report: MailReport): string | Buffer {
  // eslint-disable-next-line no-control-regex
  if (report.bytes !== true || /^[\x00-\x7f]*$/.test(report.body)) return report.body;
  return Buffer.from(report.body, 'latin1');
}

/**
 * The body as MAILASATTACH says: 0 in the text, 1 as a text attachment, 2 gzipped; each with
 * `Report attached` as the text, as logcheck writes. MIMEENCODING: quoted-printable and base64 are
 * forced; auto, 7bit and 8bit let nodemailer send 7bit when the text allows it and quoted-printable
 * (or base64) otherwise, because raw 8-bit or over-long lines are not legal on every server.
 * `body` is text, or a bytes report's bytes (see {@link bodyContent}), which nodemailer sends as they are.
 */
function bodyParts(body: string | Buffer, attach: LogsentryConfig['mail']['attach'], encoding: LogsentryConfig['mail']['encoding']): Partial<SendMailOptions> {
  const textEncoding = encoding === 'quoted-printable' || encoding === 'base64' ? { textEncoding: encoding } : {};
  switch (attach) {
    case 'none':
      return { text: body, ...textEncoding };
    case 'text':
      return {
        text: 'Report attached',
        ...textEncoding,
        attachments: [{ filename: 'logcheck_report', content: body, contentType: 'text/plain; charset=utf-8' }],
      };
    case 'gzip':
      return {
        text: 'Report attached',
        ...textEncoding,
        attachments: [{ filename: 'logcheck_report.gz', content: gzipSync(typeof body === 'string' ? Buffer.from(body, 'utf8') : body), contentType: 'application/x-gzip' }],
      };
    default: {
      const never: never = attach;
      throw new Error(`unknown attach mode ${String(never)}`);
    }
  }
}
