import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { ConfigError } from '../src/errors.js';
import { createSyslog } from '../src/syslog/writer.js';
import { MemoryLog, parseSinkSpec } from '../src/syslog/sinks.js';
import type { LineStream } from '../src/syslog/sinks.js';
import type { SeverityName } from '../src/syslog/format.js';

const T = Date.UTC(2026, 10, 1, 9, 5, 3, 42);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('memory sink: every severity method, default facility daemon, injected clock, pid off', async () => {
  const store = new MemoryLog();
  const log = createSyslog({ ident: 'hostsentry', pid: 7, tz: 0, clock: () => T, hostname: 'h', sinks: [{ kind: 'memory', store }] });
  const sevs: SeverityName[] = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
  for (const s of sevs) log[s](`at ${s}`);
  assert.deepEqual(
    store.lines,
    sevs.map((s, i) => `<${24 + i}>Nov  1 09:05:03 hostsentry[7]: at ${s}`),
  );
  assert.deepEqual(store.records[1], { time: T, severity: 'alert', message: 'at alert' });
  const bare = new MemoryLog();
  const l2 = createSyslog({ ident: 'logsentry', pid: false, facility: 'security', tz: 0, clock: () => T, hostname: 'h', sinks: [{ kind: 'memory', store: bare, format: 'rfc5424' }] });
  l2.log('info', 'x');
  // Plain-JS callers passing an alias or junk still get their message logged.
  (l2.log as (s: string, m: string) => void)('warn', 'aliased');
  (l2.log as (s: string, m: string) => void)('bogus', 'junk severity');
  assert.deepEqual(bare.lines, [
    '<38>1 2026-11-01T09:05:03.042+00:00 h logsentry - - - x',
    '<36>1 2026-11-01T09:05:03.042+00:00 h logsentry - - - aliased',
    '<37>1 2026-11-01T09:05:03.042+00:00 h logsentry - - - junk severity',
  ]);
  assert.deepEqual({ ...log.stats(), sinks: undefined }, { sent: 8, buffered: 0, dropped: 0, reconnects: 0, sinks: undefined });
  await log.close();
  log.info('after close');
  assert.equal(store.lines.length, 8);
  assert.equal(log.stats().dropped, 1);
});

test('stderr sink writes one human line per message', async () => {
  const out: string[] = [];
  const stream: LineStream = { write: (c) => (out.push(c), true), on: () => undefined };
  const log = createSyslog({ ident: 'portsentry', pid: 9, tz: 0, clock: () => T, sinks: [{ kind: 'stderr', stream }] });
  log.warning('two\nlines');
  assert.deepEqual(out, ['Nov  1 09:05:03 portsentry[9]: two#012lines\n']);
  await log.close();
});

test('bad options are config errors', () => {
  assert.throws(() => createSyslog({ ident: 'x', facility: 'nope', sinks: ['stderr'] }), (e: unknown) => e instanceof ConfigError && e.code === 'SYS_UNKNOWN_FACILITY');
  assert.throws(() => createSyslog({ ident: 'x', sinks: ['smtp://x'] }), (e: unknown) => e instanceof ConfigError && e.code === 'SYS_BAD_TARGET' && e.key === 'sinks');
  assert.throws(() => createSyslog({ ident: 'x', maxBytes: 10, sinks: ['stderr'] }), (e: unknown) => e instanceof ConfigError && e.code === 'CFG_BAD_VALUE');
  assert.throws(() => createSyslog({ ident: 'x', bufferSize: 0, sinks: ['stderr'] }), (e: unknown) => e instanceof ConfigError && e.code === 'CFG_BAD_VALUE');
});

