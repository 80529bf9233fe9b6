import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { YearInferrer, parseLogLine } from '@trisentry/shared';
import { formatAnomaly, type Anomaly } from '../src/core/modules.js';
import { sshdEvent, type SshdEvent } from '../src/core/sshd.js';
import {
  MAX_PENDING_ACCEPTS,
  checkRecord,
  emptyTamperState,
  flush,
  matchSshd,
  primeTamper,
  tamperFromWtmpRead,
  type TamperConfig,
  type TamperState,
} from '../src/core/tamper.js';
import type { LoginRecord } from '../src/core/utmp.js';
import { readWtmp } from '../src/inputs/wtmp.js';
import { hasUtmpdump, utmpdumpR } from './utmpdump.js';

const HAVE_UTMPDUMP = hasUtmpdump();
const NEEDS = 'needs utmpdump (util-linux) to build wtmp files';

const CFG: TamperConfig = { enabled: true, severity: 'high', sshd_match_window: 10 };
const ALL: TamperConfig = { ...CFG, sshd_match: 'all' };
const T0 = Date.UTC(2026, 10, 21, 10, 0, 0);

/** A record shaped as toLoginRecord / sshdEvent make them. */
function rec(p: Partial<LoginRecord> & Pick<LoginRecord, 'kind' | 'time'>): LoginRecord {
  return { user: '', tty: '', host: '', address: undefined, pid: 0, session: 0, origin: 'wtmp', ...p };
}
const login = (user: string, tty: string, time: number, extra: Partial<LoginRecord> = {}): LoginRecord =>
  rec({ kind: 'login', user, tty, time, host: '198.18.0.9', address: '198.18.0.9', pid: 4000, ...extra });
const logout = (tty: string, time: number, extra: Partial<LoginRecord> = {}): LoginRecord => rec({ kind: 'logout', tty, time, pid: 4000, ...extra });
const boot = (time: number): LoginRecord => rec({ kind: 'boot', user: 'reboot', tty: '~', time });

function run(state: TamperState, records: readonly LoginRecord[], cfg: TamperConfig = CFG): { state: TamperState; anomalies: Anomaly[] } {
  let s = state;
  const anomalies: Anomaly[] = [];
  for (const r of records) {
    const out = checkRecord(s, r, cfg);
    s = out.state;
    anomalies.push(...out.anomalies);
  }
  return { state: s, anomalies };
}

test('wtmp time going backwards beyond the tolerance is flagged once; a boot record restarts the comparison', () => {
  const { anomalies } = run(emptyTamperState(), [
    login('alice', 'pts/0', T0),
    login('bob', 'pts/1', T0 - 30_000), // 30 s back: within the 60 s tolerance
    login('carol', 'pts/2', T0 - 7_200_000, { offset: 1152 }), // two hours back
    login('dave', 'pts/3', T0 + 60_000), // forward again: fine
    boot(T0 - 86_400_000), // a boot with a wrong RTC: not judged
    login('erin', 'pts/0', T0 - 86_000_000),
  ]);
  assert.equal(anomalies.length, 1);
  const a = anomalies[0]!;
  assert.equal(a.module, 'RecordTamper');
  assert.equal(a.severity, 'high');
  assert.equal(a.user, 'carol');
  assert.equal(a.source, '198.18.0.9');
  assert.match(a.evidence, /went back 7170s from 2026-11-21T09:59:30Z to 2026-11-21T08:00:00Z \(record at offset 1152\)/);
  // A tighter tolerance catches the 30 s step too.
  assert.equal(run(emptyTamperState(), [login('a', 'pts/0', T0), login('b', 'pts/1', T0 - 30_000)], { ...CFG, backwards_tolerance: 10 }).anomalies.length, 1);
});

test('a pty logout with no login is flagged once the open sessions are known; ttys and unprimed states are not', () => {
  // Not primed (reading started mid-file): a logout of a session from before is normal.
  assert.deepEqual(run(emptyTamperState(), [logout('pts/5', T0)]).anomalies, []);
  const { anomalies, state } = run(emptyTamperState(), [
    boot(T0),
    login('alice', 'pts/0', T0 + 1000),
    logout('pts/0', T0 + 2000), // paired
    logout('tty1', T0 + 3000), // a getty stopped by systemd: no login needed
    logout('pts/7', T0 + 4000, { pid: 777 }), // its login was cut out
  ]);
  assert.equal(anomalies.length, 1);
  assert.equal(anomalies[0]!.tty, 'pts/7');
  assert.match(anomalies[0]!.evidence, /logout on pts\/7 \(pid 777\) with no login/);
  assert.deepEqual(state.open, []);
  // Primed from utmp at start-up: its sessions' logouts are fine, others are not.
  const primed = primeTamper(emptyTamperState(), [login('bob', 'pts/2', T0, { origin: 'utmp' })]);
  assert.equal(primed.primed, true);
  const r = run(primed, [logout('pts/2', T0 + 5000), logout('pts/3', T0 + 6000)]);
  assert.deepEqual(r.anomalies.map((a) => a.tty), ['pts/3']);
});

