import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { YearInferrer, parseJournalJson, parseLogLine } from '@trisentry/shared';
import { MAX_SSHD_MESSAGE, sshdEvent, sshdLoginRecord, type SshdEvent } from '../src/core/sshd.js';
import { journalLogLine, readSshd } from '../src/inputs/sshd.js';

// Traditional stamps are read in UTC with a reference late on 2026-11-22, so Nov 21 is 2026.
const REF = Date.UTC(2026, 10, 22, 12, 0, 0);
const years = new YearInferrer({ refTime: REF, tz: 0 });
const ev = (raw: string): SshdEvent | undefined => sshdEvent(parseLogLine(raw, { years }));
const at = (h: number, m: number, s: number, ms = 0): number => Date.UTC(2026, 10, 21, h, m, s, ms);

function must(raw: string): SshdEvent {
  const e = ev(raw);
  assert.ok(e !== undefined, `no event for ${JSON.stringify(raw)}`);
  return e;
}

test('Accepted publickey (traditional stamp): a LoginRecord with source, port, method and sshd pid', () => {
  const e = must('Nov 21 10:00:01 web1 sshd[1234]: Accepted publickey for alice from 192.0.2.10 port 50022 ssh2: ED25519 SHA256:q7x2AbCdEfGh/ijkl+MN');
  assert.equal(e.kind, 'accepted');
  if (e.kind !== 'accepted') return;
  assert.equal(e.user, 'alice');
  assert.equal(e.method, 'publickey');
  assert.equal(e.info, 'ED25519 SHA256:q7x2AbCdEfGh/ijkl+MN');
  assert.equal(e.address, '192.0.2.10');
  assert.equal(e.port, 50022);
  assert.equal(e.pid, 1234);
  assert.deepEqual(e.record, {
    kind: 'login',
    user: 'alice',
    tty: 'ssh',
    host: '192.0.2.10',
    address: '192.0.2.10',
    time: at(10, 0, 1),
    pid: 1234,
    session: 0,
    method: 'publickey',
    port: 50022,
    origin: 'sshd',
  });
  assert.equal(sshdLoginRecord(e), e.record);
});

test('Accepted password (RFC 3339 stamp, IPv6) and keyboard-interactive/pam from sshd-session (OpenSSH 9.8+)', () => {
  const e = must('2026-11-21T11:00:01.123456+01:00 web1 sshd[77]: Accepted password for bob from 2001:DB8:0:0::7 port 50000 ssh2');
  assert.ok(e.kind === 'accepted');
  assert.equal(e.time, at(10, 0, 1, 123));
  assert.equal(e.address, '2001:db8::7');
  assert.equal(e.host, '2001:DB8:0:0::7');
  assert.equal(e.method, 'password');
  assert.equal(e.info, '');
  const k = must('Nov 21 10:05:00 web1 sshd-session[88]: Accepted keyboard-interactive/pam for carol from 198.51.100.4 port 2222 ssh2');
  assert.ok(k.kind === 'accepted');
  assert.equal(k.method, 'keyboard-interactive/pam');
  assert.equal(k.program, 'sshd-session');
  // UseDNS yes: a name instead of an address.
  const n = must('Nov 21 10:06:00 web1 sshd[89]: Accepted publickey for dave from gw.example.org port 2223 ssh2: RSA SHA256:abc');
  assert.ok(n.kind === 'accepted');
  assert.equal(n.host, 'gw.example.org');
  assert.equal(n.address, undefined);
  assert.equal(n.record.address, undefined);
});

test('failures: Failed for a valid and an invalid user, Invalid user with and without port', () => {
  const f = must('Nov 21 03:12:00 web1 sshd[500]: Failed password for root from 203.0.113.5 port 4242 ssh2');
  assert.deepEqual(
    { kind: f.kind, user: 'user' in f ? f.user : '', inv: f.kind === 'failed' && f.invalidUser, m: f.kind === 'failed' && f.method },
    { kind: 'failed', user: 'root', inv: false, m: 'password' },
  );
  const g = must('Nov 21 03:12:01 web1 sshd[501]: Failed password for invalid user oracle from 203.0.113.5 port 4243 ssh2');
  assert.ok(g.kind === 'failed');
  assert.equal(g.user, 'oracle');
  assert.equal(g.invalidUser, true);
  assert.equal(g.port, 4243);
  const p = must('Nov 21 03:12:02 web1 sshd[502]: Failed publickey for alice from 203.0.113.5 port 4244 ssh2: RSA SHA256:xyz');
  assert.ok(p.kind === 'failed' && p.method === 'publickey' && p.user === 'alice');
  const i = must('Nov 21 03:12:03 web1 sshd[503]: Invalid user oracle from 203.0.113.5 port 4245');
  assert.ok(i.kind === 'invalid-user');
  assert.equal(i.user, 'oracle');
  assert.equal(i.port, 4245);
  const old = must('Nov 21 03:12:04 web1 sshd[504]: Invalid user test from 203.0.113.5');
  assert.ok(old.kind === 'invalid-user');
  assert.equal(old.port, undefined);
  assert.equal(old.address, '203.0.113.5');
  const empty = must('Nov 21 03:12:05 web1 sshd[505]: Invalid user  from 203.0.113.5 port 4246');
  assert.ok(empty.kind === 'invalid-user');
  assert.equal(empty.user, '');
});

