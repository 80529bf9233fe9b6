// grep -E and sed under UTF-8 locales (rules.locale C.UTF-8 / en_US.UTF-8), on bytes: each case has
// its expected answer (measured with GNU grep 3.8 / glibc 2.36) and, where grep and the locale are
// present, is checked against grep itself on the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EreList, EreSyntaxError, SharedEreSet, translateEre } from '../src/core/ere.js';
import { signatureOf, Utf8Charset } from '../src/core/utf8ctype.js';
import { SIGNATURE_BITS } from '../src/core/utf8ctype-data.js';

type Loc = 'C.UTF-8' | 'en_US.UTF-8';

/** Bytes written as \xNN in a JS string: the byte string (one char per byte). */
const b = (s: string): string => s;
/** Text as the byte string of its UTF-8. */
const u8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

/** [pattern, line, matches under C.UTF-8, under en_US.UTF-8] (pattern and line as byte strings). */
const CASES: readonly (readonly [string, string, boolean, boolean])[] = [
  // A valid character is one character, with glibc's classes.
  ['^x.x$', u8('xéx'), true, true],
  ['^x...x$', u8('xéx'), false, false],
  ['^x[[:alpha:]]x$', u8('x中x'), true, true],
  ['^x[[:alnum:]]x$', u8('x٣x'), true, true],
  ['^x[[:digit:]]x$', u8('x٣x'), false, false],
  ['^x[[:punct:]]x$', u8('x😀x'), true, true],
  ['^x[[:alnum:]]x$', u8('x😀x'), false, false],
  ['^x[[:upper:]]x$', u8('xÉx'), true, true],
  ['^x[[:lower:]]x$', u8('xÉx'), false, false],
  ['^x[[:space:]]x$', u8('x\u3000x'), true, true],
  ['^x[[:space:]]x$', u8('x\u00a0x'), false, false],
  ['^x\\sx$', u8('x\u2028x'), true, true],
  ['^x\\wx$', u8('xßx'), true, true],
  ['^x\\Wx$', u8('xßx'), false, false],
  ['^x[^[:space:]]+x$', u8('xjoséx'), true, true],
  ['^x[^a]x$', u8('x\u{10ffff}x'), true, true],
  // A bad byte is matched by nothing but itself written raw outside brackets.
  ['^x.x$', b('x\xe9x'), false, false],
  ['^x[^a]x$', b('x\xe9x'), false, false],
  ['^x\\Sx$', b('x\xe9x'), false, false],
  ['^x\\Wx$', b('x\xe9x'), false, false],
  ['^x.*$', b('x\xe9'), false, false],
  ['su: .*$', b('su: m\xfcller'), false, false],
  ['^x\xe9x$', b('x\xe9x'), true, true],
  ['^x\xe9+x$', b('x\xe9\xe9x'), true, true],
  ['^x\xe9x$', u8('xéx'), false, false],
  ['^x[\xe9]x$', b('x\xe9x'), false, false],
  ['^x[^\xe9]x$', u8('xéx'), true, true],
  ['^x..x$', b('x\xe2\x82x'), false, false],
  ['^x\xe2\x82x$', b('x\xe2\x82x'), true, true],
  ['^x.x$', b('x\xed\xa0\x80x'), false, false],
  ['^x...x$', b('x\xed\xa0\x80x'), false, false],
  ['^x\xed\xa0\x80x$', b('x\xed\xa0\x80x'), true, true],
  ['^x[^a]x$', b('x\xc0\xafx'), false, false],
  ['^x[^a][^a]x$', b('x\xc0\xafx'), false, false],
  ['^x[^a]x$', b('x\xf0\x80\x80\xafx'), false, false],
  ['^x[^a]x$', b('x\xf8\x80\x80\x80\x80x'), false, false],
  ['^x[^a]x$', b('x\xfe\x80x'), false, false],
  ['^x[^a]x$', b('x\x80x'), false, false],
  ['^x[^a]x$', b('x\xe4\xb8'), false, false],
  // The old 4-6 byte forms above U+10FFFF: characters of no class, not matched by `.`.
  ['^x[^a]x$', b('x\xf4\x90\x80\x80x'), true, true],
  ['^x.x$', b('x\xf4\x90\x80\x80x'), false, false],
  ['^x\\Wx$', b('x\xf4\x90\x80\x80x'), true, true],
  ['^x\\Sx$', b('x\xf4\x90\x80\x80x'), true, true],
  ['^x\\wx$', b('x\xf4\x90\x80\x80x'), false, false],
  ['^x[[:print:]]x$', b('x\xf4\x90\x80\x80x'), false, false],
  ['^x[^a]x$', b('x\xf5\x80\x80\x80x'), true, true],
  ['^x[^a]x$', b('x\xf8\x88\x80\x80\x80x'), true, true],
  ['^x[^a]x$', b('x\xfc\x84\x80\x80\x80\x80x'), true, true],
  ['^x\xf4\x90\x80\x80x$', b('x\xf4\x90\x80\x80x'), true, true],
  ['^x[\xf4\x90\x80\x80]x$', b('x\xf4\x90\x80\x80x'), true, true],
  // Literals written in UTF-8 match only themselves, in and out of brackets.
  [u8('^xéx$'), u8('xéx'), true, true],
  [u8('^xéx$'), u8('xèx'), false, false],
  [u8('^x[éa]x$'), u8('xèx'), false, false],
  [u8('^x[^é]x$'), u8('xèx'), true, true],
  [u8('^x[^é]x$'), u8('xéx'), false, false],
  [u8('^x\\éx$'), u8('xéx'), true, true],
  [u8('^xé{2}x$'), u8('xééx'), true, true],
  // Ranges: code points under C.UTF-8, collation under en_US.UTF-8 (the four the database uses).
  ['^x[a-z]x$', u8('xéx'), false, true],
  ['^x[a-z]x$', u8('xßx'), false, true],
  ['^x[a-z]x$', u8('xÉx'), false, false],
  ['^x[a-z]x$', 'xBx', false, false],
  ['^x[A-Z]x$', u8('xÉx'), false, true],
  ['^x[a-f]x$', u8('xéx'), false, true],
  ['^x[A-F]x$', u8('xÉx'), false, true],
  ['^x[^a-z]x$', u8('xéx'), true, false],
  ['^x[0-9]x$', u8('x٣x'), false, false],
  ['^x[0-9]x$', u8('x²x'), false, false],
  ['^x[1-5]x$', 'x3x', true, true],
  // Back-references compare characters.
  ['^(.)\\1$', u8('éé'), true, true],
  ['^(.)\\1$', u8('éè'), false, false],
  ['^(.+)\\1$', b('\xe9\xe9'), false, false],
  ['^(x[^a])\\1$', b('x\xf4\x90\x80\x80x\xf4\x90\x80\x81'), false, false],
];

