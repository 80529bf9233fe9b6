// Deciding a run on worker threads (pool.ts) against deciding it on one thread: the same report,
// byte for byte, with Debian's real logcheck-database and a generated log; also when a worker dies
// holding a chunk, when workers are still compiling, and with sort -u.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readRuleTree } from '../src/rules-loader.js';
import { compileRules, renderReport, type RuleOptions } from '../src/core/rules.js';
import { encodeShared, MatchPool, POOL_CHUNK } from '../src/pool.js';
import { DB, generateLog, mutateLog } from './logcheck-ref.js';

const haveDb = existsSync(`${DB}/ignore.d.server`);
const SKIP = haveDb ? false : `needs Debian's logcheck-database under ${DB} (scripts/install-reference-tools)`;
const opts: RuleOptions = { level: 'server', supportCrackingIgnore: false };

test('encodeShared: each line is TextEncoder\'s bytes, newline-separated, at its offset', () => {
  const lines = ['plain', '', 'caf\xe9 \xff', 'two\nlines', 'emoji \u{1f600}', 'lone \ud800 surrogate', ' trailing  '];
  const enc = encodeShared(lines)!;
  const te = new TextEncoder();
  lines.forEach((l, k) => {
    assert.deepEqual(Buffer.from(enc.bytes.subarray(enc.offs[k]!, enc.offs[k + 1]! - 1)), Buffer.from(te.encode(l)), `line ${k}`);
    assert.equal(enc.bytes[enc.offs[k + 1]! - 1], 0x0a);
  });
});

test('a pool of two workers gives the single-thread report, byte for byte', { skip: SKIP, timeout: 120_000 }, async () => {
  const tree = readRuleTree(DB, 'debian');
  const rules = compileRules(tree, opts);
  // Enough chunks for every thread to take several, with a ragged last one.
  const input = generateLog(POOL_CHUNK * 5 + 123, 77);
  const want = renderReport(rules.buildReport(input, false));
  const pool = new MatchPool(tree, opts, undefined, 2);
  try {
    assert.equal(pool.size, 2);
    // Cold: the workers are still compiling, so the main thread may take most chunks.
    const cold = renderReport(await pool.buildReport(rules, input, false, 0));
    assert.equal(cold, want);
    // Warm: the workers take their share from the start.
    await pool.ready();
    const warm = renderReport(await pool.buildReport(rules, input, false, 0));
    assert.equal(warm, want);
    const uniq = renderReport(await pool.buildReport(rules, input, true, 0));
    assert.equal(uniq, renderReport(rules.buildReport(input, true)));
    assert.deepEqual(pool.problems, []);
    assert.ok(want.includes('Security Alerts for'), 'the generated log raises alerts (else the comparison is weak)');
    assert.ok(want.includes('Security Events for'));
  } finally {
    await pool.close();
  }
});

test('in a UTF-8 locale the workers decide as the main thread does (they write the matching text themselves)', { skip: SKIP, timeout: 120_000 }, async () => {
  const tree = readRuleTree(DB, 'debian');
  const u8: RuleOptions = { ...opts, locale: 'C.UTF-8' };
  const rules = compileRules(tree, u8);
  // Lines with bytes above 0x7f in every chunk: a worker matching them as C would differ.
  const input = mutateLog(generateLog(POOL_CHUNK + 500, 31), 8, 2);
  const want = renderReport(rules.buildReport(input, false));
  assert.notEqual(want, renderReport(compileRules(tree, opts).buildReport(input, false)), 'the locale changes this report (else the comparison is weak)');
  const pool = new MatchPool(tree, u8, undefined, 1);
  try {
    await pool.ready();
    assert.equal(renderReport(await pool.buildReport(rules, input, false, 0)), want);
    assert.equal(renderReport(await pool.buildReport(rules, input, true, 0)), renderReport(rules.buildReport(input, true)));
    assert.deepEqual(pool.problems, []);
  } finally {
    await pool.close();
  }
});

test('a worker dying with a chunk claimed: the main thread decides that chunk, the report is whole', { skip: SKIP, timeout: 120_000 }, async () => {
  const tree = readRuleTree(DB, 'debian');
  const rules = compileRules(tree, opts);
  const input = generateLog(POOL_CHUNK * 4, 5);
  const want = renderReport(rules.buildReport(input, false));
  // The worker exits right after its first claim; it claims only once it has compiled the tree.
  const pool = new MatchPool(tree, opts, undefined, 1, { exitAfterClaims: 1 });
  try {
    await pool.ready();
    const got = renderReport(await pool.buildReport(rules, input, false, 0));
    assert.equal(got, want);
    assert.equal(pool.size, 0, 'the worker is gone');
    assert.match(pool.problems.join('\n'), /exited with status 70/);
    // With no worker left, the pool decides on the main thread alone.
    assert.equal(renderReport(await pool.buildReport(rules, input, false, 0)), want);
  } finally {
    await pool.close();
  }
});

test('below the line threshold, or for a Psionic tree, the pool is not used and changes nothing', { skip: SKIP }, async () => {
  const tree = readRuleTree(DB, 'debian');
  const rules = compileRules(tree, opts);
  const input = generateLog(2000, 9);
  const pool = new MatchPool(tree, opts, undefined, 1);
  try {
    assert.equal(renderReport(await pool.buildReport(rules, input, false)), renderReport(rules.buildReport(input, false)));
  } finally {
    await pool.close();
  }
  const psionic = { layout: 'psionic' as const, hacking: 'attack\n', violations: 'denied\n', violationsIgnore: 'harmless\n', ignore: 'noise\n' };
  const prules = compileRules(psionic, opts);
  const ppool = new MatchPool(psionic, opts, undefined, 1);
  assert.equal(ppool.size, 0);
  const lines = ['an attack', 'access denied', 'denied but harmless', 'noise', 'something else'];
  assert.equal(renderReport(await ppool.buildReport(prules, lines, false, 0)), renderReport(prules.buildReport(lines, false)));
});
