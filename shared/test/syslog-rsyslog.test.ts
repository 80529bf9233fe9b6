// End-to-end: our sinks against a real rsyslogd started by the test with its own config (imuxsock on
// a socket in a temp dir, imudp and imtcp on loopback ports, omfile actions with fixed templates), then
// an outage: the daemon is killed mid-stream, logging goes on, the daemon comes back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { createSyslog } from '../src/syslog/writer.js';
import { format3164, format5424, formatLocal } from '../src/syslog/format.js';
import type { SyslogMessage } from '../src/syslog/format.js';
import { parseLogLine, toTraditional } from '../src/syslog/parse.js';
import type { Syslog } from '../src/syslog/writer.js';

const RSYSLOGD = '/usr/sbin/rsyslogd';
const skipReason = existsSync(RSYSLOGD) ? undefined : `needs ${RSYSLOGD} (apt-get install rsyslog)`;
const LOCALHOST = 'testhost';

async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'tcp') {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    return port;
  }
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function lines(file: string): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

describe('syslog against a real rsyslogd', { skip: skipReason, timeout: 120_000 }, () => {
  let dir = '';
  let sock = '';
  let udpPort = 0;
  let tcpPort = 0;
  let conf = '';
  let child: ChildProcess | undefined;
  let stderrText = '';
  const loggers: Syslog[] = [];

  const file = (name: string): string => join(dir, name);

  async function start(): Promise<void> {
    rmSync(file('rsyslogd.pid'), { force: true });
    stderrText = '';
    // TZ pinned so rsyslog's reading of 3164 timestamps (which carry no zone) is known.
    const c = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', file('rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
    child = c;
    c.stdout?.on('data', (d: Buffer) => (stderrText += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (stderrText += d.toString()));
    c.on('error', (e) => (stderrText += String(e)));
    await until(`rsyslogd to listen (output so far: ${stderrText})`, () => existsSync(sock));
    for (let i = 0; i < 200 && !(await canConnect(tcpPort)); i++) await sleep(25);
    assert.ok(await canConnect(tcpPort), `rsyslogd imtcp not listening: ${stderrText}`);
  }

  async function stop(signal: NodeJS.Signals): Promise<void> {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trisentry-rsyslog-'));
    mkdirSync(file('work'));
    sock = file('sock/log');
    udpPort = await freePort('udp');
    tcpPort = await freePort('tcp');
    conf = file('rsyslog.conf');
    const rules = ['unix', 'udp', 'tcp']
      .map(
        (r) => `ruleset(name="${r}") {
  action(type="omfile" file="${file(`${r}.raw`)}" template="raw")
  action(type="omfile" file="${file(`${r}.trad`)}" template="RSYSLOG_TraditionalFileFormat")
  action(type="omfile" file="${file(`${r}.p23`)}" template="RSYSLOG_SyslogProtocol23Format")
}`,
      )
      .join('\n');
    writeFileSync(
      conf,
      `global(workDirectory="${file('work')}" localHostname="${LOCALHOST}")
module(load="imuxsock" SysSock.Use="off")
module(load="imudp")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\\n")
${rules}
# IgnoreTimestamp off + the regular parser: keep the timestamp we sent, so the files are predictable.
input(type="imuxsock" Socket="${sock}" CreatePath="on" IgnoreTimestamp="off" UseSpecialParser="off" RateLimit.Interval="0" ruleset="unix")
input(type="imudp" address="127.0.0.1" port="${udpPort}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="${tcpPort}" ruleset="tcp")
`,
    );
    await start();
  });

  after(async () => {
    for (const l of loggers) await l.close(200).catch(() => undefined);
    await stop('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // An hour ago, whole second + 42 ms: the year inference of 3164 lines (reference: now) is exact.
  const T = Math.floor(Date.now() / 1000) * 1000 - 3_600_000 + 42;
  const base = { ident: 'portsentry', pid: 4242, hostname: 'gw1', clock: () => T, retryMinMs: 50, retryMaxMs: 200, onWarning: () => {} } as const;
  const record = (message: string, severity: SyslogMessage['severity'] = 'notice'): SyslogMessage => ({
    time: T,
    facility: 'daemon',
    severity,
    ident: 'portsentry',
    pid: 4242,
    hostname: 'gw1',
    message,
  });
  const tricky = ['attack from 198.18.0.7: SYN scan', 'multi\nline\twith tabs # and "quotes" [brackets]', 'ünïcödé ✓ \u001b[31mred\u001b[0m'];

  test('unix sink: byte-exact in the file, traditional form as rsyslog renders it, parses back', async () => {
    const log = createSyslog({ ...base, tz: 0, sinks: [`unix:${sock}`] });
    loggers.push(log);
    for (const m of tricky) log.notice(m);
    await log.flush(2000);
    const expected = tricky.map((m) => formatLocal(record(m), { tz: 0, maxBytes: 8192 }));
    const raw = await until('unix.raw', () => (lines(file('unix.raw')).length >= 3 ? lines(file('unix.raw')) : undefined));
    assert.deepEqual(raw, expected);
    const trad = await until('unix.trad', () => (lines(file('unix.trad')).length >= 3 ? lines(file('unix.trad')) : undefined));
    for (let i = 0; i < tricky.length; i++) {
      const sent = parseLogLine(expected[i]!, { refTime: Date.now(), tz: 0 });
      assert.equal(sent.format, 'rfc3164');
      assert.equal(toTraditional(sent, { host: LOCALHOST }), trad[i], 'our traditional rendering equals rsyslog’s');
      const back = parseLogLine(trad[i]!, { refTime: Date.now(), tz: 0 });
      assert.equal(back.format, 'rfc3164');
      assert.equal(back.time, T - 42, '3164 has whole seconds');
      assert.equal(back.host, LOCALHOST);
      assert.equal(back.program, 'portsentry');
      assert.equal(back.pid, 4242);
      assert.equal(back.message, sent.message);
      assert.doesNotMatch(back.message, /[\x00-\x1f]/);
    }
    assert.equal(log.stats().sent, 3);
  });

  test('udp sink: RFC 3164 and RFC 5424 arrive byte-exact and parse back', async () => {
    const u3 = createSyslog({ ...base, tz: 0, sinks: [`udp://127.0.0.1:${udpPort}`] });
    const u5 = createSyslog({ ...base, tz: 60, msgid: 'SCAN', sinks: [`udp://127.0.0.1:${udpPort}?format=5424`] });
    loggers.push(u3, u5);
    u3.warning(tricky[0]!);
    await until('first udp line', () => lines(file('udp.raw')).length >= 1);
    u5.warning(tricky[1]!);
    await until('second udp line', () => lines(file('udp.raw')).length >= 2);
    const l3 = format3164(record(tricky[0]!, 'warning'), { tz: 0, maxBytes: 8192 });
    const l5 = format5424({ ...record(tricky[1]!, 'warning'), msgid: 'SCAN' }, { tz: 60, maxBytes: 8192 });
    assert.deepEqual(lines(file('udp.raw')), [l3, l5]);
    const trad = await until('udp.trad', () => (lines(file('udp.trad')).length >= 2 ? lines(file('udp.trad')) : undefined));
    assert.equal(trad[0], l3.replace(/^<28>/, ''), 'a 3164 line is stored as sent, minus PRI');
    const p23 = await until('udp.p23', () => (lines(file('udp.p23')).length >= 2 ? lines(file('udp.p23')) : undefined));
    assert.equal(p23[1], l5, 'a 5424 message is stored exactly as sent');
    const back = parseLogLine(p23[1]!);
    assert.equal(back.format, 'rfc5424');
    assert.equal(back.time, T, '5424 keeps milliseconds');
    assert.equal(back.utcOffsetMin, 60);
    assert.equal(back.host, 'gw1');
    assert.equal(back.program, 'portsentry');
    assert.equal(back.pid, 4242);
    assert.equal(back.msgid, 'SCAN');
    assert.equal(back.facility, 3);
    assert.equal(back.severity, 4);
    assert.equal(back.message, 'multi#012line#011with tabs # and "quotes" [brackets]');
    // rsyslog renders the 5424 message traditionally with the tag lacking its colon; the fields agree.
    const t5 = parseLogLine(trad[1]!, { refTime: Date.now(), tz: 60 });
    assert.equal(t5.time, T - 42);
    assert.equal(t5.host, 'gw1');
    assert.ok(trad[1]!.endsWith(` ${back.message}`));
    assert.equal(toTraditional(back), `${trad[1]!.slice(0, 15)} gw1 portsentry[4242]: ${back.message}`);
  });

  test('tcp sink: newline and octet-counted framing arrive byte-exact', async () => {
    const tn = createSyslog({ ...base, tz: 0, sinks: [`tcp://127.0.0.1:${tcpPort}`] });
    loggers.push(tn);
    tn.err(tricky[2]!);
    await until('first tcp line', () => lines(file('tcp.raw')).length >= 1);
    const to = createSyslog({ ...base, tz: -300, sinks: [`tcp://127.0.0.1:${tcpPort}?format=5424&framing=octet-counting`] });
    loggers.push(to);
    to.err(tricky[1]!);
    to.err(tricky[0]!);
    await until('tcp lines', () => lines(file('tcp.raw')).length >= 3);
    assert.deepEqual(lines(file('tcp.raw')), [
      format3164(record(tricky[2]!, 'err'), { tz: 0, maxBytes: 8192 }),
      format5424(record(tricky[1]!, 'err'), { tz: -300, maxBytes: 8192 }),
      format5424(record(tricky[0]!, 'err'), { tz: -300, maxBytes: 8192 }),
    ]);
    const p23 = lines(file('tcp.p23'));
    const back = parseLogLine(p23[2]!);
    assert.equal(back.time, T);
    assert.equal(back.message, tricky[0]);
    assert.equal(back.utcOffsetMin, -300);
  });

  test('daemon killed mid-stream: no block, no crash, bounded buffer, drained in order with one loss report', async () => {
    const opts = { ...base, pid: 777, tz: 0, bufferSize: 50 } as const;
    const ux = createSyslog({ ...opts, sinks: [`unix:${sock}`] });
    const tc = createSyslog({ ...opts, sinks: [`tcp://127.0.0.1:${tcpPort}`] });
    loggers.push(ux, tc);
    const mine = (f: string): string[] => lines(file(f)).filter((l) => l.includes('portsentry[777]:'));
    const both = (m: string): void => {
      ux.info(m);
      tc.info(m);
    };
    // Meanwhile a UDP stream runs across the kill and the restart: ICMP errors must never escape.
    const ud = createSyslog({ ...opts, pid: 778, sinks: [`udp://127.0.0.1:${udpPort}`] });
    loggers.push(ud);
    let ticks = 0;
    const stream = setInterval(() => ud.info(`tick-${++ticks}`), 3);
    for (let i = 1; i <= 5; i++) both(`before-${i}`);
    await until('before lines', () => mine('unix.raw').length === 5 && mine('tcp.raw').length === 5);

    await stop('SIGKILL');
    // TCP notices the peer's FIN asynchronously; wait for that (what is written before is lost unseen).
    await until('tcp sink to notice', () => !tc.stats().sinks[0]!.up);

    const t0 = performance.now();
    for (let i = 1; i <= 120; i++) both(`during-${i}`);
    const took = performance.now() - t0;
    assert.ok(took < 500, `240 log calls while the daemon is down took ${took.toFixed(0)} ms`);
    await sleep(300); // a few retries against the dead daemon
    for (const l of [ux, tc]) {
      const s = l.stats();
      assert.equal(s.buffered, 50, `${s.sinks[0]!.target} keeps bufferSize messages`);
      assert.equal(s.dropped, 70, `${s.sinks[0]!.target} counts the oldest it dropped`);
      assert.equal(s.sinks[0]!.up, false);
    }

    await start();
    const report = (target: string): string => `syslog: 70 messages lost while ${target} was unavailable`;
    const wantTail = [...Array.from({ length: 50 }, (_, i) => `during-${i + 71}`)];
    for (const [f, target] of [
      ['unix.raw', sock],
      ['tcp.raw', `tcp://127.0.0.1:${tcpPort}`],
    ] as const) {
      const got = await until(`${f} to catch up`, () => (mine(f).length >= 56 ? mine(f) : undefined));
      const msgs = got.map((l) => parseLogLine(l).message);
      assert.deepEqual(msgs, [...[1, 2, 3, 4, 5].map((i) => `before-${i}`), ...wantTail, report(target)], f);
      assert.match(got[55]!, /^<28>/, 'the loss report is a warning');
    }
    for (const l of [ux, tc]) {
      const s = l.stats();
      assert.equal(s.buffered, 0);
      assert.ok(s.reconnects >= 1, 'the reconnect is counted');
      assert.equal(s.sent, 5 + 50 + 1);
    }
    clearInterval(stream);
    const us = ud.stats();
    assert.ok(ticks > 20 && us.sent > 0, `udp stream ran: ${ticks} ticks, ${JSON.stringify(us)}`);
    console.log(`udp stream across the outage: ${ticks} ticks, ${JSON.stringify(us.sinks[0])}`);
    both('after-1');
    await until('after lines', () => mine('unix.raw').length === 57 && mine('tcp.raw').length === 57);
    assert.equal(parseLogLine(mine('tcp.raw')[56]!).message, 'after-1');
    assert.equal(parseLogLine(mine('unix.raw')[56]!).message, 'after-1');
  });
});
