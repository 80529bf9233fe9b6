import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateError } from '@trisentry/shared';
import { emptyHistory, isLearning, observe, observeHistoryFile, type History, type LoginRecord } from '../src/core/history.js';
import { formatProfile, loadHistory, saveHistory } from '../src/history-store.js';

const DAY = 86400_000;
const T0 = Date.UTC(2026, 10, 9, 9, 0); // Monday 09:00Z
const OPTS = { learningPeriodMs: 7 * DAY };

function rec(over: Partial<LoginRecord>): LoginRecord {
  return { user: 'alice', tty: 'pts/0', host: '192.0.2.10', address: '192.0.2.10', time: T0, kind: 'login', pid: 100, session: 1, origin: 'wtmp', ...over };
}

test('observe learns sources, /24 network, hours and sessions; input untouched', () => {
  const h0 = emptyHistory();
  const h1 = observe(h0, rec({}), OPTS);
  assert.deepEqual(h0, emptyHistory());
  const p = h1.users['alice']!;
  assert.equal(p.logins, 1);
  assert.deepEqual(Object.keys(p.networks), ['192.0.2.0/24']);
  assert.equal(p.hours[9], 1);
  assert.equal(p.weekdays[1], 1);
  assert.equal(p.sessions.length, 1);
  // The sshd record of the same session (same pid) is not a second login.
  const h2 = observe(h1, rec({ origin: 'sshd', tty: 'ssh:notty' }), OPTS);
  assert.equal(h2.users['alice']!.logins, 1);
  // wtmp logout carries no user name: closed by tty.
  const h3 = observe(h2, rec({ user: '', kind: 'logout', time: T0 + 3600_000 }), OPTS);
  assert.equal(h3.users['alice']!.sessions.length, 0);
  assert.equal(h2.users['alice']!.sessions.length, 1);
});

test('IPv6 sources are grouped by /64', () => {
  const h = observe(emptyHistory(), rec({ address: '2001:db8:1:2:aaaa::1', host: 'x' }), OPTS);
  assert.deepEqual(Object.keys(h.users['alice']!.networks), ['2001:db8:1:2::/64']);
});

test('boot closes every open session', () => {
  let h = observe(emptyHistory(), rec({}), OPTS);
  h = observe(h, rec({ user: 'bob', tty: 'pts/1', pid: 200 }), OPTS);
  h = observe(h, rec({ user: 'reboot', kind: 'boot', tty: '~', pid: 0, time: T0 + DAY }), OPTS);
  assert.equal(h.users['alice']!.sessions.length, 0);
  assert.equal(h.users['bob']!.sessions.length, 0);
});

test('learning period runs in record time from the first record', () => {
  const h = observe(emptyHistory(), rec({}), OPTS);
  assert.equal(isLearning(h, T0 + 6 * DAY, OPTS), true);
  assert.equal(isLearning(h, T0 + 7 * DAY, OPTS), false);
  assert.equal(isLearning(emptyHistory(), T0, { learningPeriodMs: 0 }), false);
});

test('store round trip: save, load, identical; profile prints', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hs-hist-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'history');
  assert.deepEqual(loadHistory(path), emptyHistory());
  let h: History = observe(emptyHistory(), rec({}), OPTS);
  h = observe(h, rec({ host: 'ws1.corp.example', address: undefined, tty: 'pts/3', pid: 7, time: T0 + DAY }), OPTS);
  h = observeHistoryFile(h, 'alice', '.bash_history', 1234, T0 + DAY);
  saveHistory(path, h);
  assert.deepEqual(loadHistory(path), JSON.parse(JSON.stringify(h)) as History);
  const text = formatProfile('alice', h.users['alice']!);
  assert.match(text, /192\.0\.2\.0\/24 {2}1x/);
  assert.match(text, /corp\.example/);
  assert.match(text, /\.bash_history 1234 bytes/);
});

test('a corrupt store file is an FS_READ error naming the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hs-hist-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'history');
  writeFileSync(path, '{"format": "hostsentry-his');
  assert.throws(() => loadHistory(path), (e: unknown) => e instanceof FileStateError && e.code === 'FS_READ' && e.message.includes(path));
  writeFileSync(path, JSON.stringify({ format: 'hostsentry-history', version: 1, history: { users: { alice: { logins: 'x' } } } }));
  assert.throws(() => loadHistory(path), (e: unknown) => e instanceof FileStateError && e.message.includes(path) && e.message.includes('alice'));
});