/** Patterns grep refuses under the locale (it then fails the whole rule file), and en_US ranges logsentry does not model. */
const REFUSED: readonly (readonly [string, Loc, 'grep' | 'model'])[] = [
  [u8('[à-ÿ]'), 'C.UTF-8', 'grep'],
  [u8('[a-é]'), 'C.UTF-8', 'grep'],
  [u8('[à-ÿ]'), 'en_US.UTF-8', 'model'],
  ['[b-y]', 'en_US.UTF-8', 'model'],
  ['[ -~]', 'en_US.UTF-8', 'model'],
  ['[z-a]', 'C.UTF-8', 'grep'],
];

/** [pattern, line, matches with -i] (the same in both locales). */
const ICASE: readonly (readonly [string, string, boolean])[] = [
  ['^x[[:lower:]]x$', u8('xÉx'), true],
  ['^x[[:lower:]]x$', u8('x中x'), true],
  ['^x[[:upper:]]x$', u8('xéx'), true],
  [u8('^xéx$'), u8('xÉx'), true],
  [u8('^x[^é]x$'), u8('xÉx'), false],
  ['^x[^a]x$', 'xAx', false],
];

const hasGrep = existsSync('/usr/bin/grep');
const localeWorks = (l: Loc): boolean => spawnSync('locale', ['charmap'], { env: { LC_ALL: l, PATH: '/usr/bin:/bin' }, encoding: 'utf8' }).stdout?.trim() === 'UTF-8';
const LOCALES: readonly Loc[] = ['C.UTF-8', 'en_US.UTF-8'];

// The pattern goes to grep in a file: an argument would be re-encoded as UTF-8 by node.
const patFile = join(mkdtempSync(join(tmpdir(), 'ls-u8-')), 'pattern');
process.on('exit', () => rmSync(dirname(patFile), { recursive: true, force: true }));

