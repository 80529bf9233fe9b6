/**
 * The Psionic Logcheck 1.1.1 layout (logcheck.hacking, logcheck.violations,
 * logcheck.violations.ignore, logcheck.ignore) checked against the real thing.
 *
 * Every expected report below (sections, their order, duplicates, the bytes of the body and the
 * subject's last words) is what the real Psionic Logcheck 1.1.1 printed for the case's rule files
 * and log: its systems/linux/logcheck.sh and src/logtail.c as stored in the public repository
 * Distrotech/logcheck at commit 6f78e890644c1dc6e589d6b03f043c626c9fc436 (an import of the
 * Psionic tarball; logtail 1.11), built with gcc and run under LC_ALL=C with Debian 12's GNU grep
 * 3.8 as its egrep; only the script's configuration variables were changed, and its `mail -s` was
 * replaced by writing the body and subject to files. No 1.1.1 code is in this repository.
 *
 * What logsentry deliberately does differently, and so is not expected here: control characters in
 * a reported line are escaped (`#033`), where 1.1 mailed them raw (see report.ts escapeControls);
 * a rule that does not compile is left out and named in an `E:` line, where 1.1's egrep failed the
 * whole file (no section at all from it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileRules, type PsionicTreeInput, type Verdict } from '../src/core/rules.js';
import { escapeControls, formatSubjectDate, renderPsionicReport, PSIONIC_DATE_FORMAT, type ReportSection } from '../src/report.js';

const CLI = fileURLToPath(new URL('../../bin/logsentry.js', import.meta.url));

/** One comparison: the four files (absent: the file did not exist), the log, and 1.1.1's report. */
interface Case {
  readonly name: string;
  readonly hacking?: string;
  readonly violations?: string;
  readonly violationsIgnore?: string;
  readonly ignore?: string;
  /** Log lines as byte strings (latin1: one char per byte). */
  readonly log: readonly string[];
  /** 1.1.1's subject after `<host> <date> `; null: it mailed nothing. */
  readonly subject: string | null;
  /** 1.1.1's mail body, byte for byte ('' when it mailed nothing). */
  readonly body: string;
}

