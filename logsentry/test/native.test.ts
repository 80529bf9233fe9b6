// The native batch matcher (native/re2batch.cc over the system's libre2) against node-re2: for every
// pattern of Debian's real logcheck-database, the same answer on every line: a generated log, lines
// with latin1 bytes and chars beyond latin1, and lines crafted against the rules; answered a block
// at a time (as a run does) and a line at a time (as `check` does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readRuleTree } from '../src/rules-loader.js';
import { encodeLines, EreList, SharedEreSet } from '../src/core/ere.js';
import { nativeStatus } from '../src/core/native.js';
import type { DebianTreeInput } from '../src/core/rules.js';
import { DB, generateLog } from './logcheck-ref.js';

const status = nativeStatus();
const SKIP = !existsSync(`${DB}/ignore.d.server`)
  ? `needs Debian's logcheck-database under ${DB} (scripts/install-reference-tools)`
  : status !== 'loaded'
    ? `the native matcher is ${status}`
    : false;

/** Every rule file's patterns of the tree (comment and blank lines left out, as logcheck does). */
function allPatternFiles(tree: DebianTreeInput): string[][] {
  const dirs = [tree.cracking, tree.crackingIgnore, tree.violations, tree.violationsIgnore, ...Object.values(tree.ignore)];
  return dirs.flatMap((d) => (d ?? []).map((f) => f.text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))));
}

/** Each line's answer, primed a block at a time through primeEach. */
function blockAnswers(set: SharedEreSet, lines: readonly string[]): number[][] {
  const out: number[][] = [];
  const enc = encodeLines(lines, 0, lines.length);
  set.primeEach(lines, 0, lines.length, enc, (k) => out.push([...set.matches(lines[k]!)]));
  return out;
}

test('the native matcher answers every line exactly as node-re2 does, for every logcheck-database pattern', { skip: SKIP, timeout: 120_000 }, () => {
  const tree = readRuleTree(DB, 'debian');
  assert.equal(tree.layout, 'debian');
  const files = allPatternFiles(tree as DebianTreeInput);
  const native = new SharedEreSet('u', true);
  const plain = new SharedEreSet('u', false);
  for (const patterns of files) {
    void new EreList(patterns, false, native);
    void new EreList(patterns, false, plain);
  }
  native.freeze();
  plain.freeze();
  // Else both sides would be node-re2 and the comparison would prove nothing.
  assert.equal(native.usesNative, true);
  assert.equal(plain.usesNative, false);
  const lines = [
    ...generateLog(40_000, 9),
    '',
    'Nov 21 10:00:00 host sshd[1]: Failed password for r\xe9mi from 10.0.0.1 port 22 ssh2',
    'Nov 21 10:00:00 host kernel: caf\xc3\xa9 \xff\xfe broken \xc3 utf-8',
    'Nov 21 10:00:00 host su[9]: FAILED su for root by \u20ac\u{1f600} lone \ud800',
    'Nov 21 10:00:00 host kernel: ' + 'a'.repeat(300_000),
    'Nov 21 10:00:00 host sshd[1]: ' + 'Failed password for '.repeat(5_000),
    'Nov 21 10:00:00 host postfix/smtpd[1]: ' + '['.repeat(20_000) + ']'.repeat(20_000),
  ];
  const want = lines.map((l) => [...plain.matches(l)]);
  let nonEmpty = 0;
  for (const w of want) if (w.length > 0) nonEmpty++;
  // The comparison means something only if most lines match some rule.
  assert.ok(nonEmpty > lines.length / 2, `${nonEmpty} of ${lines.length} lines match a pattern`);
  const byBlock = blockAnswers(native, lines);
  const byPlainBlock = blockAnswers(plain, lines);
  for (let k = 0; k < lines.length; k++) {
    assert.deepEqual(byBlock[k], want[k], `line ${k} (block): ${lines[k]!.slice(0, 80)}`);
    assert.deepEqual(byPlainBlock[k], want[k], `line ${k} (node-re2 block): ${lines[k]!.slice(0, 80)}`);
  }
  for (let k = 0; k < lines.length; k += 97) assert.deepEqual([...native.matches(lines[k]!)], want[k], `line ${k} (alone)`);
  assert.equal(native.problem, undefined);
});

test('the native matcher gives the same report as node-re2 alone, through a whole run', { skip: SKIP, timeout: 120_000 }, async () => {
  // LOGSENTRY_NATIVE is read once per process: the node-re2 report comes from a child process.
  const { execFileSync } = await import('node:child_process');
  const script = `
    const { readRuleTree } = await import(${JSON.stringify(new URL('../src/rules-loader.js', import.meta.url).href)});
    const { compileRules, renderReport } = await import(${JSON.stringify(new URL('../src/core/rules.js', import.meta.url).href)});
    const { nativeStatus } = await import(${JSON.stringify(new URL('../src/core/native.js', import.meta.url).href)});
    const { DB, generateLog } = await import(${JSON.stringify(new URL('./logcheck-ref.js', import.meta.url).href)});
    const rules = compileRules(readRuleTree(DB, 'debian'), { level: 'server', supportCrackingIgnore: false });
    process.stdout.write(nativeStatus() + '\\n' + renderReport(rules.buildReport(generateLog(30000, 21), false)));
  `;
  const run = (env: NodeJS.ProcessEnv): string => execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, maxBuffer: 1 << 28 }).toString('latin1');
  const withNative = run({ ...process.env, LOGSENTRY_NATIVE: '1' });
  const without = run({ ...process.env, LOGSENTRY_NATIVE: '0' });
  assert.ok(withNative.startsWith('loaded\n'), withNative.slice(0, 200));
  assert.ok(without.startsWith('disabled by LOGSENTRY_NATIVE=0\n'), without.slice(0, 200));
  assert.ok(without.length > 100_000);
  assert.equal(withNative.slice('loaded\n'.length), without.slice('disabled by LOGSENTRY_NATIVE=0\n'.length));
});
