import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerOptions } from 'smtp-server';
import type { LogsentryConfig } from '../src/config.js';
import { createMailer, MailError, readSmtpPassword, resolveHostName } from '../src/mail.js';
import { renderReport } from '../src/report.js';
import { deliverSpooled, pendingSpooled, spool } from '../src/spool.js';

type MailConfig = LogsentryConfig['mail'];

interface Received {
  readonly from: string;
  readonly to: string[];
  readonly raw: string;
  readonly secure: boolean;
  readonly user: string | undefined;
}

interface Server {
  readonly port: number;
  readonly received: Received[];
  /** While set, DATA is answered with this code. */
  rejectData: number | undefined;
  close(): Promise<void>;
}

async function startServer(opts: Partial<SMTPServerOptions> = {}): Promise<Server> {
  const received: Received[] = [];
  const state: { rejectData: number | undefined } = { rejectData: undefined };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    ...opts,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (state.rejectData !== undefined) {
          const err = Object.assign(new Error('5.7.1 message refused by policy'), { responseCode: state.rejectData });
          callback(err);
          return;
        }
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    get rejectData() {
      return state.rejectData;
    },
    set rejectData(v) {
      state.rejectData = v;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function mailConfig(port: number, over: Partial<MailConfig> = {}, smtp: Partial<MailConfig['smtp']> = {}): MailConfig {
  return {
    to: ['admin@example.org', 'root'],
    from: 'logsentry@myhost.example',
    attach: 'none',
    encoding: 'auto',
    transport: 'smtp',
    sendmail_path: '/usr/sbin/sendmail',
    smtp: { host: '127.0.0.1', port, security: 'none', user: '', password_file: '', ...smtp },
    ...over,
  };
}

/** Splits a received message into unfolded headers (name lower-cased, in order) and its body. */
function parse(raw: string): { headers: Array<[string, string]>; body: string } {
  const cut = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, cut).replace(/\r\n[ \t]+/g, ' ');
  const headers = head.split('\r\n').map((l): [string, string] => {
    const i = l.indexOf(':');
    return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
  });
  return { headers, body: raw.slice(cut + 4) };
}

function header(headers: Array<[string, string]>, name: string): string | undefined {
  return headers.find(([k]) => k === name)?.[1];
}

/** Decodes a body by its Content-Transfer-Encoding (7bit, quoted-printable, base64). */
function decodeBody(headers: Array<[string, string]>, body: string): string {
  const cte = (header(headers, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  if (cte === 'base64') return Buffer.from(body, 'base64').toString('utf8');
  if (cte === 'quoted-printable') {
    const soft = body.replace(/=\r\n/g, '');
    const bytes: number[] = [];
    for (let i = 0; i < soft.length; i++) {
      if (soft[i] === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
        bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
        i += 2;
      } else bytes.push(soft.charCodeAt(i));
    }
    return Buffer.from(bytes).toString('utf8');
  }
  return body;
}

const REPORT_BODY = 'System Events\n=-=-=-=-=-=-=\nJan  1 00:00:05 host foo: something ünïcode\n\n';

test('plain SMTP: subject, Auto-Submitted, From, To, envelope and the body arrive as rendered', async () => {
  const server = await startServer();
  const mailer = createMailer(mailConfig(server.port), { host: 'myhost.example' });
  try {
    const receipt = await mailer.send({ subject: 'myhost 2024-01-02 03:04 +0000 System Events', body: REPORT_BODY, messageId: '<logsentry.1.abc@myhost.example>', created: '2024-01-02T03:04:05.000Z' });
    assert.match(receipt.response, /^250 /);
    assert.equal(server.received.length, 1);
    const m = server.received[0]!;
    assert.equal(m.from, 'logsentry@myhost.example');
    assert.deepEqual(m.to, ['admin@example.org', 'root@myhost.example']);
    assert.equal(m.secure, false);
    const { headers, body } = parse(m.raw);
    assert.equal(header(headers, 'subject'), 'myhost 2024-01-02 03:04 +0000 System Events');
    assert.equal(header(headers, 'auto-submitted'), 'auto-generated');
    assert.equal(header(headers, 'from'), 'logsentry@myhost.example');
    assert.equal(header(headers, 'to'), 'admin@example.org, root@myhost.example');
    assert.equal(header(headers, 'message-id'), '<logsentry.1.abc@myhost.example>');
    assert.equal(header(headers, 'date'), 'Tue, 02 Jan 2024 03:04:05 +0000');
    assert.match(header(headers, 'content-type') ?? '', /^text\/plain; charset=utf-8$/i);
    assert.equal(decodeBody(headers, body), REPORT_BODY.replace(/\n/g, '\r\n'));
  } finally {
    mailer.close();
    await server.close();
  }
});

test('STARTTLS with a self-signed certificate and AUTH PLAIN; a wrong password is LS_SMTP_REJECTED 535', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-mail-tls-'));
  try {
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    } catch {
      return t.skip('needs openssl to make a self-signed certificate');
    }
    const key = readFileSync(join(dir, 'key.pem'));
    const cert = readFileSync(join(dir, 'cert.pem'));
    writeFileSync(join(dir, 'password'), 's3cret pass\nignored second line\n');
    const server = await startServer({
      key,
      cert,
      disabledCommands: [],
      authMethods: ['PLAIN'],
      authOptional: false,
      onAuth(auth, session, callback) {
        // AUTH only over the upgraded connection: a password must never cross in the clear.
        if (!session.secure) return callback(new Error('TLS first'));
        if (auth.method === 'PLAIN' && auth.username === 'reporter' && auth.password === 's3cret pass') return callback(null, { user: 'reporter' });
        return callback(Object.assign(new Error('5.7.8 bad credentials'), { responseCode: 535 }));
      },
    });
    const cfg = mailConfig(server.port, {}, { security: 'starttls', user: 'reporter', password_file: join(dir, 'password') });
    const good = createMailer(cfg, { host: 'myhost', password: readSmtpPassword(join(dir, 'password')), ca: cert });
    const bad = createMailer(cfg, { host: 'myhost', password: 'wrong', ca: cert });
    // Without our CA the self-signed certificate must be refused: certificates are verified.
    const untrusting = createMailer(cfg, { host: 'myhost', password: 's3cret pass' });
    try {
      await good.send({ subject: 's', body: 'b\n' });
      assert.equal(server.received.length, 1);
      assert.equal(server.received[0]!.secure, true);
      assert.equal(server.received[0]!.user, 'reporter');
      await assert.rejects(bad.send({ subject: 's', body: 'b\n' }), (e: unknown) => {
        assert.ok(e instanceof MailError);
        assert.equal(e.code, 'LS_SMTP_REJECTED');
        assert.equal(e.responseCode, 535);
        assert.match(e.command ?? '', /AUTH PLAIN/);
        return true;
      });
      await assert.rejects(untrusting.send({ subject: 's', body: 'b\n' }), (e: unknown) => e instanceof MailError && e.code === 'LS_SMTP_UNREACHABLE');
      assert.equal(server.received.length, 1);
    } finally {
      good.close();
      bad.close();
      untrusting.close();
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('server down: LS_SMTP_UNREACHABLE and the report stays spooled; back up: delivered exactly once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-mail-spool-'));
  const probe = await startServer();
  const port = probe.port;
  await probe.close();
  try {
    const down = createMailer(mailConfig(port), { host: 'myhost', timeoutMs: 5_000 });
    const entry = spool(dir, { subject: 'myhost d Security Alerts', body: 'A\n' }, { host: 'myhost', commit: { offsets: { '/var/log/syslog': 42 } } });
    await assert.rejects(deliverSpooled(dir, (r) => down.send(r)), (e: unknown) => {
      assert.ok(e instanceof MailError);
      assert.equal(e.code, 'LS_SMTP_UNREACHABLE');
      assert.equal(e.exitCode, 75);
      assert.equal(e.responseCode, undefined);
      return true;
    });
    down.close();
    assert.deepEqual(pendingSpooled(dir).entries.map((e) => e.id), [entry.id]);

    const server = await new Promise<Server>((resolve, reject) => {
      // Same port again, so the same config reaches it.
      startServerOn(port).then(resolve, reject);
    });
    const up = createMailer(mailConfig(port), { host: 'myhost' });
    try {
      const first = await deliverSpooled(dir, (r) => up.send(r));
      assert.deepEqual(first.delivered, [entry.id]);
      const again = await deliverSpooled(dir, (r) => up.send(r));
      assert.deepEqual(again.delivered, []);
      assert.equal(server.received.length, 1);
      assert.equal(header(parse(server.received[0]!.raw).headers, 'message-id'), entry.messageId);
    } finally {
      up.close();
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A plain server on a given port (the one a closed server had). */
async function startServerOn(port: number): Promise<Server> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8'), secure: session.secure, user: undefined });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { port, received, rejectData: undefined, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test('5xx on DATA: LS_SMTP_REJECTED with code and command, the report stays; accepted later exactly once, oldest first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-mail-reject-'));
  const server = await startServer();
  const mailer = createMailer(mailConfig(server.port), { host: 'myhost' });
  try {
    const a = spool(dir, { subject: 'first', body: 'one\n' });
    const b = spool(dir, { subject: 'second', body: 'two\n' });
    server.rejectData = 554;
    await assert.rejects(deliverSpooled(dir, (r) => mailer.send(r)), (e: unknown) => {
      assert.ok(e instanceof MailError);
      assert.equal(e.code, 'LS_SMTP_REJECTED');
      assert.equal(e.exitCode, 69);
      assert.equal(e.responseCode, 554);
      assert.equal(e.command, 'DATA');
      assert.match(e.message, /554/);
      return true;
    });
    assert.deepEqual(pendingSpooled(dir).entries.map((e) => e.id), [a.id, b.id]);
    server.rejectData = undefined;
    const res = await deliverSpooled(dir, (r) => mailer.send(r));
    assert.deepEqual(res.delivered, [a.id, b.id]);
    assert.deepEqual(server.received.map((m) => header(parse(m.raw).headers, 'subject')), ['first', 'second']);
    assert.deepEqual((await deliverSpooled(dir, (r) => mailer.send(r))).delivered, []);
    assert.equal(server.received.length, 2);
  } finally {
    mailer.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hostile host name or subject with CR/LF never adds a header', async () => {
  const server = await startServer();
  const mailer = createMailer(mailConfig(server.port), { host: 'myhost' });
  try {
    const r = renderReport({
      sections: [{ kind: 'attack', title: 'Security Alerts', lines: ['x\r\nBcc: evil@example.org'] }],
      host: 'h\r\nBcc: evil@example.org\r\nX-Injected: yes',
      date: 'now\nX-Injected2: yes',
      reboot: false,
      intro: false,
      maxSize: 4096,
      subjectWords: { attack: 'Security Alerts', security: 'Security Events', events: 'System Events' },
    });
    assert.ok(r);
    await mailer.send(r);
    // Straight to the mailer too: it sanitises again.
    await mailer.send({ subject: 'raw\r\nBcc: evil@example.org\nX-Injected3: yes\r', body: 'b\n' });
    assert.equal(server.received.length, 2);
    for (const m of server.received) {
      assert.deepEqual(m.to, ['admin@example.org', 'root@myhost']);
      const { headers } = parse(m.raw);
      assert.deepEqual(headers.map(([k]) => k).sort(), ['auto-submitted', 'content-transfer-encoding', 'content-type', 'date', 'from', 'message-id', 'mime-version', 'subject', 'to']);
    }
    assert.equal(header(parse(server.received[0]!.raw).headers, 'subject'), 'h#015#012Bcc: evil@example.org#015#012X-Injected: yes now#012X-Injected2: yes Security Alerts');
    assert.equal(header(parse(server.received[1]!.raw).headers, 'subject'), 'raw#015#012Bcc: evil@example.org#012X-Injected3: yes#015');
  } finally {
    mailer.close();
    await server.close();
  }
});

test('attachments as MAILASATTACH 1 and 2: "Report attached" and the report as text or gzip', async () => {
  const server = await startServer();
  const text = createMailer(mailConfig(server.port, { attach: 'text' }), { host: 'myhost' });
  const gz = createMailer(mailConfig(server.port, { attach: 'gzip' }), { host: 'myhost' });
  try {
    await text.send({ subject: 's', body: REPORT_BODY });
    await gz.send({ subject: 's', body: REPORT_BODY });
    const [m1, m2] = server.received;
    assert.match(m1!.raw, /Report attached/);
    assert.match(m1!.raw, /filename=logcheck_report\r\n/);
    assert.match(m2!.raw, /Content-Type: application\/x-gzip; name=logcheck_report\.gz/);
    const b64 = /filename=logcheck_report\.gz\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/.exec(m2!.raw)?.[1] ?? '';
    assert.equal(gunzipSync(Buffer.from(b64.replace(/\r\n/g, ''), 'base64')).toString('utf8'), REPORT_BODY);
  } finally {
    text.close();
    gz.close();
    await server.close();
  }
});

test('sendmail transport: the message on stdin with -i -f; a failing sendmail is REJECTED, a missing one UNREACHABLE', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-mail-sendmail-'));
  try {
    const fake = join(dir, 'sendmail');
    writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/args\ncat > ${dir}/message\nexit \${FAKE_EXIT:-0}\n`);
    chmodSync(fake, 0o755);
    const mailer = createMailer(mailConfig(0, { transport: 'sendmail', sendmail_path: fake }), { host: 'myhost' });
    await mailer.send({ subject: 'via sendmail', body: REPORT_BODY });
    const args = readFileSync(join(dir, 'args'), 'utf8').trim().split('\n');
    assert.ok(args.includes('-i'));
    assert.ok(args.includes('logsentry@myhost.example'));
    assert.ok(args.includes('admin@example.org') && args.includes('root'));
    const { headers, body } = parse(readFileSync(join(dir, 'message'), 'utf8').replace(/\r?\n/g, '\r\n'));
    assert.equal(header(headers, 'subject'), 'via sendmail');
    assert.equal(header(headers, 'auto-submitted'), 'auto-generated');
    assert.equal(header(headers, 'to'), 'admin@example.org, root@myhost');
    assert.equal(decodeBody(headers, body), REPORT_BODY.replace(/\n/g, '\r\n'));

    writeFileSync(fake, `#!/bin/sh\ncat > /dev/null\nexit 75\n`);
    await assert.rejects(mailer.send({ subject: 's', body: 'b\n' }), (e: unknown) => e instanceof MailError && e.code === 'LS_SMTP_REJECTED' && e.responseCode === 75);
    const missing = createMailer(mailConfig(0, { transport: 'sendmail', sendmail_path: join(dir, 'nope') }), { host: 'myhost' });
    await assert.rejects(missing.send({ subject: 's', body: 'b\n' }), (e: unknown) => e instanceof MailError && e.code === 'LS_SMTP_UNREACHABLE');
    mailer.close();
    missing.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resolveHostName: the configured name (sanitised) or this host\'s', async () => {
  assert.equal(await resolveHostName({ hostname: 'web1\r\nBcc: x', fqdn: true }), 'web1#015#012Bcc: x');
  const short = await resolveHostName({ hostname: '', fqdn: false });
  assert.ok(short.length > 0 && !short.includes('.'));
  if (existsSync('/usr/bin/hostname') || existsSync('/bin/hostname')) {
    assert.equal(short, execFileSync('hostname', ['--short'], { encoding: 'utf8' }).trim());
  }
});