const CASES: readonly Case[] = [
  {
    name: 't1: every file, a line in several sections',
    hacking: 'ATTACK\nfoo.*bar\n',
    violations: 'failed\nrefused\n',
    violationsIgnore: 'stat=Deferred\n',
    ignore: 'cron.*CMD\n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: Failed password for root',
      'Nov 22 01:00:01 h CRON[2]: (root) CMD (x)',
      'Nov 22 01:00:02 h kernel: ATTACK here',
      'Nov 22 01:00:03 h sendmail[3]: refused stat=Deferred',
      'Nov 22 01:00:04 h other: hello',
    ],
    subject: 'ACTIVE SYSTEM ATTACK!',
    body: [
      '',
      'Active System Attack Alerts',
      '=-=-=-=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:02 h kernel: ATTACK here',
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: Failed password for root',
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: Failed password for root',
      'Nov 22 01:00:01 h CRON[2]: (root) CMD (x)',
      'Nov 22 01:00:02 h kernel: ATTACK here',
      'Nov 22 01:00:03 h sendmail[3]: refused stat=Deferred',
      'Nov 22 01:00:04 h other: hello',
    ].join('\n') + '\n',
  },
  {
    name: 't2: case: hacking/violations with -i, the ignore files case-sensitive',
    hacking: 'attack\nWiz\n',
    violations: 'FAILED\nrefused\n',
    violationsIgnore: 'stat=deferred\nUser Unknown\n',
    ignore: 'cron.*CMD\nsshd.*Accepted\n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password for root',
      'Nov 22 01:00:01 h CRON[2]: (root) CMD (x)',
      'Nov 22 01:00:02 h kernel: Attack here',
      'Nov 22 01:00:03 h sendmail[3]: REFUSED stat=Deferred',
      'Nov 22 01:00:04 h sendmail[3]: refused stat=deferred',
      'Nov 22 01:00:05 h cron[4]: (root) CMD (y)',
      'Nov 22 01:00:06 h sshd[5]: accepted key',
      'Nov 22 01:00:07 h sshd[5]: Accepted key',
      'Nov 22 01:00:08 h x: WIZ user unknown',
      'Nov 22 01:00:09 h x: refused User Unknown',
    ],
    subject: 'ACTIVE SYSTEM ATTACK!',
    body: [
      '',
      'Active System Attack Alerts',
      '=-=-=-=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:02 h kernel: Attack here',
      'Nov 22 01:00:08 h x: WIZ user unknown',
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password for root',
      'Nov 22 01:00:03 h sendmail[3]: REFUSED stat=Deferred',
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password for root',
      'Nov 22 01:00:01 h CRON[2]: (root) CMD (x)',
      'Nov 22 01:00:02 h kernel: Attack here',
      'Nov 22 01:00:03 h sendmail[3]: REFUSED stat=Deferred',
      'Nov 22 01:00:04 h sendmail[3]: refused stat=deferred',
      'Nov 22 01:00:06 h sshd[5]: accepted key',
      'Nov 22 01:00:08 h x: WIZ user unknown',
      'Nov 22 01:00:09 h x: refused User Unknown',
    ].join('\n') + '\n',
  },
  {
    name: 't3: an empty line in logcheck.hacking matches every line; comment lines are patterns',
    hacking: 'ATTACK\n\n',
    violations: '# comment\nfailed\n',
    violationsIgnore: '#\nstat=Deferred\n',
    ignore: '# cron stuff\ncron.*CMD\n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
    ],
    subject: 'ACTIVE SYSTEM ATTACK!',
    body: [
      '',
      'Active System Attack Alerts',
      '=-=-=-=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
    ].join('\n') + '\n',
  },
  {
    name: 't3b: an empty line in logcheck.ignore drops everything, in logcheck.violations.ignore every violation',
    hacking: 'ATTACK\n',
    violations: 'failed\n',
    violationsIgnore: 'stat=Deferred\n\n',
    ignore: 'cron\n\nsshd\n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
      'Nov 22 01:00:05 h k: ATTACK',
    ],
    subject: 'ACTIVE SYSTEM ATTACK!',
    body: [
      '',
      'Active System Attack Alerts',
      '=-=-=-=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:05 h k: ATTACK',
    ].join('\n') + '\n',
  },
  {
    name: 't4: no logcheck.violations.ignore: no Security Violations section',
    hacking: 'ATTACK\n',
    violations: 'failed\n',
    ignore: 'cron\n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
    ],
    subject: 'system check',
    body: [
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
    ].join('\n') + '\n',
  },
  {
    name: 't4b: an empty (0-byte) logcheck.violations.ignore drops nothing; violations only',
    hacking: 'ZZZZ\n',
    violations: 'failed\n',
    violationsIgnore: '',
    ignore: 'cron\nsshd\nx:\n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
    ],
    subject: 'system check',
    body: [
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:03 h x: failed # not ignored',
    ].join('\n') + '\n',
  },
  {
    name: 't5: no logcheck.hacking and no logcheck.ignore',
    violations: 'failed\n',
    violationsIgnore: 'nothing\n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
    ],
    subject: 'system check',
    body: [
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:03 h x: failed # not ignored',
    ].join('\n') + '\n',
  },
  {
    name: 't5b: everything ignored: no report',
    ignore: 'Nov\n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
    ],
    subject: null,
    body: '',
  },
  {
    name: 't6: regex-special patterns and lines (ERE, back-reference, anchors, tab)',
    hacking: 'a\\.b\n[0-9]{3}x\n\\(paren\\)\nfoo|bar\n^Dec\nx{2}y\n(ab)\\1\nend$\n',
    violations: '\\$HOME\ntab\there\nc\\+\\+\n',
    violationsIgnore: 'zz\n',
    ignore: 'keep.*me\n\\[ok\\]\n',
    log: [
      'Nov 22 01:00:00 h x: a.b',
      'Nov 22 01:00:01 h x: aXb',
      'Nov 22 01:00:02 h x: 123x',
      'Nov 22 01:00:03 h x: (paren)',
      'Nov 22 01:00:04 h x: FOO',
      'Dec 22 01:00:05 h x: dec',
      'Nov 22 01:00:06 h x: xxy',
      'Nov 22 01:00:07 h x: ABAB',
      'Nov 22 01:00:08 h x: the end',
      'Nov 22 01:00:09 h x: the end ',
      'Nov 22 01:00:10 h x: $HOME set',
      'Nov 22 01:00:11 h x: tab\there',
      'Nov 22 01:00:12 h x: C++',
      'Nov 22 01:00:13 h x: [ok] keep it me',
      'Nov 22 01:00:14 h x: [OK]',
    ],
    subject: 'ACTIVE SYSTEM ATTACK!',
    body: [
      '',
      'Active System Attack Alerts',
      '=-=-=-=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h x: a.b',
      'Nov 22 01:00:02 h x: 123x',
      'Nov 22 01:00:03 h x: (paren)',
      'Nov 22 01:00:04 h x: FOO',
      'Dec 22 01:00:05 h x: dec',
      'Nov 22 01:00:06 h x: xxy',
      'Nov 22 01:00:07 h x: ABAB',
      'Nov 22 01:00:08 h x: the end',
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:10 h x: $HOME set',
      'Nov 22 01:00:11 h x: tab\there',
      'Nov 22 01:00:12 h x: C++',
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h x: a.b',
      'Nov 22 01:00:01 h x: aXb',
      'Nov 22 01:00:02 h x: 123x',
      'Nov 22 01:00:03 h x: (paren)',
      'Nov 22 01:00:04 h x: FOO',
      'Dec 22 01:00:05 h x: dec',
      'Nov 22 01:00:06 h x: xxy',
      'Nov 22 01:00:07 h x: ABAB',
      'Nov 22 01:00:08 h x: the end',
      'Nov 22 01:00:09 h x: the end ',
      'Nov 22 01:00:10 h x: $HOME set',
      'Nov 22 01:00:11 h x: tab\there',
      'Nov 22 01:00:12 h x: C++',
      'Nov 22 01:00:14 h x: [OK]',
    ].join('\n') + '\n',
  },
  {
    name: 't7: input order and duplicates kept (1.1 did not sort)',
    hacking: 'ATTACK\n',
    violations: 'failed\n',
    violationsIgnore: 'zz\n',
    ignore: 'ignoreme\n',
    log: [
      'Nov 22 03:00:00 h x: b',
      'Nov 22 01:00:00 h x: ATTACK 1',
      'Nov 22 03:00:00 h x: b',
      'Nov 22 02:00:00 h x: failed',
      'Jan  1 00:00:00 h x: a',
      'Nov 22 01:00:00 h x: ATTACK 1',
      'Nov 22 02:00:00 h x: failed',
      'Nov 22 04:00:00 h x: ignoreme',
    ],
    subject: 'ACTIVE SYSTEM ATTACK!',
    body: [
      '',
      'Active System Attack Alerts',
      '=-=-=-=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h x: ATTACK 1',
      'Nov 22 01:00:00 h x: ATTACK 1',
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 02:00:00 h x: failed',
      'Nov 22 02:00:00 h x: failed',
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 03:00:00 h x: b',
      'Nov 22 01:00:00 h x: ATTACK 1',
      'Nov 22 03:00:00 h x: b',
      'Nov 22 02:00:00 h x: failed',
      'Jan  1 00:00:00 h x: a',
      'Nov 22 01:00:00 h x: ATTACK 1',
      'Nov 22 02:00:00 h x: failed',
    ].join('\n') + '\n',
  },
  {
    name: 't8: non-ASCII bytes: C locale, -i folds ASCII only',
    hacking: 'caf\xc3\xa9\nna\xefve\n\xc3\x89T\xc3\x89\n',
    violations: 'failed\n',
    violationsIgnore: 'zz\n',
    ignore: 'ignored\n',
    log: [
      'Nov 22 01:00:00 h x: caf\xc3\xa9 utf8',
      'Nov 22 01:00:01 h x: CAF\xc3\x89 upper utf8',
      'Nov 22 01:00:02 h x: na\xefve latin1',
      'Nov 22 01:00:03 h x: NA\xcfVE latin1 upper',
      'Nov 22 01:00:04 h x: bad \xff\xfe bytes',
      'Nov 22 01:00:07 h x: \xc3\xa9t\xc3\xa9 lower',
    ],
    subject: 'ACTIVE SYSTEM ATTACK!',
    body: [
      '',
      'Active System Attack Alerts',
      '=-=-=-=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h x: caf\xc3\xa9 utf8',
      'Nov 22 01:00:02 h x: na\xefve latin1',
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h x: caf\xc3\xa9 utf8',
      'Nov 22 01:00:01 h x: CAF\xc3\x89 upper utf8',
      'Nov 22 01:00:02 h x: na\xefve latin1',
      'Nov 22 01:00:03 h x: NA\xcfVE latin1 upper',
      'Nov 22 01:00:04 h x: bad \xff\xfe bytes',
      'Nov 22 01:00:07 h x: \xc3\xa9t\xc3\xa9 lower',
    ].join('\n') + '\n',
  },
  {
    name: 't8c: control characters and trailing blanks pass through the rules untouched',
    hacking: 'caf\xc3\xa9\nna\xefve\n\xc3\x89T\xc3\x89\n',
    violations: 'failed\n',
    violationsIgnore: 'zz\n',
    ignore: 'ignored\n',
    log: [
      'Nov 22 01:00:05 h x: esc \x1b[31mred\x1b[0m',
      'Nov 22 01:00:06 h x: cr at end\r',
      'Nov 22 01:00:08 h x: trailing spaces   ',
      'Nov 22 01:00:09 h x: del \x7f ignored',
    ],
    subject: 'system check',
    body: [
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:05 h x: esc \x1b[31mred\x1b[0m',
      'Nov 22 01:00:06 h x: cr at end\r',
      'Nov 22 01:00:08 h x: trailing spaces   ',
    ].join('\n') + '\n',
  },
  {
    name: 't12: a pattern of one space in logcheck.ignore',
    hacking: 'ATTACK\n',
    violations: 'failed\n',
    violationsIgnore: 'zz\n',
    ignore: ' \n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
      'Nov 22 01:00:05 h k: ATTACK',
      'nospaceline',
    ],
    subject: 'ACTIVE SYSTEM ATTACK!',
    body: [
      '',
      'Active System Attack Alerts',
      '=-=-=-=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:05 h k: ATTACK',
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:03 h x: failed # not ignored',
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'nospaceline',
    ].join('\n') + '\n',
  },
  {
    name: 't15: empty (0-byte) logcheck.hacking and logcheck.ignore',
    hacking: '',
    violations: 'failed\n',
    violationsIgnore: 'zz\n',
    ignore: '',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
      'Nov 22 01:00:05 h k: ATTACK',
    ],
    subject: 'system check',
    body: [
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:03 h x: failed # not ignored',
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
      'Nov 22 01:00:05 h k: ATTACK',
    ].join('\n') + '\n',
  },
  {
    name: 't16: an empty line in logcheck.violations',
    violations: '\n',
    violationsIgnore: 'zz\n',
    ignore: 'cron\n',
    log: [
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
      'Nov 22 01:00:05 h k: ATTACK',
    ],
    subject: 'system check',
    body: [
      '',
      'Security Violations',
      '=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:01 h cron[2]: CMD x',
      'Nov 22 01:00:02 h x: # cron stuff here',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
      'Nov 22 01:00:05 h k: ATTACK',
      '',
      'Unusual System Events',
      '=-=-=-=-=-=-=-=-=-=-=',
      'Nov 22 01:00:00 h sshd[1]: failed password',
      'Nov 22 01:00:03 h x: failed # not ignored',
      'Nov 22 01:00:04 h x: plain',
      'Nov 22 01:00:05 h k: ATTACK',
    ].join('\n') + '\n',
  },
];