test('parseSinkSpec', () => {
  assert.deepEqual(parseSinkSpec('unix'), { kind: 'unix' });
  assert.deepEqual(parseSinkSpec('unix:/dev/log'), { kind: 'unix', path: '/dev/log' });
  assert.deepEqual(parseSinkSpec('unix:///run/systemd/journal/syslog'), { kind: 'unix', path: '/run/systemd/journal/syslog' });
  assert.deepEqual(parseSinkSpec('stderr'), { kind: 'stderr' });
  assert.deepEqual(parseSinkSpec('udp://loghost'), { kind: 'udp', host: 'loghost', port: 514, format: 'rfc3164' });
  assert.deepEqual(parseSinkSpec('udp://198.18.0.1:1514?format=5424'), { kind: 'udp', host: '198.18.0.1', port: 1514, format: 'rfc5424' });
  assert.deepEqual(parseSinkSpec('tcp://[2001:db8::1]:6514?format=rfc5424&framing=octet-counting'), { kind: 'tcp', host: '2001:db8::1', port: 6514, format: 'rfc5424', framing: 'octet-counting' });
  assert.deepEqual(parseSinkSpec('tcp://log.example.org/'), { kind: 'tcp', host: 'log.example.org', port: 514, format: 'rfc3164', framing: 'newline' });
  const pos = { file: '/etc/trisentry.yaml', line: 3, col: 9 };
  for (const bad of ['', 'unix:relative', 'udp://', 'udp://h:0', 'udp://h:65536', 'udp://h:x', 'tcp://2001:db8::1', 'tcp://[::1', 'tcp://[nope]:1', 'udp://h?format=6000', 'udp://h?framing=newline', 'tcp://h?bogus=1', 'http://h', 'udp://h h', `unix:/${'x'.repeat(120)}`]) {
    assert.throws(
      () => parseSinkSpec(bad, { pos, key: 'syslog.sinks' }),
      (e: unknown) => e instanceof ConfigError && e.code === 'SYS_BAD_TARGET' && e.message.startsWith('/etc/trisentry.yaml:3:9: syslog.sinks: '),
      bad,
    );
  }
});

// A real AF_UNIX datagram receiver the test can take away and bring back, like a restarting daemon.
interface Receiver {
  close(): void;
}
interface UnixDgramLike {
  createSocket(type: 'unix_dgram', listener: (buf: Buffer) => void): { bind(path: string): void; close(): void; on(e: string, f: (err: Error) => void): void };
}
const unixDgram = ((): UnixDgramLike | undefined => {
  try {
    return createRequire(import.meta.url)('unix-dgram') as UnixDgramLike;
  } catch {
    return undefined;
  }
})();