test('disabled: nothing is flagged and the state is returned as it was', () => {
  const off: TamperConfig = { ...CFG, enabled: false };
  const s = emptyTamperState();
  const out = checkRecord(s, login('a', 'pts/0', T0), off);
  assert.equal(out.state, s);
  assert.deepEqual(out.anomalies, []);
  assert.deepEqual(tamperFromWtmpRead([{ reason: 'zeroed', count: 1, firstOffset: 0 }], [], T0, off), []);
  assert.equal(matchSshd(s, login('a', 'ssh', T0, { origin: 'sshd' }), off), s);
});

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'hs-tamper-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const stamp = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, ',000000+00:00');
/** util-linux utmpdump -r text to binary wtmp. */
function wtmp(lines: readonly string[]): Buffer {
  return utmpdumpR(lines.join('\n') + '\n');
}
const uBoot = (t: number): string => `[2] [00000] [~~  ] [reboot  ] [~       ] [6.1.0-18-amd64] [0.0.0.0] [${stamp(t)}]`;
const uLogin = (pid: number, user: string, tty: string, addr: string, t: number): string =>
  `[7] [${String(pid).padStart(5, '0')}] [ts/${tty.slice(4)}] [${user}] [${tty}] [${addr}] [${addr}] [${stamp(t)}]`;
const uLogout = (pid: number, tty: string, t: number): string => `[8] [${String(pid).padStart(5, '0')}] [ts/${tty.slice(4)}] [] [${tty}] [] [0.0.0.0] [${stamp(t)}]`;

test('a real wtmp with a zeroed login record (utmpdump -r): the zeroed record and the orphaned logout are reported', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const file = join(dir, 'wtmp');
    const bytes = wtmp([
      uBoot(T0),
      uLogin(2001, 'alice', 'pts/0', '198.18.0.10', T0 + 60_000),
      uLogin(2002, 'mallory', 'pts/1', '198.18.0.66', T0 + 120_000),
      uLogout(2002, 'pts/1', T0 + 180_000),
      uLogout(2001, 'pts/0', T0 + 240_000),
    ]);
    assert.equal(bytes.length, 5 * 384);
    // What a zap-style cleaner does: overwrite mallory's login with zeros, in the middle of the file.
    bytes.fill(0, 2 * 384, 3 * 384);
    writeFileSync(file, bytes);
    const read = readWtmp(file, join(dir, 'state.json'));
    assert.deepEqual(read.bad, [{ reason: 'zeroed', count: 1, firstOffset: 768 }]);
    const last = read.records[read.records.length - 1]!.time;
    const fileFindings = tamperFromWtmpRead(read.bad, read.notes, last, CFG, file);
    assert.equal(fileFindings.length, 1);
    assert.match(fileFindings[0]!.evidence, /1 record zeroed, the first at offset 768/);
    assert.equal(fileFindings[0]!.time, T0 + 240_000);
    const { anomalies } = run(emptyTamperState(), read.records);
    assert.deepEqual(anomalies.map((a) => [a.tty, a.record?.pid]), [['pts/1', 2002]]);
    for (const a of [...fileFindings, ...anomalies]) assert.doesNotMatch(formatAnomaly(a), /\n/);
    assert.match(formatAnomaly(fileFindings[0]!), /^attackalert: hostsentry: RecordTamper: at 2026-11-21T10:04:00Z: /);
  });
});

