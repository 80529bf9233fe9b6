// Golden cases for hostsentry (STYLE.md section 8): every folder under hostsentry/test/cases/ holds a
// wtmp in utmpdump's text form, optionally a config and a passwd file, and the exact stdout and
// stderr of `hostsentry -c CONF --passwd PASSWD --replay WTMP` (TZ=UTC). This file builds each
// binary wtmp with util-linux's `utmpdump -r`, runs the real CLI on it, and compares.
// The folder format and how to add or regenerate a case are in test/cases/README.md.
//
// UPDATE_GOLDEN=1 rewrites expected.out and expected.err from what the CLI prints instead of
// comparing. Every rewritten file must then be read by hand, line by line, against the case's
// wtmp.txt before it is committed: the point of a golden file is that a person vouched for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasUtmpdump } from './utmpdump.js';

// Compiled to hostsentry/dist/test/; the cases live in the source tree, hostsentry/test/cases/.
const CASES_DIR = fileURLToPath(new URL('../../test/cases/', import.meta.url));
const CLI = fileURLToPath(new URL('../../bin/hostsentry.js', import.meta.url));
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
/** The issue asks for at least this many; fewer means cases went missing, not that all is well. */
const MIN_CASES = 11;
/** glibc struct utmp on x86_64 Linux. */
const RECORD = 384;
/** Bytes of the `#torn` directive: a record cut short, as a writer killed mid-write leaves it. */
const TORN = 100;
/** How the replay names the wtmp file in its evidence: the temp dir is replaced by this. */
const TMP_MARK = '<tmp>';

const SKIP = hasUtmpdump() ? false : 'needs utmpdump (util-linux) to build the wtmp files';

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

/**
 * 384 bytes that look random but are the same on every run (xorshift32 from a fixed seed). The
 * first two bytes are ut_type; the seed is chosen so that it is outside 0..9, i.e. the record
 * cannot be taken for a real one (the golden case pins the reason the decoder gives).
 */
function garbage(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/**
 * One line of wtmp.txt as bytes: `\xNN` is the byte NN (for non-UTF-8 names and control
 * characters), `\\` a backslash. NUL and newline cannot be carried by utmpdump's text form (a NUL
 * ends a field, a newline a record), so they are refused rather than silently mangled.
 */
function lineBytes(line: string, where: string): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  while (i < line.length) {
    const k = line.indexOf('\\', i);
    if (k < 0) {
      parts.push(Buffer.from(line.slice(i), 'utf8'));
      break;
    }
    parts.push(Buffer.from(line.slice(i, k), 'utf8'));
    if (line[k + 1] === '\\') {
      parts.push(Buffer.from('\\'));
      i = k + 2;
      continue;
    }
    const m = /^\\x([0-9a-fA-F]{2})/.exec(line.slice(k));
    if (m === null) throw new Error(`${where}: a backslash must start \\xNN or \\\\`);
    const byte = parseInt(m[1]!, 16);
    if (byte === 0x00 || byte === 0x0a) throw new Error(`${where}: \\x${m[1]} cannot be carried by utmpdump's text form`);
    parts.push(Buffer.from([byte]));
    i = k + 4;
  }
  return Buffer.concat(parts);
}

/**
 * Builds the binary wtmp from a case's wtmp.txt: record lines (utmpdump's text form, `[type] [pid]
 * [id] [user] [line] [host] [addr] [time]`) go through `utmpdump -r`; `#zero` is one zeroed
 * record, `#garbage` one record of fixed random-looking bytes, `#torn` a final partial record of
 * 100 bytes (it must be last); other lines starting with `#` and blank lines are comments. A
 * `#word` that is not a directive is an error, so a typo cannot drop a record silently.
 */
