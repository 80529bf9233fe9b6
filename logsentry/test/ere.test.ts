// grep -E (C locale) semantics of the ERE translation: each case is checked against the expected
// answer and, when GNU grep is present, against grep itself on the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { EreList, EreSyntaxError, SharedEreSet, translateEre } from '../src/core/ere.js';

/** [pattern, line, grep -E matches?] */
const CASES: readonly (readonly [string, string, boolean])[] = [
  ['[[:alnum:]]+x', 'ab9x', true], ['^[[:alnum:]]+$', 'a-b', false], ['a[[:space:]]b', 'a\x0bb', true],
  ['[[:digit:]]{3}', 'a12b', false], ['[[:upper:]][[:lower:]]', 'Ab', true], ['[[:xdigit:]]+$', 'beef', true],
  ['[[:punct:]]', 'abc', false], ['[[:print:]]', '\xe9', false], ['[[:blank:]]', '\x0b', false],
  ['\\<foo', 'a foo', true], ['\\<foo', 'afoo', false], ['foo\\>', 'foo bar', true], ['foo\\>', 'foobar', false],
  ['\\<[a.]', 'x .', false], ['\\<[a.]', 'x a', true], ['x\\<', 'x', false], ['\\<\\<a', 'a', true], ['(\\<)a', 'ba', false],
  ['\\bfoo\\b', 'a foo.', true], ['\\Boo', 'foo', true], ['\\w+\\W', 'ab.', true], ['\\s', 'a\x0bb', true], ['\\S', ' \t', false],
  ['x{2,3}y', 'xxy', true], ['x{2,3}y', 'xy', false], ['a{,2}b', 'b', true], ['x{2}{3}', 'xxxxx', false], ['x{2}{3}', 'xxxxxx', true],
  ['a{', 'a{', true], ['a{1', 'a{1', true], ['a{1,2', 'a{1,2', true], ['{1}a', 'a', true], ['a{x}', 'a{x}', true],
  ['*a', 'a', true], ['a**', 'b', true], ['(+a)', 'a', true], ['a)', 'a)', true], ['()', 'z', true], ['a||b', 'z', true],
  ['[]a]', ']', true], ['[^]a]', ']', false], ['[a-]', '-', true], ['[]-a]', 'A', false], ['[]-a]', '^', true],
  ['[\\.]', '\\', true], ['[\\.]', 'x', false], ['[[.a.]]', 'a', true], ['[[=a=]]', 'a', true], ['[[.-.]]', '-', true],
  ['\\d', 'd', true], ['\\d', '1', false], ['\\x41', 'x41', true], ['\\{', '{', true], ['\\.', 'a', false],
  ['$a', '$a', false], ['a^', 'a^', false], ['b(^a)', 'ba', false], ['(^a)', 'a', true], ['.', '\xff', true],
  ['(a|b)\\1', 'ab', false], ['(a|b)\\1', 'bb', true], ['^(x+)-\\1$', 'xxx-xxx', true], ['^(x+)-\\1$', 'xxx-xx', false],
  ['name=([a-z.]+) .*got \\1$', 'name=a.b then got a.b', true], ['name=([a-z.]+) .*got \\1$', 'name=a.b then got a.c', false],
];

/** Patterns grep -E rejects. */
const BAD: readonly string[] = ['[a', '\\', 'a\\', '[[:foo:]]', '[:alpha:]', '[z-a]', 'a{2,1}', 'a{32768}', '(a)\\2', '(a', '[[:alpha:]-z]'];

const hasGrep = existsSync('/usr/bin/grep');

function grepSays(pattern: string, line: string): boolean | 'error' {
  const r = spawnSync('/usr/bin/grep', ['-E', '-a', '-q', '-e', pattern], { input: Buffer.from(line + '\n', 'latin1'), env: { LC_ALL: 'C' } });
  return r.status === 0 ? true : r.status === 1 ? false : 'error';
}