test('wtmp shrinking without rotation and wtmp replaced with the old file gone are reported; torn, rotated and missing are not', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const file = join(dir, 'wtmp');
    const state = join(dir, 'state.json');
    writeFileSync(file, wtmp([uBoot(T0), uLogin(1, 'alice', 'pts/0', '198.18.0.10', T0 + 1000), uLogin(2, 'bob', 'pts/1', '198.18.0.11', T0 + 2000)]));
    readWtmp(file, state).commit();
    truncateSync(file, 384);
    const r = readWtmp(file, state);
    assert.equal(r.notes[0]?.kind, 'tamper');
    const a = tamperFromWtmpRead(r.bad, r.notes, T0 + 5000, CFG, file);
    assert.equal(a.length, 1);
    assert.match(a[0]!.evidence, /shrank to 384 bytes below the stored offset 1152 without rotation/);
    r.commit();
    // Replaced (delete + recreate) while no wtmp.1 holds the old file.
    const old = readFileSync(file);
    rmSync(file);
    writeFileSync(join(dir, 'other'), old); // keep the old inode busy so the new file gets another
    writeFileSync(file, wtmp([uLogin(3, 'carol', 'pts/2', '198.18.0.12', T0 + 9000)]));
    const lost = readWtmp(file, state);
    const b = tamperFromWtmpRead(lost.bad, lost.notes, T0 + 9000, CFG, file);
    assert.deepEqual(lost.notes.map((n) => n.kind), ['rotated-lost']);
    assert.equal(b.length, 1);
    assert.match(b[0]!.evidence, /deleted and recreated, or rotated without keeping/);
  });
  const quiet = tamperFromWtmpRead(
    [{ reason: 'torn', count: 1, firstOffset: 384 }],
    [
      { kind: 'rotated', detail: 'finished wtmp.1' },
      { kind: 'missing', detail: 'wtmp does not exist' },
    ],
    T0,
    CFG,
  );
  assert.deepEqual(quiet, []);
  const garbage = tamperFromWtmpRead([{ reason: 'bad-type', count: 3, firstOffset: 1536 }], [], T0, CFG);
  assert.match(garbage[0]!.evidence, /3 records with an invalid type, the first at offset 1536/);
});

// sshd lines, read in UTC with a year source.
const years = new YearInferrer({ refTime: T0 + 86_400_000, tz: 0 });
function sshd(raw: string): SshdEvent {
  const e = sshdEvent(parseLogLine(raw, { years }));
  assert.ok(e !== undefined, raw);
  return e;
}
const accepted = (hhmmss: string, pid: number, user: string, addr: string, port: number): SshdEvent =>
  sshd(`Nov 21 ${hhmmss} web1 sshd[${pid}]: Accepted publickey for ${user} from ${addr} port ${port} ssh2: ED25519 SHA256:AAAA`);
const starting = (hhmmss: string, pid: number, user: string, tty: string, addr: string, port: number): SshdEvent =>
  sshd(`Nov 21 ${hhmmss} web1 sshd[${pid}]: Starting session: shell on ${tty} for ${user} from ${addr} port ${port} id 0`);
const recordOf = (e: SshdEvent): LoginRecord => {
  assert.ok(e.kind === 'accepted');
  return e.record;
};

function feed(state: TamperState, inputs: readonly (SshdEvent | LoginRecord)[], cfg: TamperConfig): TamperState {
  let s = state;
  for (const i of inputs) s = 'origin' in i ? checkRecord(s, i, cfg).state : matchSshd(s, i, cfg);
  return s;
}

test('sshd Accepted matched with its wtmp login in either order, within the window; an unmatched one surfaces after it', () => {
  const acc = accepted('10:00:00', 1234, 'alice', '192.0.2.10', 50022);
  const w = login('alice', 'pts/0', T0 + 250, { host: '192.0.2.10', address: '192.0.2.10' });
  for (const order of [
    [acc, w],
    [w, acc],
  ]) {
    const s = feed(emptyTamperState(), order, ALL);
    assert.deepEqual(flush(s, T0 + 60_000, ALL).anomalies, []);
  }
  // No wtmp login: nothing before the window (plus 1 s slack) has passed, then one anomaly.
  const s = feed(emptyTamperState(), [accepted('10:00:00', 1300, 'mallory', '203.0.113.66', 40000)], ALL);
  const early = flush(s, T0 + 10_999, ALL);
  assert.deepEqual(early.anomalies, []);
  assert.equal(early.state.pending.length, 1);
  const late = flush(early.state, T0 + 11_000, ALL);
  assert.equal(late.anomalies.length, 1);
  const a = late.anomalies[0]!;
  assert.deepEqual([a.user, a.tty, a.source, a.time, a.record?.origin], ['mallory', 'ssh', '203.0.113.66', T0, 'sshd']);
  assert.match(a.evidence, /sshd accepted publickey login for mallory from 203.0.113.66 port 40000 \(sshd pid 1300\) but no wtmp or wtmpdb login of mallory is within 10s/);
  assert.equal(late.state.pending.length, 0);
  // A login of the same user too far away does not count.
  const far = feed(emptyTamperState(), [acc, login('alice', 'pts/0', T0 + 30_000)], ALL);
  assert.equal(flush(far, T0 + 120_000, ALL).anomalies.length, 1);
  // wtmpdb logins count as well.
  const db = feed(emptyTamperState(), [acc, login('alice', 'ssh', T0 + 100, { origin: 'wtmpdb', offset: 17 })], ALL);
  assert.deepEqual(flush(db, T0 + 60_000, ALL).anomalies, []);
});