export function buildWtmp(text: string, name = 'wtmp.txt'): Buffer {
  const out: Buffer[] = [];
  let batch: Buffer[] = [];
  let garbageCount = 0;
  let torn = false;
  const flush = (): void => {
    if (batch.length === 0) return;
    const bin = execFileSync('utmpdump', ['-r'], { input: Buffer.concat(batch), stdio: ['pipe', 'pipe', 'pipe'] });
    if (bin.length !== RECORD * batch.length) throw new Error(`${name}: utmpdump -r made ${bin.length} bytes of ${batch.length} record lines`);
    out.push(bin);
    batch = [];
  };
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const where = `${name}:${i + 1}`;
    const line = raw.trimEnd();
    if (line === '') return;
    if (torn) throw new Error(`${where}: nothing may follow #torn (a torn record can only be the last)`);
    if (line.startsWith('[')) {
      // utmpdump -r reads the first three fields by position (sscanf "[%hd] [%d] [%4c] ", then 19
      // bytes on): a shorter pid or id shifts every later field, so the shape is checked here.
      if (!/^\[[0-9]\] \[[0-9]{5}\] \[[^\]]{4}\] \[/.test(line)) {
        throw new Error(`${where}: a record line starts "[T] [PPPPP] [IIII] [" (one-digit type, five-digit pid, four-character id, as utmpdump prints them): ${JSON.stringify(line)}`);
      }
      batch.push(Buffer.concat([lineBytes(line, where), Buffer.from('\n')]));
      return;
    }
    const directive = /^#([a-z]+)\s*$/.exec(line)?.[1];
    if (directive === undefined) {
      if (line.startsWith('# ') || line === '#') return;
      throw new Error(`${where}: not a record, a directive or a comment ("# ..."): ${JSON.stringify(line)}`);
    }
    flush();
    switch (directive) {
      case 'zero':
        out.push(Buffer.alloc(RECORD));
        break;
      case 'garbage':
        out.push(garbage(RECORD, 0x9e3779b9 + garbageCount++));
        break;
      case 'torn':
        out.push(garbage(TORN, 0x7f4a7c15));
        torn = true;
        break;
      default:
        throw new Error(`${where}: unknown directive #${directive} (known: #zero, #garbage, #torn)`);
    }
  });
  flush();
  return Buffer.concat(out);
}

/** What one replay printed. */
interface Replay {
  readonly out: string;
  readonly err: string;
}

