// Golden cases for portsentry's stealth detectors (STYLE.md section 8): every folder under test/cases/
// holds a capture, a config and the exact log lines a replay must give; this file replays them all.
// The folder format and how to add or regenerate a case are in test/cases/README.md.
//
// UPDATE_GOLDEN=1 rewrites expected.log (and expected.stats where a case has one) from what the code
// says instead of comparing. Every rewritten file must then be read by hand against the rules in the
// README before it is committed: the point of a golden file is that a person vouched for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPortsentryConfig, replayCapture } from '@trisentry/portsentry';
import { AddressSet, MODES, loadAddressListFile, type Mode, type ReadonlyAddressSet } from '@trisentry/shared';

// Compiled to test/dist/cases/; the cases live in the source tree, test/cases/.
const CASES_DIR = fileURLToPath(new URL('../../cases/', import.meta.url));
const GENERATOR = join(CASES_DIR, 'make-cases.mjs');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
/** The issue asks for at least this many; fewer means cases went missing, not that all is well. */
const MIN_CASES = 14;
const STEALTH: readonly Mode[] = ['stcp', 'sudp', 'atcp', 'audp'];

/** Every sub-folder is a case, whatever it holds: a half-made case must fail, not vanish. */
function listCases(root: string): string[] {
  return readdirSync(root)
    .filter((n) => statSync(join(root, n)).isDirectory())
    .sort();
}

function need(dir: string, file: string, why: string): string {
  const p = join(dir, file);
  if (!existsSync(p)) throw new Error(`golden case ${dir}: ${file} is missing (${why}); see test/cases/README.md`);
  return p;
}

/** The `args` file: one line of stealth modes, e.g. `-stcp -sudp`. */
function readModes(dir: string): Mode[] {
  const text = readFileSync(need(dir, 'args', 'the modes to replay, e.g. -stcp -sudp'), 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) throw new Error(`golden case ${dir}: args must be one line of modes, found ${lines.length}`);
  const modes: Mode[] = [];
  for (const tok of lines[0]!.trim().split(/\s+/)) {
    const m = MODES.find((x) => `-${x}` === tok);
    // Classic modes bind sockets and cannot be replayed; accepting one would replay nothing silently.
    if (m === undefined || !STEALTH.includes(m)) throw new Error(`golden case ${dir}: args: ${JSON.stringify(tok)} is not one of ${STEALTH.map((x) => `-${x}`).join(' ')}`);
    modes.push(m);
  }
  return modes;
}

/** The ignore list as a replay uses it: IGNORE_FILE only (daemon.ts also adds local addresses live). */
function loadIgnore(file: string | undefined): ReadonlyAddressSet {
  const set = new AddressSet();
  if (file !== undefined) for (const e of loadAddressListFile(file).entries) set.add(e.prefix);
  return set.freeze();
}