function grepSays(locale: Loc, pattern: string, line: string, icase = false): boolean | 'error' {
  writeFileSync(patFile, Buffer.from(pattern + '\n', 'latin1'));
  const r = spawnSync('/usr/bin/grep', ['-E', '-a', '-q', ...(icase ? ['-i'] : []), '-f', patFile], { input: Buffer.from(line + '\n', 'latin1'), env: { LC_ALL: locale } });
  return r.status === 0 ? true : r.status === 1 ? false : 'error';
}

/** One pattern's list under `locale`, its charset built from the pattern as a rule text. */
function listOf(locale: Loc, patterns: readonly string[], icase = false): EreList {
  return new EreList(patterns, icase, undefined, false, Utf8Charset.forRules(locale, patterns));
}

for (const locale of LOCALES) {
  test(`${locale}: each construct matches as grep -E does`, (t) => {
    const live = hasGrep && localeWorks(locale);
    if (!live) t.diagnostic(`grep under ${locale} not available: expected answers only`);
    for (const [p, line, c, en] of CASES) {
      const want = locale === 'C.UTF-8' ? c : en;
      const l = listOf(locale, [p]);
      assert.deepEqual(l.errors, [], `${JSON.stringify(p)} compiles`);
      assert.equal(l.test(line), want, `${JSON.stringify(p)} on ${JSON.stringify(line)}`);
      // The shared set (the rule tree's path, native matcher included) answers alike.
      const cs = Utf8Charset.forRules(locale, [p]);
      const shared = new SharedEreSet('u', true, cs);
      const sl = new EreList([p], false, shared, false, cs);
      assert.equal(sl.test(line), want, `shared set: ${JSON.stringify(p)} on ${JSON.stringify(line)}`);
      if (live) assert.equal(grepSays(locale, p, line), want, `grep itself under ${locale} agrees on ${JSON.stringify(p)} / ${JSON.stringify(line)}`);
    }
    for (const [p, line, want] of ICASE) {
      assert.equal(listOf(locale, [p], true).test(line), want, `-i ${JSON.stringify(p)} on ${JSON.stringify(line)}`);
      if (live) assert.equal(grepSays(locale, p, line, true), want, `grep -i itself agrees on ${JSON.stringify(p)} / ${JSON.stringify(line)}`);
    }
  });

  test(`${locale}: ranges grep refuses, and en_US ranges not modelled, leave the rule out`, () => {
    const live = hasGrep && localeWorks(locale);
    for (const [p, loc, why] of REFUSED) {
      if (loc !== locale) continue;
      assert.throws(() => translateEre(p, false, Utf8Charset.forRules(locale, [p])), EreSyntaxError, p);
      const l = listOf(locale, ['ok', p]);
      assert.deepEqual(l.errors.map((e) => e.index), [1]);
      if (why === 'model') assert.match(l.errors[0]!.message, /does not model/);
      if (live && why === 'grep') assert.equal(grepSays(locale, p, 'a'), 'error', `grep refuses ${JSON.stringify(p)}`);
    }
  });
}

test('matching text: ASCII lines are their own; each character one stand-in; bad bytes one each', () => {
  const cs = Utf8Charset.forRules('C.UTF-8', []);
  const line = 'Nov 22 01:02:03 gw sshd[1]: ok';
  assert.equal(cs.matchText(line), line);
  const t = (s: string): string => cs.matchText(s);
  assert.equal(t(u8('é')).length, 1);
  assert.equal(t(u8('é')), t(u8('è')), 'two lower-case letters of one signature share a stand-in');
  assert.notEqual(t(u8('é')), t(u8('É')));
  assert.notEqual(t(u8('é')), t(u8('中')), 'a lower-case letter and a letter without case differ');
  assert.equal(t(u8('😀')).length, 1);
  assert.equal(t(b('\xe9')), t(b('\xa9')), 'bad bytes share one stand-in when no rule writes them');
  assert.equal(t(b('\xe2\x82')).length, 2);
  assert.equal(t(b('\xed\xa0\x80')).length, 3, 'a surrogate is three bad bytes');
  assert.equal(t(b('\xc0\xaf')).length, 2, 'an overlong form is bad bytes');
  assert.equal(t(b('\xf0\x80\x80\xaf')).length, 4);
  assert.equal(t(b('\xf4\x90\x80\x80')).length, 1, 'above U+10FFFF: one character');
  assert.equal(t(b('\xf4\x90\x80\x80')), t(b('\xfc\x84\x80\x80\x80\x80')));
  assert.equal(t(b('\xf4\x8f\xbf\xbf')).length, 1);
  assert.notEqual(t(b('\xf4\x8f\xbf\xbf')), t(b('\xf4\x90\x80\x80')), 'U+10FFFF is a character below the limit');
  assert.equal(t(b('x\xe4\xb8')).length, 3, 'a truncated sequence at the end is bad bytes');
  // A raw byte written in a rule gets its own stand-in.
  const raw = Utf8Charset.forRules('C.UTF-8', [b('user caf\xe9 ')]);
  assert.notEqual(raw.matchText(b('\xe9')), raw.matchText(b('\xea')));
  assert.equal(raw.matchText(b('\xea')), raw.matchText(b('\xa9')));
});

