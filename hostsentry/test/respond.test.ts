// hostsentry's responses against real components: mail through a real SMTP server (smtp-server on
// loopback) with the rate limit holding the excess back into one later summary mail, and the mail
// server down (the anomaly is still logged, the failure too); every line one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { MemoryLog, createSyslog } from '@trisentry/shared';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHostsentryConfig, type HostsentryConfig } from '../src/config.js';
import type { Anomaly } from '../src/core/modules.js';
import { createMailSender, createResponder } from '../src/respond.js';

interface Mail {
  to: string[];
  raw: string;
}

async function smtp(): Promise<{ port: number; mails: Mail[]; close: () => Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.server.address() as AddressInfo).port, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The responses section of a real config file with mail over SMTP to `port`. */
function responses(port: number, rate = { limit: 2, period: '2s' }): HostsentryConfig['responses'] {
  const dir = mkdtempSync(join(tmpdir(), 'hs-respond-'));
  try {
    const file = join(dir, 'hostsentry.yaml');
    writeFileSync(
      file,
      `responses:\n  mail:\n    enabled: true\n    min_severity: medium\n    to: [admin@example.org]\n    from: hostsentry@example.org\n    rate_limit: ${rate.limit}\n    rate_period: ${rate.period}\n    transport: smtp\n    smtp: { host: 127.0.0.1, port: ${port} }\n`,
    );
    return checkHostsentryConfig(file).responses;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function anomaly(i: number, severity: Anomaly['severity'] = 'medium'): Anomaly {
  const address = `198.51.100.${i}`;
  return {
    module: 'NewSource',
    severity,
    user: 'alice',
    tty: 'pts/2',
    source: address,
    time: Date.UTC(2026, 10, 12, 3, 0, i),
    evidence: `first login from ${address}`,
    record: { kind: 'login', user: 'alice', tty: 'pts/2', host: address, address, time: Date.UTC(2026, 10, 12, 3, 0, i), pid: 100 + i, session: 0, origin: 'wtmp' },
  };
}

/** The text of a mail: headers dropped, quoted-printable soft breaks and escapes undone. */
function bodyOf(raw: string): string {
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  if (!/^Content-Transfer-Encoding: quoted-printable\r?$/im.test(raw)) return body;
  return body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

const waitFor = async (pred: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('anomalies are mailed through a real SMTP server, at most rate_limit per period, the rest in one summary', { timeout: 30_000 }, async () => {
  const srv = await smtp();
  const mem = new MemoryLog();
  const log = createSyslog({ ident: 'hostsentry', sinks: [{ kind: 'memory', store: mem }] });
  try {
    const cfg = responses(srv.port);
    const r = createResponder({ log, config: cfg, host: 'box.example.org', sendMail: createMailSender(cfg.mail, 'box.example.org') });
    for (let i = 1; i <= 5; i++) r.respond(anomaly(i));
    r.respond(anomaly(9, 'low')); // below min_severity: logged, not mailed
    await r.settle();
    assert.equal(srv.mails.length, 2, 'two mails at once, three held back');
    assert.match(srv.mails[0]!.raw, /^Subject: box\.example\.org hostsentry: NewSource alice from 198\.51\.100\.1\r?$/m);
    assert.match(srv.mails[0]!.raw, /^Auto-Submitted: auto-generated\r?$/m);
    assert.match(bodyOf(srv.mails[0]!.raw), /securityalert: hostsentry: NewSource: user alice on pts\/2 from 198\.51\.100\.1 at 2026-11-12T03:00:01Z/);
    assert.deepEqual(srv.mails[0]!.to, ['admin@example.org']);
    assert.equal(r.stats().mailHeld, 3);
    // After the period, one summary of the held three.
    await waitFor(() => srv.mails.length === 3, 6_000, 'the summary mail');
    await r.settle();
    const summary = bodyOf(srv.mails[2]!.raw);
    assert.match(srv.mails[2]!.raw, /^Subject: box\.example\.org hostsentry: 3 held-back anomalies\r?$/m);
    for (const i of [3, 4, 5]) assert.match(summary, new RegExp(`from 198\\.51\\.100\\.${i} at`));
    assert.doesNotMatch(summary, /198\.51\.100\.9/);
    assert.equal(r.stats().mailed, 5);
    assert.equal(mem.records.filter((x) => String(x.message).includes('hostsentry: NewSource')).length, 6, 'every anomaly logged, the low one too');
    await r.close();
  } finally {
    await log.close();
    await srv.close();
  }
});

test('with the mail server down the anomaly is still logged and the failure is reported; close sends what was held', { timeout: 30_000 }, async () => {
  const srv = await smtp();
  const port = srv.port;
  await srv.close(); // nothing listens there now
  const mem = new MemoryLog();
  const log = createSyslog({ ident: 'hostsentry', sinks: [{ kind: 'memory', store: mem }] });
  try {
    const cfg = responses(port, { limit: 1, period: '1h' });
    const r = createResponder({ log, config: cfg, host: 'box', sendMail: createMailSender(cfg.mail, 'box', { timeoutMs: 3_000 }) });
    r.respond(anomaly(1, 'high'));
    r.respond(anomaly(2, 'high'));
    await r.settle();
    const msgs = mem.records.map((x) => String(x.message));
    assert.ok(msgs.some((m) => /^attackalert: hostsentry: NewSource: user alice on pts\/2 from 198\.51\.100\.1 /.test(m)));
    assert.ok(msgs.some((m) => /^mail of 1 anomaly failed: SMTP server 127\.0\.0\.1:\d+ cannot be reached/.test(m)), msgs.join('\n'));
    assert.equal(r.stats().mailHeld, 1);
    await r.close(); // at stop the held one is tried too (and fails the same way)
    assert.equal(r.stats().mailFailed, 2);
    for (const m of msgs) assert.doesNotMatch(m, /\n/);
  } finally {
    await log.close();
  }
});