const TITLES = ['Active System Attack Alerts', 'Security Violations', 'Unusual System Events'] as const;
const UNDERLINES = ['=-=-=-=-=-=-=-=-=-=-=-=-=-=', '=-=-=-=-=-=-=-=-=-=', '=-=-=-=-=-=-=-=-=-=-='] as const;

/**
 * The sections of a report body as (title, lines), whatever the blank-line layout: 1.1 puts an
 * empty line before each section, logcheck 1.4 one after. None of the cases logs an empty line.
 */
function sectionsOf(body: string): { title: string; lines: string[] }[] {
  const out: { title: string; lines: string[] }[] = [];
  const ls = body.split('\n');
  for (let k = 0; k < ls.length; k++) {
    const t = TITLES.findIndex((x) => x === ls[k]);
    if (t >= 0 && ls[k + 1] === UNDERLINES[t]) {
      out.push({ title: TITLES[t]!, lines: [] });
      k++;
    } else if (ls[k] !== '') {
      const cur = out[out.length - 1];
      assert.ok(cur !== undefined, `line before any section: ${JSON.stringify(ls[k])}`);
      cur.lines.push(ls[k]!);
    }
  }
  return out;
}

function treeOf(c: Case): PsionicTreeInput {
  return {
    layout: 'psionic',
    ...(c.hacking !== undefined ? { hacking: c.hacking } : {}),
    ...(c.violations !== undefined ? { violations: c.violations } : {}),
    ...(c.violationsIgnore !== undefined ? { violationsIgnore: c.violationsIgnore } : {}),
    ...(c.ignore !== undefined ? { ignore: c.ignore } : {}),
  };
}