test('hostile user names: spaces, fake "from ... port" text, quotes, escape bytes', () => {
  const sp = must('Nov 21 03:13:00 web1 sshd[600]: Invalid user a b from 203.0.113.9 port 5000');
  assert.ok(sp.kind === 'invalid-user');
  assert.equal(sp.user, 'a b');
  assert.equal(sp.address, '203.0.113.9');
  // The name imitates the tail: the real source is the last one, written by sshd.
  const fake = must('Nov 21 03:13:01 web1 sshd[601]: Invalid user x from 10.9.9.9 port 22 from 203.0.113.9 port 5001');
  assert.ok(fake.kind === 'invalid-user');
  assert.equal(fake.user, 'x from 10.9.9.9 port 22');
  assert.equal(fake.address, '203.0.113.9');
  assert.equal(fake.port, 5001);
  const fakeFailed = must('Nov 21 03:13:02 web1 sshd[602]: Failed password for invalid user y from 10.1.1.1 port 1 ssh2 from 203.0.113.9 port 5002 ssh2');
  assert.ok(fakeFailed.kind === 'failed');
  assert.equal(fakeFailed.user, 'y from 10.1.1.1 port 1 ssh2');
  assert.equal(fakeFailed.address, '203.0.113.9');
  const q = must(`Nov 21 03:13:03 web1 sshd[603]: Invalid user "'; rm -rf / #" from 203.0.113.9 port 5003`);
  assert.ok(q.kind === 'invalid-user');
  assert.equal(q.user, `"'; rm -rf / #"`);
  // A raw ESC (a journal MESSAGE, or a syslog daemon that does not escape) is escaped; rsyslog's
  // own "#033" text passes through as it is.
  const esc = must('Nov 21 03:13:04 web1 sshd[604]: Invalid user \x1b[31mred\x07 from 203.0.113.9 port 5004');
  assert.ok(esc.kind === 'invalid-user');
  assert.equal(esc.user, '#033[31mred#007');
  const already = must('Nov 21 03:13:05 web1 sshd[605]: Invalid user #033[2Jx from 203.0.113.9 port 5005');
  assert.ok(already.kind === 'invalid-user' && already.user === '#033[2Jx');
  // Bytes that are not UTF-8 reach us as U+FFFD (readNew decodes that way); they stay.
  const bad = Buffer.concat([Buffer.from('Nov 21 03:13:06 web1 sshd[606]: Invalid user r'), Buffer.from([0xff, 0xfe]), Buffer.from('t from 203.0.113.9 port 5006')]);
  const b = must(bad.toString('utf8'));
  assert.ok(b.kind === 'invalid-user');
  assert.equal(b.user, 'r\ufffd\ufffdt');
  assert.ok(!/[\x00-\x1f\x7f]/.test(JSON.stringify([sp, fake, q, esc, b].map((x) => ('user' in x ? x.user : '')))));
});