test('mode pty (default): only an Accepted whose session got a pty must have a wtmp login', () => {
  const acc = accepted('10:00:00', 1400, 'alice', '192.0.2.10', 50100);
  // scp / sftp / ssh host cmd: no Starting session on a pty, no wtmp: no verdict.
  assert.deepEqual(flush(feed(emptyTamperState(), [acc], CFG), T0 + 60_000, CFG).anomalies, []);
  // A shell on pts/4 but no wtmp login: flagged, with the tty.
  const pty = feed(emptyTamperState(), [acc, starting('10:00:01', 1405, 'alice', 'pts/4', '192.0.2.10', 50100)], CFG);
  assert.equal(pty.pending[0]?.tty, 'pts/4');
  const out = flush(pty, T0 + 60_000, CFG);
  assert.deepEqual(out.anomalies.map((a) => a.tty), ['pts/4']);
  // With its wtmp record: fine. Another connection's Starting session (other port) does not mark it.
  const ok = feed(emptyTamperState(), [acc, starting('10:00:01', 1405, 'alice', 'pts/4', '192.0.2.10', 50100), login('alice', 'pts/4', T0 + 900)], CFG);
  assert.deepEqual(flush(ok, T0 + 60_000, CFG).anomalies, []);
  const other = feed(emptyTamperState(), [acc, starting('10:00:01', 1405, 'alice', 'pts/4', '192.0.2.10', 50999)], CFG);
  assert.equal(other.pending[0]?.tty, null);
  // Mode off: nothing is even kept.
  const off: TamperConfig = { ...CFG, sshd_match: 'off' };
  assert.deepEqual(feed(emptyTamperState(), [acc], off).pending, []);
});

test('one wtmp login matches one Accepted: a second login of the same user whose record was removed still shows', () => {
  const a1 = accepted('10:00:00', 1500, 'alice', '192.0.2.10', 50200);
  const a2 = accepted('10:00:02', 1510, 'alice', '203.0.113.66', 40200);
  const s = feed(emptyTamperState(), [a1, a2, login('alice', 'pts/0', T0 + 300, { host: '192.0.2.10', address: '192.0.2.10' })], ALL);
  const out = flush(s, T0 + 60_000, ALL);
  assert.equal(out.anomalies.length, 1);
  assert.equal(out.anomalies[0]!.source, '203.0.113.66');
});

test('state: feeding twice changes nothing, JSON round-trips, and the lists are capped', () => {
  const acc = accepted('10:00:00', 1600, 'alice', '192.0.2.10', 50300);
  const w = login('alice', 'pts/0', T0 + 300, { offset: 384 });
  const once = feed(emptyTamperState(), [acc, w], ALL);
  const twice = feed(once, [acc, recordOf(acc), w], ALL);
  assert.deepEqual(twice.pending, once.pending);
  assert.deepEqual(twice.logins, once.logins);
  const copy = JSON.parse(JSON.stringify(twice)) as TamperState;
  assert.deepEqual(copy, twice);
  assert.deepEqual(flush(copy, T0 + 60_000, ALL), flush(twice, T0 + 60_000, ALL));

  let s = emptyTamperState();
  for (let i = 0; i < MAX_PENDING_ACCEPTS + 76; i++) s = matchSshd(s, rec({ kind: 'login', user: `u${i}`, tty: 'ssh', time: T0 + i, origin: 'sshd', pid: i }), ALL);
  assert.equal(s.pending.length, MAX_PENDING_ACCEPTS);
  assert.equal(s.dropped, 76);
  assert.equal(s.pending[0]?.record.user, 'u76');
  // Old logins are forgotten by flush, so a host without sshd lines keeps a small state.
  const aged = feed(emptyTamperState(), [login('x', 'pts/0', T0), login('y', 'pts/1', T0 + 1000)], ALL);
  assert.equal(flush(aged, T0 + 3_600_000, ALL).state.logins.length, 0);
});