function reportOf(c: Case): ReportSection[] {
  const rules = compileRules(treeOf(c), { level: 'server', supportCrackingIgnore: false });
  assert.deepEqual(rules.problems, []);
  return rules.buildReport(c.log).sections.map((s) => ({ kind: s.kind === 'events' ? 'unusual' : s.kind, title: s.title, lines: s.lines }));
}

/** 1.1.1's body as logsentry renders it: the same, but control characters escaped per line. */
function escapedBody(body: string): string {
  return body.split('\n').map(escapeControls).join('\n');
}

const WHEN = new Date(Date.UTC(2026, 10, 22, 1, 15, 0));

for (const c of CASES) {
  test(`core and renderPsionicReport give 1.1.1's report: ${c.name}`, () => {
    const sections = reportOf(c);
    assert.deepEqual(
      sections.map((s) => ({ title: s.title, lines: [...s.lines] })),
      sectionsOf(c.body),
    );
    const r = renderPsionicReport({ sections, host: 'vm', date: formatSubjectDate(WHEN, PSIONIC_DATE_FORMAT, 0), reboot: false, maxSize: 1 << 20 });
    if (c.subject === null) {
      assert.equal(r, null);
      return;
    }
    assert.ok(r !== null);
    assert.equal(r.body, escapedBody(c.body));
    assert.equal(r.subject, `vm 11/22/26:01.15 ${c.subject}`);
  });

  test(`classify agrees with the section 1.1.1 put each line in: ${c.name}`, () => {
    const rules = compileRules(treeOf(c), { level: 'server', supportCrackingIgnore: false });
    const got = sectionsOf(c.body);
    const inSection = (title: string, line: string): boolean => got.some((s) => s.title === title && s.lines.includes(line));
    for (const line of c.log) {
      const want: Verdict = inSection(TITLES[0], line) ? 'attack' : inSection(TITLES[1], line) ? 'violation' : inSection(TITLES[2], line) ? 'unusual' : 'ignored';
      assert.equal(rules.classify(line).verdict, want, JSON.stringify(line));
    }
  });
}