test('closing and disconnect messages with their stage, and the client-chosen reason escaped', () => {
  const a = must('Nov 21 03:14:00 web1 sshd[700]: Connection closed by authenticating user root 203.0.113.5 port 4300 [preauth]');
  assert.ok(a.kind === 'connection-closed');
  assert.deepEqual([a.stage, a.user, a.address, a.port, a.preauth], ['authenticating', 'root', '203.0.113.5', 4300, true]);
  const b = must('Nov 21 03:14:01 web1 sshd[701]: Connection closed by invalid user a b 203.0.113.5 port 4301 [preauth]');
  assert.ok(b.kind === 'connection-closed');
  assert.deepEqual([b.stage, b.user], ['invalid', 'a b']);
  const c = must('Nov 21 03:14:02 web1 sshd[702]: Connection closed by 203.0.113.5 port 4302 [preauth]');
  assert.ok(c.kind === 'connection-closed');
  assert.deepEqual([c.stage, c.user, c.port], ['none', '', 4302]);
  const d = must('Nov 21 10:30:00 web1 sshd[1240]: Disconnected from user alice 192.0.2.10 port 50022');
  assert.ok(d.kind === 'disconnected');
  assert.deepEqual([d.stage, d.user, d.address, d.preauth], ['user', 'alice', '192.0.2.10', false]);
  const r = must('Nov 21 10:30:00 web1 sshd[1240]: Received disconnect from 192.0.2.10 port 50022:11: disconnected by user');
  assert.ok(r.kind === 'received-disconnect');
  assert.deepEqual([r.stage, r.address, r.port, r.code, r.reason, r.preauth], ['none', '192.0.2.10', 50022, 11, 'disconnected by user', false]);
  const r2 = must('Nov 21 03:14:03 web1 sshd[703]: Received disconnect from authenticating user root 203.0.113.5 port 4303:11: Bye\x1bBye [preauth]');
  assert.ok(r2.kind === 'received-disconnect');
  assert.deepEqual([r2.stage, r2.user, r2.reason, r2.preauth], ['authenticating', 'root', 'Bye#033Bye', true]);
});

test('pam_unix session lines (PAM 1.5 and older wording) and VERBOSE Starting session with and without a pty', () => {
  const o = must('Nov 21 10:00:01 web1 sshd[1234]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)');
  assert.ok(o.kind === 'session-opened' && o.user === 'alice');
  const o2 = must('Nov 21 10:00:01 web1 sshd[1234]: pam_unix(sshd:session): session opened for user alice by (uid=0)');
  assert.ok(o2.kind === 'session-opened' && o2.user === 'alice');
  const c = must('Nov 21 10:30:00 web1 sshd[1234]: pam_unix(sshd:session): session closed for user alice');
  assert.ok(c.kind === 'session-closed' && c.user === 'alice');
  const s = must('Nov 21 10:00:02 web1 sshd[1240]: Starting session: shell on pts/3 for alice from 192.0.2.10 port 50022 id 0');
  assert.ok(s.kind === 'session-started');
  assert.deepEqual([s.sessionType, s.tty, s.user, s.address, s.port], ['shell', 'pts/3', 'alice', '192.0.2.10', 50022]);
  const f = must("Nov 21 10:00:02 web1 sshd[1241]: Starting session: subsystem 'sftp' for alice from 192.0.2.10 port 50023 id 0");
  assert.ok(f.kind === 'session-started');
  assert.deepEqual([f.sessionType, f.tty], ["subsystem 'sftp'", undefined]);
  const cmd = must('Nov 21 10:00:02 web1 sshd[1242]: Starting session: command on pts/4 for alice from 192.0.2.10 port 50024 id 1');
  assert.ok(cmd.kind === 'session-started' && cmd.tty === 'pts/4' && cmd.sessionType === 'command');
});

test('not understood: other programs, other sshd messages, near misses, lines without a time, overlong lines', () => {
  const none = [
    'Nov 21 10:00:00 web1 sshd[1]: Server listening on 0.0.0.0 port 22.',
    'Nov 21 10:00:00 web1 sshd[1]: Received signal 15; terminating.',
    'Nov 21 10:00:00 web1 sshd[2]: error: kex_exchange_identification: Connection closed by remote host',
    'Nov 21 10:00:00 web1 sudo[3]: Accepted publickey for alice from 192.0.2.10 port 50022 ssh2',
    'Nov 21 10:00:00 web1 sshd[4]: Accepted publickey for alice from 192.0.2.10 port abc ssh2',
    'Nov 21 10:00:00 web1 sshd[4]: Accepted publickey for alice from 192.0.2.10 port 70000 ssh2',
    'Nov 21 10:00:00 web1 sshd[4]: Accepted publickey for alice',
    'Nov 21 10:00:00 web1 sshd[4]: Accepted publickey for alice from 192.0.2.10 port 22 ssh3',
    'Nov 21 10:00:00 web1 sshd[5]: Connection closed by 192.0.2.10 port',
    'Nov 21 10:00:00 web1 sshd[6]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=root',
    `Nov 21 10:00:00 web1 sshd[7]: Invalid user ${'x'.repeat(MAX_SSHD_MESSAGE)} from 203.0.113.5 port 1`,
  ];
  for (const l of none) assert.equal(ev(l), undefined, l);
  // No year source for a traditional stamp: no time, so no event.
  assert.equal(sshdEvent(parseLogLine('Nov 21 10:00:00 web1 sshd[9]: Invalid user a from 203.0.113.5 port 1')), undefined);
});