/** Lines of an expected file: one per line, each ended by a newline; an empty file is no lines. */
function readLines(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

function writeLines(path: string, lines: readonly string[]): void {
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
}

/**
 * A line diff (longest common subsequence; cases are small). Lines are JSON-quoted so that spaces,
 * such as the two after `attackalert:` in 1.2's NULL-scan line, are visible.
 */
function diffLines(expected: readonly string[], actual: readonly string[]): string {
  const n = expected.length;
  const m = actual.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = expected[i] === actual[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === actual[j]) {
      out.push(`  ${JSON.stringify(expected[i])}`);
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${JSON.stringify(expected[i])}`);
      i++;
    } else {
      out.push(`+ ${JSON.stringify(actual[j])}`);
      j++;
    }
  }
  return out.join('\n');
}

/**
 * Replays one case folder and compares (or, with `update`, rewrites) its expected files. Throws an
 * Error naming the case and showing a diff when anything differs or a required file is missing.
 */
function checkCase(dir: string, update: boolean): void {
  const pcapPath = need(dir, 'input.pcap', 'the capture to replay');
  const cfg = loadPortsentryConfig(need(dir, 'portsentry.conf', 'the classic KEY="value" config'));
  const modes = readModes(dir);
  const res = replayCapture(readFileSync(pcapPath), pcapPath, cfg, modes, loadIgnore(cfg.ignoreFile));
  const logPath = join(dir, 'expected.log');
  const statsPath = join(dir, 'expected.stats');
  const stats = [res.statsLine, `tail: ${res.tail}`];
  if (update) {
    writeLines(logPath, res.lines);
    if (existsSync(statsPath)) writeLines(statsPath, stats);
    return;
  }
  if (!existsSync(logPath)) {
    throw new Error(
      `golden case ${dir}: expected.log is missing. Write it by hand from the rules in test/cases/README.md ` +
        `(or run with UPDATE_GOLDEN=1 and review every line). The replay gave:\n${res.lines.join('\n')}`,
    );
  }
  const expected = readLines(logPath);
  if (JSON.stringify(expected) !== JSON.stringify(res.lines)) {
    throw new Error(`golden case ${dir}: the replay differs from expected.log (- expected, + replay):\n${diffLines(expected, res.lines)}`);
  }
  if (existsSync(statsPath)) {
    const want = readLines(statsPath);
    if (JSON.stringify(want) !== JSON.stringify(stats)) {
      throw new Error(`golden case ${dir}: the replay differs from expected.stats (- expected, + replay):\n${diffLines(want, stats)}`);
    }
  } else if (res.tail !== 'clean') {
    // A cut capture nobody meant to cut would otherwise pass with fewer lines than it holds.
    throw new Error(`golden case ${dir}: input.pcap ends with a ${res.tail} record; add expected.stats if that is the point of the case`);
  }
}

const cases = listCases(CASES_DIR);

test(`test/cases holds at least ${MIN_CASES} golden cases`, () => {
  assert.ok(cases.length >= MIN_CASES, `found ${cases.length} case folders in ${CASES_DIR}: ${cases.join(', ')}`);
});

for (const name of cases) {
  test(`golden case ${name}`, () => {
    checkCase(join(CASES_DIR, name), UPDATE);
  });
}

test('the committed synthetic captures are what make-cases.mjs builds', () => {
  const r = spawnSync(process.execPath, [GENERATOR, '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `make-cases.mjs --check failed:\n${r.stderr}${r.stdout}`);
});

// The runner itself: a folder without expected.log, or with a wrong one, must fail loudly.
test('the runner fails on a case folder without expected.log, and on a wrong one, with a diff', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ts-golden-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = join(CASES_DIR, 'tcp-flags-ipv4');
  const dir = join(root, 'no-expected');
  mkdirSync(dir);
  for (const f of ['input.pcap', 'portsentry.conf', 'args']) copyFileSync(join(src, f), join(dir, f));

  assert.deepEqual(listCases(root), ['no-expected'], 'a folder lacking expected.log is still a case');
  assert.throws(() => checkCase(dir, false), /expected\.log is missing/);
  assert.equal(existsSync(join(dir, 'expected.log')), false, 'a failing check writes nothing');

  const good = readLines(join(src, 'expected.log'));
  // One line dropped and one with a single space less (1.2's NULL line): both must show in the diff.
  const wrong = good.filter((_, k) => k !== 1).map((l) => l.replace('attackalert:  TCP NULL', 'attackalert: TCP NULL'));
  writeLines(join(dir, 'expected.log'), wrong);
  assert.throws(
    () => checkCase(dir, false),
    (e: unknown) => {
      const msg = (e as Error).message;
      assert.match(msg, /differs from expected\.log/);
      assert.ok(msg.includes(`+ ${JSON.stringify(good[1])}`), msg);
      assert.ok(msg.includes('- "attackalert: TCP NULL scan'), msg);
      assert.ok(msg.includes('+ "attackalert:  TCP NULL scan'), msg);
      return true;
    },
  );

  writeLines(join(dir, 'expected.log'), good);
  checkCase(dir, false);
  writeFileSync(join(dir, 'expected.stats'), 'adminalert: Detector statistics: frames 0\ntail: clean\n');
  assert.throws(() => checkCase(dir, false), /differs from expected\.stats/);
  rmSync(join(dir, 'args'));
  assert.throws(() => checkCase(dir, false), /args is missing/);
  writeFileSync(join(dir, 'args'), '-tcp\n');
  assert.throws(() => checkCase(dir, false), /"-tcp" is not one of/);
});

test('UPDATE_GOLDEN mode writes expected.log (and an existing expected.stats) from the replay', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ts-golden-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = join(CASES_DIR, 'truncated-last-record');
  const dir = join(root, 'c');
  mkdirSync(dir);
  for (const f of ['input.pcap', 'portsentry.conf', 'args']) copyFileSync(join(src, f), join(dir, f));
  writeFileSync(join(dir, 'expected.stats'), 'stale\n');
  checkCase(dir, true);
  assert.equal(readFileSync(join(dir, 'expected.log'), 'utf8'), readFileSync(join(src, 'expected.log'), 'utf8'));
  assert.equal(readFileSync(join(dir, 'expected.stats'), 'utf8'), readFileSync(join(src, 'expected.stats'), 'utf8'));
  checkCase(dir, false);
});
