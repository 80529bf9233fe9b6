import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeLines } from '../src/core/summary.js';
import { renderReport } from '../src/report.js';
import type { ReportInput, ReportSection } from '../src/report.js';

// Every expected output marked "real" below is what Debian's syslog-summary 1.14-2.3 (package
// syslog-summary_1.14-2.3~bpo12+1_all.deb from bookworm-backports, the Python 3 port whose source is
// github.com/shtrom/syslog-summary, file `syslog-summary`; python3-magic present, as its Recommends
// installs it) printed for the same lines, written one per line to a file and run as logcheck runs
// it: `syslog-summary FILE | grep -Ev "^Summarizing "`, with /usr/bin/python3 3.11 under LANG=C.
// The script itself is not in this repository; the outputs are copied here as literal data.

/** What logcheck prints for a section's text in the report: the lines, one per line. */
const HEAD = '       0 Lines skipped (already processed)';
const TAIL = ['       0 Patterns to ignore', '       0 Ignored lines'] as const;

// A varied section: repeats that differ only in time stamp or pid, other hosts, RFC 3339 stamps with
// and without fractions (and the Z / -05:00 forms the script does not know), dmesg stamps, the odd
// `Www Mmm hhmm:ss` stamps, brackets that are not pids, lines that are not syslog, trailing white
// space (Unicode included), TAB, CR inside and at the end, non-ASCII text and digits, a BOM, an
// astral character, a line starting `Summarizing ` (grep only drops the script's own header).
const MIXED: readonly string[] = [
  'Nov 21 10:00:01 host sshd[123]: Failed password for root from 198.18.0.1 port 22 ssh2',
  'Nov 21 10:00:05 host sshd[124]: Failed password for root from 198.18.0.1 port 22 ssh2',
  'Nov 21 10:00:09 other sshd[125]: Failed password for root from 198.18.0.1 port 22 ssh2',
  'not syslog at all',
  '2026-11-21T10:00:01.123456+01:00 host kernel: x',
  '2026-11-21T10:00:02+01:00 host kernel: x',
  '2026-11-21T10:00:02Z host kernel: zulu',
  '2026-11-21T10:00:02-05:00 host kernel: minus',
  'Nov  1 01:02:03 host CRON[1]: (root) CMD (x)',
  'Nov  1 01:02:04 host CRON[22]: (root) CMD (x)',
  '[  123.456789] usb 1-1: new device',
  '[12.5] usb 1-1: new device',
  'Mon Nov 2112:34 host prog[9]: weird',
  'Mon Nov  112:34:56 host prog[9]: weird2',
  'Nov 21 10:00:01 host prog[abc]: not a pid',
  'Nov 21 10:00:01 host prog[]: empty pid',
  'Nov 21 10:00:01 host a[1]: b[2]: c',
  'Nov 21 10:00:01  [1]: x',
  'Nov 21 10:00:01 prog[7]: no host',
  'Nov 21 10:00:01 host prog[7]:nospace',
  'Nov 21 10:00:01 host prog [7]: spaced',
  'Nov 21 10:00:01 host x y[7]: two spaces',
  'message with stamp 2026-01-01T00:00:00+00:00 inside',
  'Nov 21 10:00:01 host kernel: 2026-01-01T00:00:00+00:00 inner',
  'Nov 21 10:00:01 host prog[1]: caf\u00e9 \u00fcn\u00efcode',
  'Nov 21 10:00:01 host prog[2]: caf\u00e9 \u00fcn\u00efcode',
  'hello\u00a0\u001f ',
  'trailing spaces   ',
  'tab\tinside',
  'Nov 21 10:00:01 host prog[1]: a\rb',
  'cr at end\r',
  '\u0661\u0662\u0663\u0664-01-01T00:00:00+00:00 arabic digits',
  'Nov 21 10:00:01 host prog[\u0661]: arabic pid',
  'Summarizing looks like a header',
  'Nov 21 10:00:01 host prog[1]: %s %d percent',
  '\ufeffbom line',
  'Nov 21 10:00:01 host emoji[1]: \u{1f600} ok',
];