test('renderPsionicReport: notices and E: lines go first, -R and the tag prefix the subject, the body is capped', () => {
  const sections: ReportSection[] = [{ kind: 'violation', title: 'Security Violations', lines: ['a failed', 'b failed'] }];
  const r = renderPsionicReport({ sections, host: 'h', date: 'd', reboot: true, tag: '[logcheck]', maxSize: 1 << 20, errors: ['E: x'] });
  assert.ok(r !== null);
  assert.equal(r.body, '\nE: x\n\nSecurity Violations\n=-=-=-=-=-=-=-=-=-=\na failed\nb failed\n');
  assert.equal(r.subject, '[logcheck] Reboot: h d system check');
  assert.equal(r.level, 'violation');
  const many: ReportSection[] = [{ kind: 'unusual', title: 'Unusual System Events', lines: Array.from({ length: 40 }, (_, k) => `line ${k}`) }];
  const cut = renderPsionicReport({ sections: many, host: 'h', date: 'd', reboot: false, maxSize: 200 });
  assert.ok(cut !== null && cut.cut !== undefined && Buffer.byteLength(cut.body) <= 200, JSON.stringify(cut));
  assert.ok(cut.body.startsWith('\nUnusual System Events\n=-=-=-=-=-=-=-=-=-=-=\nline 0\n'));
  assert.equal(cut.subject, 'h d system check');
});

