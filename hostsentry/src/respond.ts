/**
 * What hostsentry does with an anomaly: it is always logged (ident hostsentry, PortSentry's
 * attackalert:/securityalert: tags); optionally mailed (rate-limited, the excess summed up in the next
 * mail), given to a command (argv-safe template, $TARGET$ = the parsed source address only), and handed
 * to portsentry's block engine. Nothing here throws at the caller: every failure is logged and counted.
 */
import { hostname as osHostname } from 'node:os';
import { createMailer, readSmtpPassword, type LogsentryConfig } from '@trisentry/logsentry';
import { escapeControl, fillCommand, parseCommandTemplate, runFilled, tryParseAddress, type CommandTemplate, type Syslog } from '@trisentry/shared';
import type { HostsentryConfig, Severity } from './config.js';
import { formatAnomaly, type Anomaly } from './core/modules.js';

const RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2 };

/** True when `s` is at least `min`. */
export function atLeast(s: Severity, min: Severity): boolean {
  return RANK[s] >= RANK[min];
}

/** One mail as the responder hands it to a mailer. */
export interface AnomalyMail {
  readonly subject: string;
  readonly body: string;
}

/** Sends one mail; rejects with a message on failure. */
export type SendMail = (mail: AnomalyMail) => Promise<void>;

/** Asks portsentry to block an address; rejects with a message on failure. */
export type HandOff = (address: string, reason: string) => Promise<void>;

/** What the responder did so far. */
export interface ResponderStats {
  logged: number;
  mailed: number;
  mailFailed: number;
  /** Anomalies held back by the mail rate limit and not yet sent in a summary. */
  mailHeld: number;
  commands: number;
  commandFailed: number;
  handedOff: number;
  handOffFailed: number;
}

/** Options of {@link createResponder}. */
export interface ResponderOptions {
  readonly log: Syslog;
  readonly config: HostsentryConfig['responses'];
  /** The mailer (built from responses.mail); required when mail is enabled. */
  readonly sendMail?: SendMail;
  /** The portsentry hand-off; required when responses.portsentry is enabled. */
  readonly handOff?: HandOff;
  /** Host name for mail subjects. Default os.hostname(). */
  readonly host?: string;
  /** Wall clock in ms for the mail rate limit. Default Date.now. */
  readonly clock?: () => number;
}

/** Answers anomalies; `settle()` waits for the mails and commands under way. */
export interface Responder {
  respond(a: Anomaly): void;
  stats(): ResponderStats;
  settle(): Promise<void>;
  /** Sends what the rate limit held back (at stop), then settles. */
  close(): Promise<void>;
}

/** Most anomaly lines in one held-back summary mail; the rest are counted. */
const SUMMARY_LINES = 200;