test('a message full of fake tails parses right and fast (linear scan, not backtracking)', () => {
  const user = ' from 10.0.0.1 port 1'.repeat(100) + ' from x'.repeat(150);
  const line = `Nov 21 10:00:00 web1 sshd[9]: Failed password for invalid user u${user} from 203.0.113.77 port 6000 ssh2`;
  const t0 = process.hrtime.bigint();
  const e = must(line);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(e.kind === 'failed');
  assert.equal(e.user, `u${user}`);
  assert.equal(e.address, '203.0.113.77');
  assert.ok(ms < 250, `took ${ms} ms`);
});

test('journal entries: built from the JSON fields (ident, pid, time, escaped MESSAGE bytes)', () => {
  const msg = [...Buffer.from('Invalid user e\x1bvil from 203.0.113.5 port 7000')];
  const json = JSON.stringify({
    __CURSOR: 's=1;i=2',
    __REALTIME_TIMESTAMP: String(at(3, 0, 0, 250) * 1000 + 17),
    _HOSTNAME: 'web1',
    SYSLOG_IDENTIFIER: 'sshd-session',
    _PID: '4321',
    MESSAGE: msg,
  });
  const entry = parseJournalJson(json);
  assert.ok(entry !== undefined);
  const e = sshdEvent(journalLogLine(entry, 'rendered'));
  assert.ok(e !== undefined && e.kind === 'invalid-user');
  assert.equal(e.user, 'e#033vil');
  assert.equal(e.time, at(3, 0, 0, 250));
  assert.equal(e.pid, 4321);
});

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hs-sshd-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const line = (n: number, user: string): string => `Nov 21 10:${String(n).padStart(2, '0')}:00 web1 sshd[${1000 + n}]: Accepted password for ${user} from 192.0.2.${n} port ${40000 + n} ssh2\n`;
const users = (es: readonly SshdEvent[]): string[] => es.map((e) => (e.kind === 'accepted' ? e.user : `${e.kind}`));