// The CLI reads its log through the shared UTF-8 reader, so only the ASCII cases go through it.
const ASCII_CASES = CASES.filter((c) => c.log.every((l) => /^[\x20-\x7e\t]*$/.test(l)));

function runCli(c: Case): Promise<{ out: string; err: string; code: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'ls-psionic-'));
  const rules = join(dir, 'rules');
  mkdirSync(rules);
  const files: [string, string | undefined][] = [
    ['logcheck.hacking', c.hacking],
    ['logcheck.violations', c.violations],
    ['logcheck.violations.ignore', c.violationsIgnore],
    ['logcheck.ignore', c.ignore],
  ];
  for (const [name, text] of files) if (text !== undefined) writeFileSync(join(rules, name), Buffer.from(text, 'latin1'));
  writeFileSync(join(dir, 'log'), Buffer.from(c.log.map((l) => `${l}\n`).join(''), 'latin1'));
  const args = [CLI, '-d', '-o', '-t', '-H', 'vm', '-r', rules, '-l', join(dir, 'log'), '-S', join(dir, 'state'), '--set', 'rules.layout=psionic', '--set', `lock_file=${join(dir, 'lock')}`];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { encoding: 'latin1', timeout: 30_000 }, (e, out, err) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ out, err, code: e === null ? 0 : typeof e.code === 'number' ? e.code : -1 });
    });
  });
}

test('CLI -o with rules.layout psionic reports the sections 1.1.1 reported', async () => {
  assert.ok(ASCII_CASES.length >= 10);
  for (const c of ASCII_CASES) {
    const r = await runCli(c);
    assert.equal(r.code, 0, `${c.name}: ${r.err}`);
    assert.deepEqual(sectionsOf(r.out), sectionsOf(c.body), c.name);
    assert.match(r.err, c.subject === null ? /nothing to report/ : /lines read; vm /, c.name);
  }
});

test(
  "CLI -o with rules.layout psionic prints 1.1.1's body byte for byte, with its subject",
  async () => {
    for (const c of ASCII_CASES) {
      const r = await runCli(c);
      assert.equal(r.out, c.body, c.name);
      if (c.subject !== null) assert.match(r.err, new RegExp(`lines read; vm \\d\\d/\\d\\d/\\d\\d:\\d\\d\\.\\d\\d ${c.subject.replace(/[!.]/g, '\\$&')};`), c.name);
    }
  },
);
