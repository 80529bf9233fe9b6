// The hostsentry daemon in-process, on real inputs in a temp dir: wtmp files built by util-linux's
// utmpdump -r, an auth.log, a wtmpdb database written by the sqlite3 shell, real homes listed in a
// temp passwd. The daemon (startDaemon) is the thing under test; the responder is a collector written
// here, so each test sees exactly the anomalies the daemon decided to answer, as data.
// Polling is driven by the test (poll()), and the wall clock the daemon uses for settling sshd
// logins and for home checks is the test's (DaemonOptions.clock), so nothing here waits on timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyslog, MemoryLog } from '@trisentry/shared';
import { checkHostsentryConfig } from '../src/config.js';
import type { Anomaly } from '../src/core/modules.js';
import { startDaemon, type HostsentryDaemon } from '../src/daemon.js';
import type { Responder, ResponderStats } from '../src/respond.js';
import { utmpdumpR } from './utmpdump.js';

function has(bin: string, arg: string): boolean {
  try {
    execFileSync(bin, [arg], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const NO_UTMPDUMP = has('utmpdump', '-V') ? false : 'needs utmpdump (util-linux) to build wtmp files';
const HAVE_SQLITE3 = has('sqlite3', '-version');

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** utmpdump's text form of one record: 7 login, 8 logout (no user), 2 boot. `at` is an ISO time without zone (UTC). */
function rec(type: 2 | 7 | 8, pid: number, user: string, tty: string, host: string, at: string): string {
  const id = type === 2 ? '~~' : tty.replace('pts/', 'ts/');
  const addr = /^[0-9.]+$|:/.test(host) ? host : '0.0.0.0';
  return `[${type}] [${pad(pid, 5)}] [${id.padEnd(4).slice(0, 4)}] [${user}] [${type === 2 ? '~' : tty}] [${host}] [${addr}] [${at},000000+00:00]\n`;
}
const login = (pid: number, user: string, tty: string, host: string, at: string): string => rec(7, pid, user, tty, host, at);
const logout = (pid: number, tty: string, at: string): string => rec(8, pid, '', tty, '', at);
const boot = (at: string): string => rec(2, 0, 'reboot', '~', '6.1.0-27-amd64', at);

const wtmpBytes = utmpdumpR;

/** The responder under the daemon: it keeps every anomaly it is given, and does nothing else. */
class Collector implements Responder {
  readonly anomalies: Anomaly[] = [];
  closed = 0;
  respond(a: Anomaly): void {
    this.anomalies.push(a);
  }
  stats(): ResponderStats {
    return { logged: this.anomalies.length, mailed: 0, mailFailed: 0, mailHeld: 0, commands: 0, commandFailed: 0, handedOff: 0, handOffFailed: 0 };
  }
  async settle(): Promise<void> {}
  async close(): Promise<void> {
    this.closed++;
  }
  /** The anomalies since the last take(), removed. */
  take(): Anomaly[] {
    return this.anomalies.splice(0);
  }
}

const brief = (a: Anomaly): string => `${a.module} ${a.user || '-'} ${a.tty || '-'} ${a.source || '-'}`;

/** The config lines every scenario shares: its own database and no input of this host. */
function configText(dir: string, inputs: string[], more: string[] = []): string {
  return [
    `database: ${join(dir, 'db', 'history')}`,
    'inputs:',
    '  utmp: { enabled: false }',
    ...inputs.map((l) => `  ${l}`),
    ...more,
    '',
  ].join('\n');
}

/** Modules off that read this host's files when the scenario is not about them. */
const NO_HOMES = ['  history_truncated: { enabled: false }', '  history_suspicious: { enabled: false }', '  rhosts_check: { enabled: false }', '  odd_dirnames: { enabled: false }'];

interface Started {
  daemon: HostsentryDaemon;
  responder: Collector;
  log: MemoryLog;
}

async function start(dir: string, conf: string, opts: { clock?: () => number; passwdFile?: string } = {}): Promise<Started> {
  const cfgPath = join(dir, 'hostsentry.yaml');
  writeFileSync(cfgPath, conf);
  const config = checkHostsentryConfig(cfgPath);
  const log = new MemoryLog();
  const responder = new Collector();
  const daemon = await startDaemon({
    config,
    log: createSyslog({ ident: 'hostsentry', sinks: [{ kind: 'memory', store: log }], tz: 0 }),
    responder,
    ctx: { passwd: () => undefined, timeZone: 0 },
    // The test polls; the timer must not race it.
    pollMs: 3_600_000,
    ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
    ...(opts.passwdFile !== undefined ? { passwdFile: opts.passwdFile } : {}),
  });
  return { daemon, responder, log };
}

function tempDir(t: { after: (f: () => void) => void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hs-scn-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a history file replaced by a link to /dev/null is reported once, at the logout, naming the link', { skip: NO_UTMPDUMP }, async (t) => {
  const dir = tempDir(t, 'hist');
  const home = join(dir, 'home', 'alice');
  mkdirSync(home, { recursive: true });
  const hist = join(home, '.bash_history');
  writeFileSync(hist, 'ls -l\ncd /srv/www\nvi index.html\n');
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, `alice:x:1000:1000:Alice:${home}:/bin/bash\n`);
  const wtmp = join(dir, 'wtmp');
  writeFileSync(wtmp, wtmpBytes(login(100, 'alice', 'pts/0', '192.0.2.10', '2026-11-20T09:00:00')));
  const conf = configText(
    dir,
    [`wtmp: { path: ${wtmp} }`, 'wtmpdb: { enabled: false }', 'sshd: { source: "off" }'],
    // Only home files are judged here; /etc/hosts.equiv of this host is not the test's business.
    ['modules:', '  rhosts_check: { system_files: [] }'],
  );
  let now = Date.parse('2026-11-20T09:00:05Z');
  const s = await start(dir, conf, { clock: () => now, passwdFile: passwd });
  try {
    // First start: the login is learned silently and the history file's size recorded.
    assert.deepEqual(s.responder.take().map(brief), []);
    assert.equal(s.daemon.history().users['alice']?.historySizes['.bash_history']?.size, 32);

    // During the session the history file is replaced by a link to /dev/null; then the logout.
    unlinkSync(hist);
    symlinkSync('/dev/null', hist);
    now += 3_600_000;
    await s.daemon.poll();
    assert.deepEqual(s.responder.take().map(brief), [], 'no logout yet: nothing is checked before the periodic round');
    appendFileSync(wtmp, wtmpBytes(logout(100, 'pts/0', '2026-11-20T10:00:00')));
    await s.daemon.poll();
    const found = s.responder.take();
    assert.equal(found.length, 1, found.map(brief).join('\n'));
    const a = found[0]!;
    assert.equal(a.module, 'HistoryTruncated');
    assert.equal(a.user, 'alice');
    assert.equal(a.severity, 'high');
    assert.ok(a.evidence.includes(`${hist}" is a symbolic link to "/dev/null"`), a.evidence);
    assert.match(a.evidence, /so the shell history is thrown away \(was a 32-byte file\)/);

    // The link stays: later polls and logins and logouts of alice do not repeat it.
    appendFileSync(wtmp, wtmpBytes(login(101, 'alice', 'pts/0', '192.0.2.10', '2026-11-20T11:00:00') + logout(101, 'pts/0', '2026-11-20T11:30:00')));
    now += 3_600_000;
    await s.daemon.poll();
    await s.daemon.poll();
    assert.deepEqual(s.responder.take().map(brief), []);
  } finally {
    await s.daemon.stop();
  }
  assert.equal(s.responder.closed, 1, 'stop() closes the responder');
});

test('sshd: an Accepted login is judged with its method; with sshd_match all, one without a wtmp record is RecordTamper after the window', { skip: NO_UTMPDUMP }, async (t) => {
  const dir = tempDir(t, 'sshd');
  const wtmp = join(dir, 'wtmp');
  // Yesterday's login: the history (and its learning period, 0 here) starts before today's sshd lines.
  writeFileSync(wtmp, wtmpBytes(login(500, 'dora', 'pts/0', '192.0.2.44', '2026-11-19T09:00:00') + logout(500, 'pts/0', '2026-11-19T17:00:00')));
  const auth = join(dir, 'auth.log');
  writeFileSync(auth, '2026-11-20T09:00:00.000000+00:00 web1 sshd[900]: Server listening on 0.0.0.0 port 22.\n');
  const conf = configText(
    dir,
    [`wtmp: { path: ${wtmp} }`, 'wtmpdb: { enabled: false }', `sshd: { source: files, files: [${auth}] }`],
    ['learning_period: 0', 'modules:', ...NO_HOMES, '  record_tamper: { sshd_match: all, sshd_match_window: 10s }'],
  );
  let now = Date.parse('2026-11-20T10:00:00Z');
  const s = await start(dir, conf, { clock: () => now });
  try {
    assert.deepEqual(s.responder.take().map(brief), []);

    // bob: an Accepted line and no wtmp record at all (a login record cut out, or never written).
    // carol: an Accepted line and, a second later, her wtmp login.
    appendFileSync(
      auth,
      '2026-11-20T10:00:00.250000+00:00 web1 sshd[1234]: Accepted publickey for bob from 203.0.113.9 port 50000 ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n' +
        '2026-11-20T10:00:01.000000+00:00 web1 sshd[1300]: Accepted password for carol from 198.51.100.4 port 40000 ssh2\n',
    );
    appendFileSync(wtmp, wtmpBytes(login(1301, 'carol', 'pts/1', '198.51.100.4', '2026-11-20T10:00:02')));
    now = Date.parse('2026-11-20T10:00:03Z');
    await s.daemon.poll();
    const first = s.responder.take();
    // Each login is judged once, whichever input told of it first.
    assert.deepEqual(first.map(brief).sort(), ['FirstLogin bob ssh:1234 203.0.113.9', 'FirstLogin carol pts/1 198.51.100.4'], first.map(brief).join('\n'));
    const bob = first.find((a) => a.user === 'bob')!;
    assert.equal(bob.record?.origin, 'sshd');
    assert.equal(bob.record?.method, 'publickey');
    assert.equal(bob.record?.port, 50000);
    assert.equal(bob.record?.address, '203.0.113.9');

    // Inside the window (10 s + 1 s of slack) nothing is settled yet.
    now = Date.parse('2026-11-20T10:00:09Z');
    await s.daemon.poll();
    assert.deepEqual(s.responder.take().map(brief), []);

    // After it: bob's login has no wtmp record; carol's has.
    now = Date.parse('2026-11-20T10:00:30Z');
    await s.daemon.poll();
    const late = s.responder.take();
    // The pending Accepted keeps the sshd record's own tty ('ssh'); the evidence names the sshd pid.
    assert.deepEqual(late.map(brief), ['RecordTamper bob ssh 203.0.113.9'], late.map(brief).join('\n'));
    assert.match(late[0]!.evidence, /^sshd accepted publickey login for bob from 203\.0\.113\.9 port 50000 \(sshd pid 1234\) but no wtmp or wtmpdb login of bob is within 10s/);

    // Settled is settled: later polls say nothing more.
    now += 600_000;
    await s.daemon.poll();
    assert.deepEqual(s.responder.take().map(brief), []);
    assert.equal(s.daemon.stats().sshdEvents, 2, 'the Server listening line is no event; the first-start read learned it');
  } finally {
    await s.daemon.stop();
  }
});

test('wtmpdb: a new login row is judged by the modules', async (t) => {
  if (!HAVE_SQLITE3) return t.skip('needs the sqlite3 shell (Debian package sqlite3) to write a wtmpdb database');
  const dir = tempDir(t, 'wtmpdb');
  const db = join(dir, 'wtmp.db');
  const sql = (text: string): void => {
    execFileSync('sqlite3', ['-init', '/dev/null', '-batch', '-bail', db], { input: text, stdio: ['pipe', 'ignore', 'pipe'] });
  };
  // wtmpdb's table as its lib/sqlite.c creates it; times in µs.
  const us = (iso: string): number => Date.parse(iso) * 1000;
  const row = (user: string, iso: string, tty: string, host: string): string =>
    `INSERT INTO wtmp (Type,User,Login,TTY,RemoteHost,Service) VALUES (3,'${user}',${us(iso)},'${tty}','${host}','sshd');`;
  sql(
    'CREATE TABLE IF NOT EXISTS wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT NOT NULL, Login INTEGER, Logout INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT) STRICT;' +
      row('alice', '2026-11-19T09:00:00Z', 'pts/0', '192.0.2.10') +
      'UPDATE wtmp SET Logout = ' + us('2026-11-19T17:00:00Z') + ' WHERE ID = 1;',
  );
  const conf = configText(dir, ['wtmp: { enabled: false }', `wtmpdb: { path: ${db} }`, 'sshd: { source: "off" }'], ['learning_period: 0', 'modules:', ...NO_HOMES]);
  const s = await start(dir, conf);
  try {
    // First start: alice's row is learned silently.
    assert.deepEqual(s.responder.take().map(brief), []);
    assert.ok(s.daemon.history().users['alice']?.addresses['192.0.2.10'] !== undefined, 'the existing row was learned');

    sql(row('alice', '2026-11-20T09:00:00Z', 'pts/1', '198.51.100.7') + row('dora', '2026-11-20T09:05:00Z', 'pts/2', '192.0.2.44'));
    await s.daemon.poll();
    const found = s.responder.take();
    assert.deepEqual(found.map(brief), ['NewSource alice pts/1 198.51.100.7', 'FirstLogin dora pts/2 192.0.2.44'], found.map(brief).join('\n'));
    assert.equal(found[0]!.record?.origin, 'wtmpdb');
    assert.equal(found[0]!.time, Date.parse('2026-11-20T09:00:00Z'), 'record time, not the wall clock');
    await s.daemon.poll();
    assert.deepEqual(s.responder.take().map(brief), [], 'a row is read once');
  } finally {
    await s.daemon.stop();
  }
});

test('a restart keeps the history and RecordTamper state: nothing repeated, nothing forgotten', { skip: NO_UTMPDUMP }, async (t) => {
  const dir = tempDir(t, 'restart');
  const wtmp = join(dir, 'wtmp');
  writeFileSync(wtmp, wtmpBytes(boot('2026-11-20T07:00:00') + login(200, 'alice', 'pts/0', '192.0.2.10', '2026-11-20T08:00:00')));
  const conf = configText(dir, [`wtmp: { path: ${wtmp} }`, 'wtmpdb: { enabled: false }', 'sshd: { source: "off" }'], ['learning_period: 0', 'modules:', ...NO_HOMES]);

  // Run 1: the first start learns the boot and alice's office login; then a login from elsewhere.
  let s = await start(dir, conf);
  try {
    assert.deepEqual(s.responder.take().map(brief), []);
    appendFileSync(wtmp, wtmpBytes(login(201, 'alice', 'pts/1', '203.0.113.5', '2026-11-20T09:00:00')));
    await s.daemon.poll();
    assert.deepEqual(s.responder.take().map(brief).sort(), ['MultipleLogins alice pts/1 203.0.113.5', 'NewSource alice pts/1 203.0.113.5']);
  } finally {
    await s.daemon.stop();
  }

  // Run 2: nothing new is nothing said (no record is read twice, no anomaly repeated).
  s = await start(dir, conf);
  try {
    assert.deepEqual(s.responder.take().map(brief), [], 'a restart repeats nothing');
    assert.doesNotMatch(s.log.lines.join('\n'), /first start/);
    // alice's office session ends (its login is remembered: no RecordTamper); a logout on pts/2,
    // where nobody logged in, is flagged (the state knows the open ttys: it was primed before the
    // restart); alice's next login from 203.0.113.5 is not new (the history knows it).
    appendFileSync(
      wtmp,
      wtmpBytes(logout(200, 'pts/0', '2026-11-20T10:00:00') + logout(299, 'pts/2', '2026-11-20T10:05:00') + login(202, 'alice', 'pts/3', '203.0.113.5', '2026-11-20T10:10:00')),
    );
    await s.daemon.poll();
    const found = s.responder.take();
    assert.deepEqual(found.map(brief), ['RecordTamper - pts/2 -'], found.map(brief).join('\n'));
    assert.match(found[0]!.evidence, /^logout on pts\/2 \(pid 299\) with no login there/);
    const p = s.daemon.history().users['alice'];
    assert.equal(p?.logins, 3);
    assert.deepEqual(p?.sessions.map((x) => x.tty).sort(), ['pts/1', 'pts/3']);
  } finally {
    await s.daemon.stop();
  }

  // Run 3: the same again: a restart after anomalies repeats none of them.
  s = await start(dir, conf);
  try {
    await s.daemon.poll();
    assert.deepEqual(s.responder.take().map(brief), []);
    assert.equal(s.daemon.stats().records, 0, 'every record was read before');
  } finally {
    await s.daemon.stop();
  }
});

test('first start with utmp: the sessions open now are those utmp lists, so a lone pty logout is judged without a boot record', { skip: NO_UTMPDUMP }, async (t) => {
  const dir = tempDir(t, 'utmp');
  const wtmp = join(dir, 'wtmp');
  const utmp = join(dir, 'utmp');
  // The wtmp backlog has no boot record; utmp says alice is logged in on pts/0 now.
  writeFileSync(wtmp, wtmpBytes(login(300, 'alice', 'pts/0', '192.0.2.10', '2026-11-20T08:00:00')));
  writeFileSync(utmp, wtmpBytes(login(300, 'alice', 'pts/0', '192.0.2.10', '2026-11-20T08:00:00')));
  const conf = configText(dir, [`wtmp: { path: ${wtmp} }`, 'wtmpdb: { enabled: false }', 'sshd: { source: "off" }'], ['modules:', ...NO_HOMES]).replace(
    'utmp: { enabled: false }',
    `utmp: { path: ${utmp} }`,
  );
  const s = await start(dir, conf);
  try {
    assert.deepEqual(s.responder.take().map(brief), []);
    appendFileSync(wtmp, wtmpBytes(logout(300, 'pts/0', '2026-11-20T09:00:00') + logout(377, 'pts/7', '2026-11-20T09:05:00')));
    await s.daemon.poll();
    assert.deepEqual(s.responder.take().map(brief), ['RecordTamper - pts/7 -']);
  } finally {
    await s.daemon.stop();
  }
});

test('first start without utmp and without a boot record: logouts are not judged (nothing says what was open)', { skip: NO_UTMPDUMP }, async (t) => {
  const dir = tempDir(t, 'noutmp');
  const wtmp = join(dir, 'wtmp');
  writeFileSync(wtmp, wtmpBytes(login(400, 'alice', 'pts/0', '192.0.2.10', '2026-11-20T08:00:00')));
  // utmp enabled but missing, as in many containers: it must not count as "nothing is open".
  const conf = configText(dir, [`wtmp: { path: ${wtmp} }`, 'wtmpdb: { enabled: false }', 'sshd: { source: "off" }'], ['modules:', ...NO_HOMES]).replace(
    'utmp: { enabled: false }',
    `utmp: { path: ${join(dir, 'no-utmp')} }`,
  );
  const s = await start(dir, conf);
  try {
    appendFileSync(wtmp, wtmpBytes(logout(400, 'pts/0', '2026-11-20T09:00:00')));
    await s.daemon.poll();
    assert.deepEqual(s.responder.take().map(brief), [], 'the logout of a session wtmp showed open is no tampering');
    assert.equal(s.daemon.stats().errors, 0);
  } finally {
    await s.daemon.stop();
  }
});
