// The fast classification paths against plain reference implementations: the radix key sort against
// a comparison sort, the chunked UTF-8 encoder against TextEncoder line by line, patterns for the
// budgeted matcher answered through the shared RE2.Set against their own RE2, and the one-pass
// report on a small rule tree whose expected report is worked out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeLines, EreList, SharedEreSet } from '../src/core/ere.js';
import { compileRules, prepareLines, renderReport, type RuleFileInput } from '../src/core/rules.js';
import { prng } from './logcheck-ref.js';

/** `sort -k 1,3 -s` then the trailing-space sed, the slow obvious way. */
function referencePrepare(input: readonly string[]): string[] {
  const keyEnd = (l: string): number => {
    let p = 0;
    const blank = (c: number): boolean => c === 0x20 || c === 0x09;
    for (let f = 0; f < 3; f++) {
      while (p < l.length && blank(l.charCodeAt(p))) p++;
      while (p < l.length && !blank(l.charCodeAt(p))) p++;
    }
    return p;
  };
  return input
    .map((l, i) => ({ l, i, k: l.slice(0, keyEnd(l)) }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i))
    .map((x) => x.l.replace(/[ \t\n\v\f\r]+$/, ''));
}

test('the radix key sort orders lines exactly as a stable comparison sort on the key', () => {
  const r = prng(7);
  const alphabet = ['a', 'b', ' ', '\t', ':', '\x00', '\x01', '\xff', '\x7f', '1', '2'];
  const lines: string[] = [];
  // Few distinct characters: many equal keys (stability), keys that are prefixes of others, keys
  // longer than the 16 bytes the radix passes look at that share those 16 bytes, NUL bytes.
  for (let i = 0; i < 5000; i++) {
    const len = Math.floor(r() * 40);
    let l = '';
    for (let j = 0; j < len; j++) l += alphabet[Math.floor(r() * alphabet.length)]!;
    lines.push(`${l} #${i}  `);
  }
  const long = 'Nov 21 10:00:00.123456789';
  lines.push(`${long}9 z`, `${long} a`, `${long}8 b`, `${long} c`, 'Nov 21 10:00:00 d', 'Nov 21 10:00:00', 'Nov 21', '', '   ', '\tx\ty\tz\tw');
  for (let i = 0; i < 2000; i++) {
    const ts = `${['Jan', 'Dec', 'Oct'][Math.floor(r() * 3)]} ${String(1 + Math.floor(r() * 28)).padStart(2, ' ')} 1${Math.floor(r() * 3)}:0${Math.floor(r() * 3)}:00`;
    lines.push(`${ts} host prog[${i}]: message ${i}`);
  }
  assert.deepEqual(prepareLines(lines, false), referencePrepare(lines));
  // A char above 0xff (not a byte string) takes the comparison sort all the way.
  const wide = [...lines.slice(0, 300), 'Nov 21 10:0\u0100:00 wide', 'Nov 21 10:0\u00ff:00 byte'];
  assert.deepEqual(prepareLines(wide, false), referencePrepare(wide));
  assert.deepEqual(prepareLines([], false), []);
  // SORTUNIQ: whole lines, byte order, duplicates once.
  const dup = [...wide, ...wide.slice(0, 50)];
  const uniq = [...new Set(dup)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((l) => l.replace(/[ \t\n\v\f\r]+$/, ''));
  assert.deepEqual(prepareLines(dup, true), uniq);
});

test('the timestamp sort (every key `Mmm dd hh:mm:ss`) orders lines as the stable comparison sort does', () => {
  const r = prng(11);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec', 'Xyz'];
  const two = (n: number): string => String(n).padStart(2, '0');
  const stamp = (): string => `${months[Math.floor(r() * months.length)]} ${String(1 + Math.floor(r() * 31)).padStart(2, r() < 0.5 ? ' ' : '0')} ${two(Math.floor(r() * 24))}:${two(Math.floor(r() * 60))}:${two(Math.floor(r() * 3))}`;
  const lines: string[] = [];
  // Many equal stamps (stability), a stamp alone, a tab after the stamp, trailing blanks.
  for (let i = 0; i < 20000; i++) {
    const ts = stamp();
    const kind = i % 50;
    lines.push(kind === 0 ? ts : kind === 1 ? `${ts}\tprog: tab ${i}` : kind === 2 ? `${ts} host prog[${i}]: blank \t ` : `${ts} host prog[${i}]: message ${i}`);
  }
  assert.deepEqual(prepareLines(lines, false), referencePrepare(lines));
  // Already in order (one log): the same lines in sorted order stay as they are.
  const inOrder = referencePrepare(lines);
  assert.deepEqual(prepareLines(inOrder, false), inOrder);
  // Keys of another shape go through the general sort and are merged in: one of them, or many.
  const junk = lines.map((l, i) => (i % 7 === 0 ? `${l.slice(0, 14)}${i % 2 === 0 ? '.5' : 'x'}${l.slice(15)}` : i % 11 === 0 ? `\x01${l}` : l));
  assert.deepEqual(prepareLines(junk, false), referencePrepare(junk));
  for (const odd of ['Nov 21 10:00:00.5 host x', 'nov 21 10:00:00 host x', 'Nov 21 1:00:00 host x', 'Nov 21  10:00:00 x', '2026-11-21T10:00:00 host x', 'Nov 2x 10:00:00 x', 'Nov 21 10:00:0/ x']) {
    const mixed = [...lines.slice(0, 3000), odd, ...lines.slice(3000, 6000)];
    assert.deepEqual(prepareLines(mixed, false), referencePrepare(mixed), odd);
  }
});

test('encodeLines gives every line exactly the bytes TextEncoder gives it, in any range, reusing its buffer', () => {
  const enc = new TextEncoder();
  const r = prng(3);
  const lines: string[] = [];
  // ASCII-only runs, latin1 bytes above 0x7f, a line holding a newline, chars above 0xff, empty lines.
  for (let i = 0; i < 30000; i++) {
    const base = `Nov 21 10:00:00 host prog[${i}]: ${'x'.repeat(Math.floor(r() * 60))}`;
    const kind = i < 12000 ? 0 : Math.floor(r() * 8);
    lines.push(kind === 1 ? `${base} caf\xe9 \xff` : kind === 2 ? '' : kind === 3 && i % 97 === 0 ? `${base}\nnext` : kind === 4 ? `${base} \u20ac` : base);
  }
  let buf: ReturnType<typeof encodeLines> | undefined;
  for (const [from, to] of [[0, lines.length], [12345, 20000], [29999, 30000], [5, 5]] as const) {
    buf = encodeLines(lines, from, to, buf);
    const { bytes, offs, shift } = buf;
    for (let k = from; k < to; k++) {
      assert.deepEqual(Buffer.from(bytes.subarray(offs[k + shift]!, offs[k + shift + 1]! - 1)), Buffer.from(enc.encode(lines[k]!)), `line ${k}`);
      assert.equal(bytes[offs[k + shift + 1]! - 1], 0x0a);
    }
  }
});

test('a pattern needing the exact matcher is answered through the shared set as through its own RE2', () => {
  const pats = ['^(ab+)c\\1$', 'x\\<[[:alpha:]]+ y', 'plain'];
  const shared = new SharedEreSet('u');
  const viaShared = new EreList(pats, false, shared);
  const alone = new EreList(pats);
  shared.freeze();
  const samples = ['abbcabb', 'abbcab', 'x foo y', 'xfoo y', 'plain text', 'abcab', '', 'caf\xe9 abcab'];
  for (const s of samples) {
    assert.equal(viaShared.test(s), alone.test(s), s);
    assert.deepEqual(viaShared.matching(s), alone.matching(s), s);
    // The same through bytes primed by the caller, as buildReport does.
    shared.prime(s, new TextEncoder().encode(s));
    assert.equal(viaShared.test(s), alone.test(s), s);
  }
});

test('one-pass report: sections, order, duplicates and the cracking filter as logcheck makes them', () => {
  const files = (o: Record<string, string>): RuleFileInput[] => Object.entries(o).map(([name, text]) => ({ name, text }));
  const tree = {
    layout: 'debian' as const,
    // Back-references: the RE2 superset matches more than the rule, the budgeted matcher decides.
    cracking: files({ kernel: 'ATTACK\n', logcheck: '(evil|good)-\\1\n' }),
    crackingIgnore: files({ kernel: 'ATTACK seen\n' }),
    violations: files({ sudo: 'incorrect password\nATTACK\n', logcheck: 'FAILED\n' }),
    violationsIgnore: files({ sudo: 'user=ok\n', 'local-x': 'FAILED by bob\n' }),
    ignore: { server: files({ cron: 'CRON\\[[0-9]+\\]: (x|y)+\\1$\n', sshd: 'Accepted\n' }) },
  };
  const sec = (title: string, lines: readonly string[]): string => {
    let rule = '';
    for (let k = 0; k < title.length; k++) rule += k % 2 === 0 ? '=' : '-';
    return `${title}\n${rule}\n${lines.map((l) => `${l}\n`).join('')}\n`;
  };
  const input = [
    'Nov 21 10:00:03 h sudo: 3 incorrect password attempts user=bob',
    'Nov 21 10:00:01 h k: ATTACK seen',
    'Nov 21 10:00:02 h sshd[1]: Accepted key  ',
    'Nov 21 10:00:02 h CRON[5]: xyy',
    'Nov 21 10:00:02 h CRON[5]: xy',
    'Nov 21 10:00:00 h su: FAILED by bob',
    'Nov 21 10:00:00 h su: FAILED by eve',
    'Nov 21 10:00:03 h sudo: 3 incorrect password attempts user=bob',
    'Nov 21 10:00:04 h sudo: 1 incorrect password attempts user=ok',
    'Nov 21 10:00:05 h x: evil-evil',
    'Nov 21 10:00:05 h x: evil-good',
  ];
  const bob = 'Nov 21 10:00:03 h sudo: 3 incorrect password attempts user=bob';
  const events = sec('System Events', ['Nov 21 10:00:02 h CRON[5]: xy', 'Nov 21 10:00:05 h x: evil-good']);

  const plain = compileRules(tree, { level: 'server', supportCrackingIgnore: false });
  assert.deepEqual(plain.problems, []);
  // An alert is printed, so cracking.d also filters Security Events: the ATTACK line, which
  // violations.d/sudo matches too, is left out of them.
  assert.equal(renderReport(plain.buildReport(input, false)), [
    sec('Security Alerts for kernel', ['Nov 21 10:00:01 h k: ATTACK seen']),
    sec('Security Alerts', ['Nov 21 10:00:05 h x: evil-evil']),
    sec('Security Events', ['Nov 21 10:00:00 h su: FAILED by eve']),
    sec('Security Events for sudo', [bob, bob]),
    events,
  ].join(''));
  // With SORTUNIQ the duplicate goes.
  assert.equal(renderReport(plain.buildReport(input, true)).split(bob).length - 1, 1);

  // cracking.ignore.d drops the ATTACK line from the alerts; without evil-evil no alert is left, so
  // the cracking filter is off and the ATTACK line is a Security Event.
  const ignoring = compileRules(tree, { level: 'server', supportCrackingIgnore: true });
  assert.equal(renderReport(ignoring.buildReport(input.filter((l) => !l.endsWith('evil-evil')), false)), [
    sec('Security Events', ['Nov 21 10:00:00 h su: FAILED by eve']),
    sec('Security Events for sudo', ['Nov 21 10:00:01 h k: ATTACK seen', bob, bob]),
    events,
  ].join(''));
});

test('a line raised by several rule files is in each of their sections, also past the 254th file of a directory', () => {
  const sec = (title: string, lines: readonly string[]): string => {
    let rule = '';
    for (let k = 0; k < title.length; k++) rule += k % 2 === 0 ? '=' : '-';
    return `${title}\n${rule}\n${lines.map((l) => `${l}\n`).join('')}\n`;
  };
  // 300 cracking.d files f000..f299, file fNNN raising `tag NNN`; violations.d: two files share a line.
  const cracking = Array.from({ length: 300 }, (_, i) => ({ name: `f${String(i).padStart(3, '0')}`, text: `tag ${String(i).padStart(3, '0')}( |$)\n` }));
  cracking.push({ name: 'g-both', text: 'tag 007 and 280\n' });
  const tree = {
    layout: 'debian' as const,
    cracking,
    violations: [
      { name: 'a', text: 'shared\nonly-a\n' },
      { name: 'b', text: 'shared\n' },
    ],
    ignore: { server: [] },
  };
  const rules = compileRules(tree, { level: 'server', supportCrackingIgnore: false });
  assert.deepEqual(rules.problems, []);
  const input = [
    'Nov 21 10:00:04 h x: tag 280',
    'Nov 21 10:00:01 h x: tag 007 and 280',
    'Nov 21 10:00:03 h x: shared',
    'Nov 21 10:00:00 h x: tag 280 again',
    'Nov 21 10:00:02 h x: only-a',
    'Nov 21 10:00:05 h x: tag 007',
  ];
  assert.equal(renderReport(rules.buildReport(input, false)), [
    sec('Security Alerts for f007', ['Nov 21 10:00:01 h x: tag 007 and 280', 'Nov 21 10:00:05 h x: tag 007']),
    sec('Security Alerts for f280', ['Nov 21 10:00:00 h x: tag 280 again', 'Nov 21 10:00:04 h x: tag 280']),
    sec('Security Alerts for g-both', ['Nov 21 10:00:01 h x: tag 007 and 280']),
    sec('Security Events for a', ['Nov 21 10:00:02 h x: only-a', 'Nov 21 10:00:03 h x: shared']),
    sec('Security Events for b', ['Nov 21 10:00:03 h x: shared']),
  ].join(''));
});

test('a rule RE2 refuses (compiled together first, then alone to find it) is reported with its file and line; the rest of its file applies', () => {
  const tree = { layout: 'debian' as const, ignore: { server: [{ name: 'x', text: 'ok\n(a{1000}){1000}\nfine\n' }] } };
  const rules = compileRules(tree, { level: 'server', supportCrackingIgnore: false });
  assert.deepEqual(
    rules.problems.map((p) => `${p.file}:${p.line}`),
    ['ignore.d.server/x:2'],
  );
  assert.equal(rules.classify('fine').verdict, 'ignored');
  assert.equal(rules.classify('ok').verdict, 'ignored');
  assert.equal(rules.classify('aaa').verdict, 'unusual');
});