test('each construct matches as grep -E does', () => {
  for (const [p, line, want] of CASES) {
    const l = new EreList([p]);
    assert.deepEqual(l.errors, [], `${p} compiles`);
    assert.equal(l.test(line), want, `${JSON.stringify(p)} on ${JSON.stringify(line)}`);
    if (hasGrep) assert.equal(grepSays(p, line), want, `grep itself agrees on ${JSON.stringify(p)} / ${JSON.stringify(line)}`);
  }
});

test('patterns grep rejects are syntax errors, reported by list index', () => {
  for (const p of BAD) {
    assert.throws(() => translateEre(p), EreSyntaxError, p);
    if (hasGrep) assert.equal(grepSays(p, 'a'), 'error', `grep rejects ${p}`);
  }
  const l = new EreList(['ok', '[bad', 'fine']);
  assert.deepEqual(l.errors.map((e) => e.index), [1]);
  assert.equal(l.test('fine'), true);
  assert.deepEqual(l.matching('ok fine'), [0, 2]);
});

test('back-references and irregular word anchors are flagged inexact, plain rules exact', () => {
  assert.equal(translateEre('^(a)\\1').exact, false);
  assert.equal(translateEre('(\\<)a').exact, false);
  assert.equal(translateEre('\\<foo\\>').exact, true);
  assert.equal(translateEre('^(\\w{3} [ :[:digit:]]{11}) x[[:alnum:]]+$').exact, true);
  assert.equal(new EreList(['[a-c]x'], true).test('BX'), true);
  assert.equal(new EreList(['abc'], true).test('xABCx'), true, 'ignore-case (Psionic 1.1 egrep -i)');
});

test('a 1 MB line and evil-regex shapes run in bounded time', (t) => {
  const big = 'a'.repeat(1024 * 1024);
  const evil = new EreList(['^(a+)+$', '(a|aa)*b', '(.*a){20}x', '^(\\w+\\s?)*$']);
  let t0 = performance.now();
  assert.equal(evil.test(big + '!'), false);
  let ms = performance.now() - t0;
  t.diagnostic(`4 evil patterns on a 1 MB line: ${ms.toFixed(1)} ms`);
  assert.ok(ms < 2000, `took ${ms} ms`);
  // A back-reference rule on a long line: the RE2 superset matches, the exact matcher stops at its budget.
  const back = new EreList(['^(a+)+-\\1\\1$']);
  t0 = performance.now();
  const r = back.test('a'.repeat(40) + '-aaa');
  ms = performance.now() - t0;
  t.diagnostic(`budgeted back-reference matcher: ${ms.toFixed(1)} ms, answer ${String(r)}`);
  assert.ok(ms < 2000, `took ${ms} ms`);
  assert.equal(r, undefined, 'over budget: cannot tell');
  t0 = performance.now();
  const wide = new EreList(['x(y|.)*z\\1']);
  assert.equal(wide.test(big), false);
  ms = performance.now() - t0;
  t.diagnostic(`back-reference rule whose superset misses on 1 MB: ${ms.toFixed(1)} ms`);
  assert.ok(ms < 2000);
});

test('a rule tree too big for one RE2.Set is split, not fatal (RE2 refuses ~1,500 such rules at 64 MB)', () => {
  const shared = new SharedEreSet('u');
  const pats = Array.from({ length: 1500 }, (_, i) => `^\\w{3} [ :[:digit:]]{11} [._[:alnum:]-]+ prog${i}\\[[[:digit:]]{1,5}\\]: [[:alnum:] ]{1,200} (from|to) [.:[:xdigit:]]{3,39}( port [0-9]{1,5})?$`);
  // Two "files" sharing the set, as compileRules makes them.
  const a = new EreList(pats.slice(0, 750), false, shared);
  const b = new EreList(pats.slice(750), false, shared);
  const line = 'Nov 21 10:00:00 host prog1234[42]: connection closed from 192.0.2.7 port 22';
  assert.equal(a.test(line), false);
  assert.equal(b.test(line), true);
  assert.deepEqual(b.matching(line), [1234 - 750]);
  assert.equal(b.test('Nov 21 10:00:00 host prog1234[42]: nothing to see'), false);
});