// Real output for MIXED.
const MIXED_SUMMARY: readonly string[] = [
  HEAD,
  'line has bad date <not syslog at all>',
  'line has bad date <2026-11-21T10:00:02Z host kernel: zulu>',
  'line has bad date <2026-11-21T10:00:02-05:00 host kernel: minus>',
  'line has bad date <hello>',
  'line has bad date <trailing spaces>',
  'line has bad date <tab\tinside>',
  'line has bad date <b>',
  'line has bad date <cr at end>',
  'line has bad date <Summarizing looks like a header>',
  'line has bad date <\ufeffbom line>',
  ...TAIL,
  '       2 host sshd: Failed password for root from 198.18.0.1 port 22 ssh2',
  '        1 other sshd: Failed password for root from 198.18.0.1 port 22 ssh2',
  '        1 not syslog at all',
  '        2 host kernel: x',
  '        1 2026-11-21T10:00:02Z host kernel: zulu',
  '        1 2026-11-21T10:00:02-05:00 host kernel: minus',
  '        2 host CRON: (root) CMD (x)',
  '        2 usb 1-1: new device',
  '        1 host prog: weird',
  '        1 host prog: weird2',
  '        1 host prog[abc]: not a pid',
  '        1 host prog[]: empty pid',
  '        1 host a: b[2]: c',
  '        1  : x',
  '        1 prog: no host',
  '        1 host prog[7]:nospace',
  '        1 host prog [7]: spaced',
  '        1 host x y[7]: two spaces',
  '        1 inside',
  '        1 host kernel: 2026-01-01T00:00:00+00:00 inner',
  '        2 host prog: caf\u00e9 \u00fcn\u00efcode',
  '        1 hello\u00a0\u001f ',
  '        1 trailing spaces   ',
  '        1 tab\tinside',
  '        1 host prog: a',
  '        1 b',
  '        1 cr at end',
  '        1 arabic digits',
  '        1 host prog[\u0661]: arabic pid',
  '        1 Summarizing looks like a header',
  '        1 host prog: %s %d percent',
  '        1 \ufeffbom line',
  '        1 host emoji: \u{1f600} ok',
  ' ',
];

/** Text to its UTF-8 bytes as a byte string (one char per byte), as a latin1 file read gives them. */
const bytesOf = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

test('summarizes a varied section exactly as the real syslog-summary does', () => {
  assert.deepEqual(summarizeLines(MIXED), MIXED_SUMMARY);
});

test('byte-string lines that are UTF-8 give the same output, as bytes', () => {
  assert.deepEqual(summarizeLines(MIXED.map(bytesOf), { bytes: true }), MIXED_SUMMARY.map(bytesOf));
});

test('counts are right-aligned in eight columns; one line gives no leading-space lines', () => {
  // Real output for twelve copies of the line.
  assert.deepEqual(summarizeLines(Array<string>(12).fill('Jan  1 00:00:00 h p[1]: a')), [HEAD, ...TAIL, '      12 h p: a', ' ']);
  // Real output for a single line.
  assert.deepEqual(summarizeLines(['Jan  1 00:00:00 h p[1]: a']), [HEAD, ...TAIL, '       1 h p: a', ' ']);
});

test('the same message from two hosts, or differing in more than time and pid, stays apart', () => {
  const out = summarizeLines([
    'Jan  1 00:00:00 web1 sshd[1]: Accepted publickey for alice',
    'Jan  1 00:00:01 web2 sshd[2]: Accepted publickey for alice',
    'Jan  1 00:00:02 web1 sshd[3]: Accepted publickey for bob',
    'Jan  1 00:00:03 web1 sshd[4]: Accepted publickey for alice',
  ]);
  assert.deepEqual(out, [
    HEAD,
    ...TAIL,
    '       2 web1 sshd: Accepted publickey for alice',
    '        1 web2 sshd: Accepted publickey for alice',
    '        1 web1 sshd: Accepted publickey for bob',
    ' ',
  ]);
});

test('blank lines are skipped (the real script never returns on one) and nothing counted ends with an empty line', () => {
  // The real 1.14-2.3 `continue`s on a blank line without reading the next one and spins for ever;
  // skipping it is what that code means to do. With nothing counted, its last print() gives ''.
  assert.deepEqual(summarizeLines(['', '   ', '\t']), [HEAD, ...TAIL, '']);
  assert.deepEqual(summarizeLines(['Jan  1 00:00:00 h p: a', '', 'Jan  1 00:00:09 h p: a']), [HEAD, ...TAIL, '       2 h p: a', ' ']);
  // Real output for an empty file.
  assert.deepEqual(summarizeLines([]), [HEAD, ...TAIL, '']);
});

test('byte strings that are not UTF-8 are summarized byte for byte (the real script dies on them)', () => {
  // The real script raises UnicodeDecodeError here and prints only the first header line; we keep
  // the bytes, strip ASCII white space only, and leave the other lines' handling unchanged.
  const out = summarizeLines(['Jan  1 00:00:00 h p[1]: caf\xe9', 'Jan  1 00:00:05 h p[2]: caf\xe9', 'bad \xa0\xff\xa0', 'Jan  1 00:00:00 h p[3]: caf\xc3\xa9'], { bytes: true });
  assert.deepEqual(out, [HEAD, 'line has bad date <bad \xa0\xff\xa0>', ...TAIL, '       2 h p: caf\xe9', '        1 bad \xa0\xff\xa0', '        1 h p: caf\xc3\xa9', ' ']);
});