/** Builds the responder. Throws ConfigError for a bad command template (checked at start, not per anomaly). */
export function createResponder(opts: ResponderOptions): Responder {
  const { log, config } = opts;
  const clock = opts.clock ?? Date.now;
  const host = escapeControl(opts.host ?? osHostname());
  const cmdTpl: CommandTemplate | undefined = config.command.template !== '' ? parseCommandTemplate(config.command.template, { key: 'responses.command.template' }) : undefined;
  const stats: ResponderStats = { logged: 0, mailed: 0, mailFailed: 0, mailHeld: 0, commands: 0, commandFailed: 0, handedOff: 0, handOffFailed: 0 };
  const pending = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };

  // Mail rate limit: the send times within the last period; anomalies over the limit wait in `held`.
  const sentAt: number[] = [];
  const held: string[] = [];
  let heldCount = 0;
  let heldTimer: NodeJS.Timeout | undefined;
  const periodMs = config.mail.rate_period * 1000;

  const sendNow = (mail: AnomalyMail, anomalies: number): void => {
    const send = opts.sendMail;
    if (send === undefined) return;
    sentAt.push(clock());
    track(
      send(mail).then(
        () => {
          stats.mailed += anomalies;
        },
        (e: unknown) => {
          stats.mailFailed += anomalies;
          log.err(`mail of ${anomalies} anomal${anomalies === 1 ? 'y' : 'ies'} failed: ${e instanceof Error ? e.message : String(e)}`);
        },
      ),
    );
  };

  const roomNow = (): boolean => {
    const now = clock();
    while (sentAt.length > 0 && sentAt[0]! <= now - periodMs) sentAt.shift();
    return sentAt.length < config.mail.rate_limit;
  };

  const flushHeld = (): void => {
    heldTimer = undefined;
    if (heldCount === 0) return;
    if (!roomNow()) return scheduleHeld();
    const lines = held.splice(0);
    const n = heldCount;
    heldCount = 0;
    stats.mailHeld = 0;
    const more = n - lines.length;
    const body = `${n} anomal${n === 1 ? 'y was' : 'ies were'} held back by the mail rate limit (${config.mail.rate_limit} mails per ${config.mail.rate_period} s):\n\n${lines.join('\n')}\n${more > 0 ? `\n... and ${more} more (see the system log)\n` : ''}`;
    sendNow({ subject: `${host} hostsentry: ${n} held-back anomal${n === 1 ? 'y' : 'ies'}`, body }, n);
  };

  const scheduleHeld = (): void => {
    if (heldTimer !== undefined) return;
    const wait = sentAt.length > 0 ? Math.max(1000, sentAt[0]! + periodMs - clock() + 10) : 1000;
    heldTimer = setTimeout(flushHeld, wait);
    heldTimer.unref();
  };

  const mail = (a: Anomaly, line: string): void => {
    if (heldCount === 0 && roomNow()) {
      sendNow({ subject: `${host} hostsentry: ${a.module} ${escapeControl(a.user)}${a.source !== '' ? ` from ${escapeControl(a.source)}` : ''}`, body: `${line}\n` }, 1);
      return;
    }
    heldCount++;
    stats.mailHeld = heldCount;
    if (held.length < SUMMARY_LINES) held.push(line);
    scheduleHeld();
  };

  const command = (a: Anomaly, address: NonNullable<ReturnType<typeof tryParseAddress>>): void => {
    if (cmdTpl === undefined) return;
    let filled;
    try {
      filled = fillCommand(cmdTpl, { target: address });
    } catch (e) {
      stats.commandFailed++;
      log.err(`command not run for ${address.toString()}: ${(e as Error).message}`);
      return;
    }
    const cmd = filled;
    track(
      runFilled(cmd, { timeoutMs: config.command.timeout * 1000 }).then(
        () => {
          stats.commands++;
          log.notice(`External command run for ${a.module} anomaly of user ${a.user} from ${address.toString()} using command: "${cmd.display}"`);
        },
        (e: unknown) => {
          stats.commandFailed++;
          log.err(`command "${cmd.display}" failed: ${e instanceof Error ? e.message : String(e)}`);
        },
      ),
    );
  };

  const handOff = (a: Anomaly, address: string): void => {
    const h = opts.handOff;
    if (h === undefined) return;
    track(
      h(address, `hostsentry ${a.module}: user ${a.user}`).then(
        () => {
          stats.handedOff++;
          log.notice(`${address} handed to portsentry for blocking (${a.module}, user ${a.user})`);
        },
        (e: unknown) => {
          stats.handOffFailed++;
          log.err(`could not hand ${address} to portsentry: ${e instanceof Error ? e.message : String(e)}`);
        },
      ),
    );
  };

  return {
    respond(a: Anomaly): void {
      const line = formatAnomaly(a);
      log.log(a.severity === 'high' ? 'warning' : 'notice', line);
      stats.logged++;
      if (config.mail.enabled && atLeast(a.severity, config.mail.min_severity)) mail(a, line);
      // Only an address that parses goes further: a host name from wtmp is attacker text.
      const address = a.record !== undefined ? tryParseAddress(a.record.address ?? a.record.host)?.unmapped() : undefined;
      if (address === undefined) return;
      if (cmdTpl !== undefined && atLeast(a.severity, config.command.min_severity)) command(a, address);
      if (config.portsentry.enabled && atLeast(a.severity, config.portsentry.min_severity)) handOff(a, address.toString());
    },
    stats: () => ({ ...stats }),
    async settle(): Promise<void> {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    async close(): Promise<void> {
      if (heldTimer !== undefined) clearTimeout(heldTimer);
      heldTimer = undefined;
      if (heldCount > 0) {
        // At stop the limit yields: a summary now beats anomalies never mailed.
        sentAt.length = 0;
        flushHeld();
      }
      await this.settle();
    },
  };
}

/**
 * A mail sender for `responses.mail`, through logsentry's mailer (SMTP with STARTTLS/TLS and auth, or
 * the local sendmail; `Auto-Submitted: auto-generated`; header values sanitised). One connection per
 * mail: anomalies are rare and a held connection would only go stale.
 */
export function createMailSender(mail: HostsentryConfig['responses']['mail'], host: string, opts: { readonly timeoutMs?: number } = {}): SendMail {
  const settings: LogsentryConfig['mail'] = { ...mail, attach: 'none', encoding: 'auto' };
  return async (m) => {
    const password = mail.smtp.password_file !== '' ? readSmtpPassword(mail.smtp.password_file) : undefined;
    const mailer = createMailer(settings, { host, ...(password !== undefined ? { password } : {}), ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
    try {
      await mailer.send(m);
    } finally {
      mailer.close();
    }
  };
}