/** Runs the real CLI on a case folder, in a temp dir; paths of the temp dir are shown as <tmp>. */
function replayCase(dir: string): Replay {
  const tmp = mkdtempSync(join(tmpdir(), 'hs-golden-'));
  try {
    const wtmp = join(tmp, 'wtmp');
    writeFileSync(wtmp, buildWtmp(readFileSync(need(dir, 'wtmp.txt', 'the login records, utmpdump text'), 'utf8')));
    let conf = join(dir, 'hostsentry.yaml');
    if (!existsSync(conf)) {
      conf = join(tmp, 'hostsentry.yaml');
      writeFileSync(conf, `database: ${join(tmp, 'history')}\n`);
    }
    // Always a passwd file, never this host's: a case must not change with the machine it runs on.
    let passwd = join(dir, 'passwd');
    if (!existsSync(passwd)) {
      passwd = join(tmp, 'passwd');
      writeFileSync(passwd, '');
    }
    const r = spawnSync(process.execPath, [CLI, '-c', conf, '--passwd', passwd, '--replay', wtmp], {
      cwd: tmp,
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC' },
      timeout: 60_000,
    });
    if (r.error !== undefined) throw r.error;
    if (r.status !== 0) throw new Error(`golden case ${dir}: hostsentry exited ${String(r.status ?? r.signal)}:\n${r.stderr}`);
    const hide = (s: string): string => s.split(tmp).join(TMP_MARK);
    return { out: hide(r.stdout), err: hide(r.stderr) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Lines of a text: one per line, each ended by a newline; '' is no lines. */
function linesOf(text: string): string[] {
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

/** A line diff (longest common subsequence; cases are small), lines JSON-quoted so spacing and escapes show. */
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
 * Replays one case folder and compares (or, with `update`, rewrites) expected.out and
 * expected.err. Throws an Error naming the case and showing a diff when anything differs or a
 * required file is missing.
 */
function checkCase(dir: string, update: boolean): void {
  const r = replayCase(dir);
  const files: ReadonlyArray<readonly [string, string]> = [
    ['expected.out', r.out],
    ['expected.err', r.err],
  ];
  if (update) {
    for (const [f, text] of files) writeFileSync(join(dir, f), text);
    return;
  }
  for (const [f, text] of files) {
    const p = join(dir, f);
    if (!existsSync(p)) {
      throw new Error(`golden case ${dir}: ${f} is missing. Write it by hand (or run with UPDATE_GOLDEN=1 and read every line). The replay gave:\n${text}`);
    }
    const want = readFileSync(p, 'utf8');
    if (want !== text) throw new Error(`golden case ${dir}: the replay differs from ${f} (- expected, + replay):\n${diffLines(linesOf(want), linesOf(text))}`);
  }
}

const cases = listCases(CASES_DIR);

test(`test/cases holds at least ${MIN_CASES} golden cases`, () => {
  assert.ok(cases.length >= MIN_CASES, `found ${cases.length} case folders in ${CASES_DIR}: ${cases.join(', ')}`);
});

for (const name of cases) {
  test(`golden case ${name}`, { skip: SKIP }, () => {
    checkCase(join(CASES_DIR, name), UPDATE);
  });
}

test('wtmp.txt directives: #zero, #garbage and #torn give the bytes they promise; typos are errors', { skip: SKIP }, () => {
  const rec = '[7] [01000] [ts/0] [alice] [pts/0] [192.0.2.1] [192.0.2.1] [2026-11-01T09:00:00,000000+00:00]';
  const bin = buildWtmp(['# a comment', rec, '#zero', '', '#garbage', rec, '#torn'].join('\n'));
  assert.equal(bin.length, 4 * RECORD + TORN);
  assert.ok(bin.subarray(RECORD, 2 * RECORD).every((b) => b === 0), '#zero is 384 zero bytes');
  const g = bin.subarray(2 * RECORD, 3 * RECORD);
  assert.ok(g.filter((b) => b === 0).length < 16, '#garbage is not mostly zeros');
  assert.ok(g.equals(buildWtmp('#garbage')), '#garbage is the same bytes every time');
  assert.ok(bin.subarray(0, RECORD).equals(bin.subarray(3 * RECORD, 4 * RECORD)));
  assert.equal(bin.readInt16LE(0), 7);
  assert.equal(bin.subarray(44, 49).toString('latin1'), 'alice');
  // \xNN escapes reach the record as raw bytes.
  const esc = buildWtmp('[7] [01000] [ts/0] [al\\xffce] [pts/0] [h\\x1bx] [0.0.0.0] [2026-11-01T09:00:00,000000+00:00]');
  assert.deepEqual([...esc.subarray(44, 49)], [0x61, 0x6c, 0xff, 0x63, 0x65]);
  assert.deepEqual([...esc.subarray(76, 79)], [0x68, 0x1b, 0x78]);
  assert.throws(() => buildWtmp('#zeroed'), /unknown directive #zeroed/);
  assert.throws(() => buildWtmp('#torn\n#zero'), /nothing may follow #torn/);
  assert.throws(() => buildWtmp('7 1000 pts/0'), /not a record, a directive or a comment/);
  assert.throws(() => buildWtmp('[7] [1000] [ts/0] [alice] [pts/0] [] [0.0.0.0] [2026-11-01T09:00:00,000000+00:00]'), /five-digit pid/);
  assert.throws(() => buildWtmp('[7] [01000] [ts/0] [a\\x0ab] [pts/0] [] [0.0.0.0] [2026-11-01T09:00:00,000000+00:00]'), /cannot be carried/);
});

// The runner itself: a folder without an expected file, or with a wrong one, must fail loudly.
test('the runner fails on a case without expected.out, and on a wrong one, with a diff; UPDATE_GOLDEN rewrites', { skip: SKIP }, (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hs-golden-runner-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'c');
  mkdirSync(dir);
  const src = join(CASES_DIR, 'zeroed-record');
  for (const f of ['wtmp.txt', 'expected.out', 'expected.err']) copyFileSync(join(src, f), join(dir, f));
  checkCase(dir, false);

  const good = readFileSync(join(dir, 'expected.out'), 'utf8');
  const lines = linesOf(good);
  assert.ok(lines.length >= 2, 'the zeroed-record case reports something');
  writeFileSync(join(dir, 'expected.out'), `${lines.slice(1).join('\n')}\n`);
  assert.throws(
    () => checkCase(dir, false),
    (e: unknown) => {
      const msg = (e as Error).message;
      assert.match(msg, /differs from expected\.out/);
      assert.ok(msg.includes(`+ ${JSON.stringify(lines[0])}`), msg);
      return true;
    },
  );
  writeFileSync(join(dir, 'expected.err'), 'hostsentry: 0 login records, 0 anomalies\n');
  writeFileSync(join(dir, 'expected.out'), good);
  assert.throws(() => checkCase(dir, false), /differs from expected\.err/);

  checkCase(dir, true);
  assert.equal(readFileSync(join(dir, 'expected.out'), 'utf8'), good);
  assert.equal(readFileSync(join(dir, 'expected.err'), 'utf8'), readFileSync(join(src, 'expected.err'), 'utf8'));
  rmSync(join(dir, 'expected.out'));
  assert.throws(() => checkCase(dir, false), /expected\.out is missing/);
  rmSync(join(dir, 'wtmp.txt'));
  assert.throws(() => checkCase(dir, false), /wtmp\.txt is missing/);
});

test('--passwd is for --replay only, and a missing file is a usage error, not "no accounts"', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hs-golden-passwd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'hostsentry.yaml');
  writeFileSync(conf, `database: ${join(dir, 'history')}\n`);
  writeFileSync(join(dir, 'wtmp'), '');
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, '-c', conf, ...args], { encoding: 'utf8', timeout: 30_000 });
  const alone = run(['--passwd', '/etc/passwd']);
  assert.equal(alone.status, 64, alone.stderr);
  assert.match(alone.stderr, /--passwd goes only with --replay/);
  const missing = run(['--passwd', join(dir, 'nope'), '--replay', join(dir, 'wtmp')]);
  assert.equal(missing.status, 64, missing.stderr);
  assert.match(missing.stderr, /no such file/);
  const help = run(['--help']);
  assert.doesNotMatch(help.stdout, /--passwd/, 'a test aid, not part of the documented interface');
});