test('stays linear on long lines built to make the pid and RFC 3339 patterns backtrack', () => {
  const long = [
    `Nov 21 10:00:01 ${'a'.repeat(1_000_000)}`,
    `x${'[1'.repeat(300_000)} ${'2026-01-01T00:00:'.repeat(30_000)}${'1'.repeat(100_000)}`,
  ];
  const t0 = process.hrtime.bigint();
  const out = summarizeLines(long);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(out.length, 7);
  // Quadratic backtracking takes minutes here; linear work takes milliseconds even on a busy machine.
  assert.ok(ms < 5000, `took ${ms} ms`);
});

const WORDS = { attack: 'Security Alerts', security: 'Security Events', events: 'System Events' } as const;

function input(sections: ReportSection[], over: Partial<ReportInput> = {}): ReportInput {
  return { sections, host: 'myhost', date: '2024-01-02 03:04 +0000', reboot: false, intro: false, maxSize: 10 * 1024 * 1024, subjectWords: WORDS, ...over };
}

const SECTIONS: ReportSection[] = [
  {
    kind: 'violation',
    title: 'Security Events',
    lines: ['Jan  1 00:00:01 host sshd[1]: failed password for root', 'Jan  1 00:00:02 host sshd[2]: failed password for root', 'Jan  1 00:00:02 other sshd[3]: failed password for root'],
  },
  { kind: 'unusual', title: 'System Events', lines: ['2026-11-21T10:00:01.5+01:00 host bar[1]: rfc', 'garbage\x1bline'] },
];

test('renderReport with summary on prints each section as logcheck -u does', () => {
  const r = renderReport(input(SECTIONS, { summary: true }));
  assert.ok(r);
  // logcheck 1.4 with SYSLOGSUMMARY=1 and the real syslog-summary gave this body for these sections
  // (the ESC is ours: the report escapes control characters after summarizing).
  assert.equal(
    r.body,
    [
      'Security Events',
      '=-=-=-=-=-=-=-=',
      HEAD,
      ...TAIL,
      '       2 host sshd: failed password for root',
      '        1 other sshd: failed password for root',
      ' ',
      '',
      'System Events',
      '=-=-=-=-=-=-=',
      HEAD,
      'line has bad date <garbage#033line>',
      ...TAIL,
      '       1 host bar: rfc',
      '        1 garbage#033line',
      ' ',
      '',
      '',
    ].join('\n'),
  );
  assert.equal(r.level, 'violation');
});

test('renderReport with summary off or absent prints the lines as they are', () => {
  const expected = [
    'Security Events',
    '=-=-=-=-=-=-=-=',
    ...SECTIONS[0]!.lines,
    '',
    'System Events',
    '=-=-=-=-=-=-=',
    '2026-11-21T10:00:01.5+01:00 host bar[1]: rfc',
    'garbage#033line',
    '',
    '',
  ].join('\n');
  assert.equal(renderReport(input(SECTIONS))?.body, expected);
  assert.equal(renderReport(input(SECTIONS, { summary: false }))?.body, expected);
});

test('renderReport cuts the summarized body, not the raw one, at maxSize', () => {
  // 400 distinct messages, each repeated 50 times: 20000 raw lines, 406 summarized ones.
  const lines: string[] = [];
  for (let rep = 0; rep < 50; rep++) for (let i = 0; i < 400; i++) lines.push(`Jan  1 00:00:${String(rep).padStart(2, '0')} host app[${rep}]: message number ${i}`);
  const sections: ReportSection[] = [{ kind: 'unusual', title: 'System Events', lines }];
  const full = renderReport(input(sections, { summary: true }));
  assert.ok(full);
  assert.equal(full.cut, undefined);
  const bodyLines = full.body.split('\n');
  // Title, underline, 3 header lines, 400 counts, the ' ' line, the blank line, and the final ''.
  assert.equal(bodyLines.length, 2 + 3 + 400 + 1 + 1 + 1);
  assert.equal(bodyLines[5], '      50 host app: message number 0');
  assert.equal(bodyLines[6], '       50 host app: message number 1');

  const cut = renderReport(input(sections, { summary: true, maxSize: 4096 }));
  assert.ok(cut?.cut);
  assert.ok(Buffer.byteLength(cut.body, 'utf8') <= 4096);
  assert.ok(cut.body.startsWith(`System Events\n=-=-=-=-=-=-=\n${HEAD}\n`));
  // What was kept plus what was left out is the whole summarized body.
  const kept = cut.body.split('\n').length - 2; // minus the notice and the final ''
  assert.equal(kept + cut.cut.lines, bodyLines.length - 1);
  assert.match(cut.body, /\[logsentry: report cut to report\.max_size \(4096 bytes\): \d+ more lines/);
});