test('unix sink: delivers, buffers while the socket is gone, drops the oldest, drains in order and reports once', { skip: unixDgram ? undefined : 'unix-dgram native module not built on this host' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trisentry-unix-'));
  const path = join(dir, 'log');
  const got: string[] = [];
  const bind = (): Receiver => {
    const s = unixDgram!.createSocket('unix_dgram', (buf) => got.push(buf.toString('utf8')));
    s.on('error', (e) => assert.fail(e));
    s.bind(path);
    return { close: () => (s.close(), rmSync(path, { force: true })) };
  };
  let rx = bind();
  const warnings: string[] = [];
  const log = createSyslog({ ident: 'portsentry', pid: 1, tz: 0, clock: () => T, bufferSize: 5, retryMinMs: 20, retryMaxMs: 40, sinks: [`unix:${path}`], onWarning: (w) => warnings.push(w) });
  try {
    log.notice('m1');
    await until('m1', () => got.length === 1);
    rx.close();
    for (let i = 2; i <= 9; i++) log.notice(`m${i}`);
    let s = log.stats();
    assert.equal(s.buffered, 5);
    assert.equal(s.dropped, 3);
    assert.equal(s.sinks[0]!.up, false);
    await sleep(100);
    rx = bind();
    await until('drain', () => got.length === 7);
    assert.deepEqual(
      got.map((g) => g.replace(/^<\d+>Nov  1 09:05:03 portsentry\[1\]: /, '')),
      ['m1', 'm5', 'm6', 'm7', 'm8', 'm9', `syslog: 3 messages lost while ${path} was unavailable`],
    );
    assert.match(got[6]!, /^<28>/);
    s = log.stats();
    assert.deepEqual([s.sent, s.buffered, s.dropped, s.reconnects], [7, 0, 3, 1]);
    log.info('m10');
    await until('m10', () => got.length === 8);
    assert.deepEqual(warnings, []);
  } finally {
    await log.close(100);
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tcp sink: octet-counting bytes, reconnect after the server drops us, no error escapes', async () => {
  const chunks: Buffer[] = [];
  const conns: net.Socket[] = [];
  const srv = net.createServer((c) => {
    conns.push(c);
    c.on('data', (d) => chunks.push(d));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const log = createSyslog({ ident: 'p', pid: 2, tz: 0, clock: () => T, hostname: 'h', retryMinMs: 20, retryMaxMs: 50, sinks: [`tcp://127.0.0.1:${port}?framing=octet-counting&format=5424`] });
  try {
    log.info('é1');
    const first = '<30>1 2026-11-01T09:05:03.042+00:00 h p 2 - - é1';
    await until('first', () => Buffer.concat(chunks).length > 0 && Buffer.concat(chunks).toString().endsWith('é1'));
    assert.equal(Buffer.concat(chunks).toString('utf8'), `${Buffer.byteLength(first)} ${first}`);
    conns[0]!.destroy();
    await until('sink notices', () => !log.stats().sinks[0]!.up);
    log.info('second');
    await until('reconnect', () => Buffer.concat(chunks).toString().endsWith('second'));
    assert.equal(log.stats().reconnects, 1);
    assert.equal(log.stats().sent, 2);
  } finally {
    await log.close(500);
    for (const c of conns) c.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

test('close() with a sink that never comes up: bounded time, reports and returns what is unsent', async () => {
  // A port nothing listens on: connection refused, again and again.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const warnings: string[] = [];
  const log = createSyslog({ ident: 'p', retryMinMs: 10, retryMaxMs: 20, sinks: [`tcp://127.0.0.1:${port}`, `udp://127.0.0.1:${port}`], onWarning: (w) => warnings.push(w) });
  for (let i = 0; i < 3; i++) log.err(`lost ${i}`);
  await sleep(100);
  const t0 = Date.now();
  await log.flush(100);
  const report = await log.close(150);
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(report.sinks[0]!.unsent, 3);
  assert.equal(report.sinks[0]!.target, `tcp://127.0.0.1:${port}`);
  assert.ok(report.unsent >= 3);
  assert.ok(warnings.includes(`syslog: 3 messages to tcp://127.0.0.1:${port} unsent at close`), warnings.join('|'));
  assert.ok(log.stats().dropped >= 3);
});

test('udp sink: datagrams arrive byte-exact', async () => {
  const rx = dgram.createSocket('udp4');
  const got: string[] = [];
  rx.on('message', (m) => got.push(m.toString('utf8')));
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  const log = createSyslog({ ident: 'p', pid: 3, tz: 0, clock: () => T, hostname: 'h', sinks: [`udp://127.0.0.1:${rx.address().port}`] });
  try {
    log.crit('a');
    log.debug('b');
    await until('two datagrams', () => got.length === 2);
    assert.deepEqual(got, ['<26>Nov  1 09:05:03 h p[3]: a', '<31>Nov  1 09:05:03 h p[3]: b']);
  } finally {
    await log.close(200);
    rx.close();
  }
});

test('one sink per format: the same message goes to all sinks, each rendered in its own format', () => {
  const a = new MemoryLog();
  const b = new MemoryLog();
  const log = createSyslog({ ident: 'x', pid: 1, tz: 0, clock: () => T, hostname: 'h', sinks: [{ kind: 'memory', store: a, format: 'human' }, { kind: 'memory', store: b, format: 'rfc3164' }] });
  log.notice('m');
  assert.deepEqual(a.lines, ['Nov  1 09:05:03 x[1]: m']);
  assert.deepEqual(b.lines, ['<29>Nov  1 09:05:03 h x[1]: m']);
});