test('the bytes written for the matcher are the matching text in UTF-8, within the room callers give', () => {
  const cs = Utf8Charset.forRules('en_US.UTF-8', [u8('josé'), b('caf\xe9')]);
  const lines = ['plain', u8('josé 中 😀 \u3000'), b('m\xfcller \xe2\x82 \xf4\x90\x80\x80 \xc0\xaf'), b('\xe9'.repeat(50)), ''];
  for (const l of lines) {
    const buf = new Uint8Array(l.length * 3 + 4);
    const end = cs.writeMatch(l, buf, 2);
    assert.deepEqual(Buffer.from(buf.subarray(2, end)), Buffer.from(cs.matchText(l), 'utf8'), JSON.stringify(l));
    assert.ok(end - 2 <= Buffer.byteLength(l, 'latin1') * 2, 'no more than the line encoded as before');
  }
});

test("sed's trailing-space strip takes the 15 spaces above ASCII, keeps bad bytes and NBSP", () => {
  const cs = Utf8Charset.forRules('C.UTF-8', []);
  const tr = cs.trimTrailingSpace;
  assert.equal(tr(u8('a b \u3000\t ')), 'a b');
  assert.equal(tr(u8('a\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009\u200a\u2028\u2029\u205f\u1680')), 'a');
  assert.equal(tr(u8('a\u00a0')), u8('a\u00a0'));
  assert.equal(tr(u8('a\u2007')), u8('a\u2007'));
  assert.equal(tr(u8('a\u202f')), u8('a\u202f'));
  assert.equal(tr(b('a\xe9 ') + u8('\u3000')), b('a\xe9'), 'the spaces after a bad byte go, the byte stays');
  assert.equal(tr(b('a\xf0') + u8('\u3000')), b('a\xf0'), 'a bad lead byte before a space does not swallow it');
  assert.equal(tr(b('a\x80\x80')), b('a\x80\x80'));
  assert.equal(tr(b('a\xe3\x80')), b('a\xe3\x80'), 'a truncated space is not a space');
  assert.equal(tr(''), '');
  assert.equal(cs.isBlank(u8(' \u3000\t')), true);
  assert.equal(cs.isBlank(b(' \xe9')), false);
  // The tables' space class above ASCII is exactly those 15.
  const spaces: number[] = [];
  const bit = 1 << SIGNATURE_BITS.indexOf('space');
  for (let cp = 0x80; cp < 0x110000; cp++) if ((signatureOf(cp) & bit) !== 0) spaces.push(cp);
  assert.deepEqual(spaces, [0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x205f, 0x3000]);
});

test("glibc 2.36's tables as measured with grep: class sizes above ASCII", () => {
  const count = (name: (typeof SIGNATURE_BITS)[number]): number => {
    const bit = 1 << SIGNATURE_BITS.indexOf(name);
    let n = 0;
    for (let cp = 0x80; cp < 0x110000; cp++) if ((signatureOf(cp) & bit) !== 0) n++;
    return n;
  };
  assert.equal(count('alpha'), 133_994);
  assert.equal(count('alnum'), 133_994);
  assert.equal(count('digit'), 0);
  assert.equal(count('upper'), 1_956);
  assert.equal(count('lower'), 2_449);
  assert.equal(count('punct'), 148_061);
  assert.equal(count('range:a-z'), 1_341);
  assert.equal(count('range:A-Z'), 885);
});