test('adapter on a real auth.log: counts, commit, rotation by rename + create: nothing lost or repeated', async () => {
  await withDir(async (dir) => {
    const log = join(dir, 'auth.log');
    const state = join(dir, 'db.d', 'sshd'); // created by the adapter
    const opts = { source: 'files' as const, files: [log], stateDir: state, tz: 0, refTime: REF };
    writeFileSync(
      log,
      Buffer.concat([
        Buffer.from(line(1, 'alice')),
        Buffer.from('Nov 21 10:01:30 web1 CRON[55]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n'),
        Buffer.from('Nov 21 10:01:40 web1 sshd[1]: Server listening on :: port 22.\n'),
        Buffer.from('Nov 21 10:01:50 web1 sshd[2]: Invalid user m'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from(' from 203.0.113.5 port 1\n'),
        Buffer.from(line(2, 'bob')),
      ]),
    );
    const r1 = await readSshd(opts);
    assert.equal(r1.source, 'files');
    assert.deepEqual(users(r1.events), ['alice', 'invalid-user', 'bob']);
    const inv = r1.events[1];
    assert.ok(inv?.kind === 'invalid-user');
    assert.equal(inv.user, 'm\ufffd(');
    assert.deepEqual(r1.counts, { lines: 5, other: 1, unparsed: 1 });
    assert.equal(r1.events[0]?.time, at(10, 1, 0));
    // Not committed: read again, same lines.
    assert.deepEqual(users((await readSshd(opts)).events), ['alice', 'invalid-user', 'bob']);
    r1.commit();
    assert.deepEqual((await readSshd(opts)).events, []);

    // Lines written before the rotation, not yet read, then rotation by rename + create, then new lines.
    appendFileSync(log, line(3, 'carol'));
    renameSync(log, `${log}.1`);
    writeFileSync(log, line(4, 'dave'));
    appendFileSync(log, 'Nov 21 10:05:00 web1 sshd[1'); // a line being written: left for later
    const r2 = await readSshd(opts);
    assert.deepEqual(users(r2.events), ['carol', 'dave']);
    r2.commit();
    appendFileSync(log, `005]: Accepted password for erin from 192.0.2.5 port 40005 ssh2\n`);
    const r3 = await readSshd(opts);
    assert.deepEqual(users(r3.events), ['erin']);
    r3.commit();
    assert.deepEqual((await readSshd(opts)).events, []);
  });
});

test('adapter sources: off reads nothing; auto with no file and no journalctl warns instead of failing', async () => {
  await withDir(async (dir) => {
    const off = await readSshd({ source: 'off', files: [join(dir, 'auth.log')], stateDir: dir });
    assert.equal(off.source, 'off');
    assert.deepEqual(off.events, []);
    const auto = await readSshd({ source: 'auto', files: [join(dir, 'missing.log')], stateDir: dir, journal: { journalctl: join(dir, 'no-journalctl') } });
    assert.equal(auto.source, 'journal');
    assert.deepEqual(auto.events, []);
    assert.match(auto.warnings.join('\n'), /journalctl cannot be run/);
    // Asked for the journal explicitly, a missing journalctl is an error the caller sees.
    await assert.rejects(readSshd({ source: 'journal', files: [], stateDir: dir, journal: { journalctl: join(dir, 'no-journalctl') } }), /no-journalctl/);
    // auto with an existing file reads the file.
    writeFileSync(join(dir, 'auth.log'), line(7, 'frank'));
    const f = await readSshd({ source: 'auto', files: [join(dir, 'missing.log'), join(dir, 'auth.log')], stateDir: dir, tz: 0, refTime: REF });
    assert.equal(f.source, 'files');
    assert.deepEqual(f.files, [join(dir, 'auth.log')]);
    assert.deepEqual(users(f.events), ['frank']);
  });
});

const JOURNALD = ['/lib/systemd/systemd-journald', '/usr/lib/systemd/systemd-journald'].find((p) => existsSync(p));
const NS = `hssshd${process.pid}`;

function hasJournalctl(): boolean {
  try {
    execFileSync('journalctl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Writes lines to the private journald's stdout stream socket under `ident`, as systemd-cat does. */
async function journalWrite(ident: string, lines: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = connect(`/run/systemd/journal.${NS}/stdout`, () => {
      s.end(`${ident}\n\n6\n0\n0\n0\n0\n${lines.map((l) => `${l}\n`).join('')}`);
    });
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await get();
  // journald files a stream's lines asynchronously; give a loaded machine time.
  for (let i = 0; i < 200 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await get();
  }
  return v;
}

test('adapter on a real journal (private journald namespace): only sshd entries, by cursor, nothing repeated', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: runs a private systemd-journald namespace');
  if (JOURNALD === undefined) return t.skip('systemd-journald binary not found');
  if (!hasJournalctl()) return t.skip('journalctl not found');
  const machineId = readFileSync('/etc/machine-id', 'utf8').trim();
  const dir = mkdtempSync(join(tmpdir(), 'hs-sshd-journal-'));
  let jd: ChildProcess | undefined;
  try {
    jd = spawn(JOURNALD, [NS], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(`/run/systemd/journal.${NS}/stdout`); i++) await new Promise((r) => setTimeout(r, 100));
    const opts = { source: 'journal' as const, files: [], stateDir: join(dir, 'state'), journal: { namespace: NS, firstRunSince: '-1h' } };
    await journalWrite('sshd', ['Accepted publickey for alice from 192.0.2.10 port 50022 ssh2: ED25519 SHA256:AAAA', 'Server listening on :: port 22.']);
    await journalWrite('CRON', ['Accepted publickey for mallory from 192.0.2.66 port 1 ssh2']);
    const r1 = await until(() => readSshd(opts), (r) => r.events.length >= 1 && r.counts.other >= 1);
    assert.equal(r1.source, 'journal');
    assert.deepEqual(users(r1.events), ['alice']);
    assert.equal(r1.counts.unparsed, 1);
    const a = r1.events[0]!;
    assert.ok(a.kind === 'accepted');
    assert.ok(Math.abs(a.time - Date.now()) < 600_000, 'the journal time is used');
    r1.commit();
    await journalWrite('sshd', ['Invalid user a b from 203.0.113.5 port 4242']);
    const r2 = await until(() => readSshd(opts), (r) => r.events.length >= 1);
    assert.deepEqual(users(r2.events), ['invalid-user']);
    r2.commit();
    assert.deepEqual((await readSshd(opts)).events, [], 'after commit nothing repeats');
  } finally {
    if (jd?.pid !== undefined) {
      jd.kill('SIGTERM');
      await new Promise((r) => jd!.once('exit', r));
    }
    rmSync(`/run/systemd/journal.${NS}`, { recursive: true, force: true });
    rmSync(`/var/log/journal/${machineId}.${NS}`, { recursive: true, force: true });
    rmSync(`/run/log/journal/${machineId}.${NS}`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
