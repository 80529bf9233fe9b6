import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeControls, formatSubjectDate, renderReport, sanitizeHeaderValue, underline } from '../src/report.js';
import type { ReportInput, ReportSection } from '../src/report.js';

const WORDS = { attack: 'Security Alerts', security: 'Security Events', events: 'System Events' } as const;
const LOGCHECK = '/opt/trisentry-ref/logcheck/usr/sbin/logcheck';
const HEADER = '/opt/trisentry-ref/logcheck/etc/logcheck/header.txt';
const FIXED_DATE = '2024-01-02 03:04 +0000';

function base(sections: ReportSection[], over: Partial<ReportInput> = {}): ReportInput {
  return { sections, host: 'myhost', date: FIXED_DATE, reboot: false, intro: true, maxSize: 10 * 1024 * 1024, subjectWords: WORDS, ...over };
}

/** Why the real logcheck cannot run here, or undefined when it can. */
function logcheckUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (to run logcheck as nobody)';
  for (const f of [LOGCHECK, HEADER, '/usr/bin/lockfile-create', '/usr/sbin/logtail2', '/usr/bin/setpriv']) {
    if (!existsSync(f)) return `needs ${f} (scripts/install-reference-tools; apt-get install lockfile-progs logtail)`;
  }
  return undefined;
}

interface LogcheckCase {
  readonly rules: Record<string, string>;
  readonly log: string;
  readonly conf: string;
  readonly args: readonly string[];
}

/**
 * Runs Debian's logcheck on a tiny rule tree and log, as nobody, with `date` fixed and
 * `mime-construct` replaced by a recorder: returns the subject and the report file it was given, or
 * null when logcheck sent nothing.
 */
function runLogcheck(c: LogcheckCase): { subject: string; body: string; args: string[] } | null {
  const dir = mkdtempSync(join(tmpdir(), 'ls-report-'));
  try {
    for (const d of ['state', 'lock', 'tmp', 'bin', 'out']) mkdirSync(join(dir, d));
    for (const [path, text] of Object.entries(c.rules)) {
      mkdirSync(join(dir, 'rules', path, '..'), { recursive: true });
      writeFileSync(join(dir, 'rules', path), text);
    }
    mkdirSync(join(dir, 'rules'), { recursive: true });
    writeFileSync(join(dir, 'log'), c.log);
    writeFileSync(
      join(dir, 'conf'),
      `RULEDIR=${dir}/rules\nSTATEDIR=${dir}/state\nLOCKDIR=${dir}/lock\nLOCKFILE=${dir}/lock/logcheck\nTMP=${dir}/tmp\n${c.conf}`,
    );
    writeFileSync(join(dir, 'bin', 'date'), `#!/bin/sh\necho '${FIXED_DATE}'\n`);
    // Records argv one per line and copies the --file it is given.
    writeFileSync(
      join(dir, 'bin', 'mime-construct'),
      `#!/bin/bash\nout=${dir}/out\nprintf '%s\\n' "$@" > "$out/args"\nwhile [ $# -gt 0 ]; do if [ "$1" = --file ]; then cat "$2" > "$out/body"; fi; shift; done\n`,
    );
    chmodSync(join(dir, 'bin', 'date'), 0o755);
    chmodSync(join(dir, 'bin', 'mime-construct'), 0o755);
    chmodSync(dir, 0o755);
    const own = (p: string): void => chownSync(p, 65534, 65534);
    for (const p of ['', 'state', 'lock', 'tmp', 'out', 'log']) own(join(dir, p));
    const r = spawnSync(
      '/usr/bin/setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', LOGCHECK, '-c', `${dir}/conf`, '-t', '-l', `${dir}/log`, '-H', 'myhost', ...c.args],
      { env: { PATH: `${dir}/bin:/usr/bin:/bin:/usr/sbin:/sbin`, LANG: 'C.UTF-8' }, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `logcheck failed: ${r.stdout}${r.stderr}`);
    if (!existsSync(join(dir, 'out', 'args'))) return null;
    const args = readFileSync(join(dir, 'out', 'args'), 'utf8').split('\n');
    const subject = args[args.indexOf('--subject') + 1] ?? '';
    return { subject, body: readFileSync(join(dir, 'out', 'body'), 'utf8'), args };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const LOG = [
  'Jan  1 00:00:01 host sshd[1]: failed password for root',
  'Jan  1 00:00:02 host CRON[2]: ran job',
  'Jan  1 00:00:03 host kernel: evil attack here',
  'Jan  1 00:00:04 host kernel: rootkit found   ',
  'Jan  1 00:00:05 host foo: something ünïcode',
  '',
].join('\n');

const RULES = {
  'cracking.d/logcheck': 'evil attack\n',
  'cracking.d/kernel': 'rootkit\n',
  'violations.d/logcheck': 'failed password\n',
  'violations.ignore.d/.keep': '',
  'ignore.d.server/cron': 'CRON\\[\n',
};

test('matches logcheck byte for byte: intro, footer, -R, ADDTAG, all three levels', (t) => {
  const why = logcheckUnavailable();
  if (why) return t.skip(why);
  const header = readFileSync(HEADER, 'utf8');
  const footer = 'footer line 1\n\n';
  const ref = runLogcheck({ rules: { ...RULES, 'header.txt': header, 'footer.txt': footer }, log: LOG, conf: 'ADDTAG=yes\n', args: ['-R'] });
  assert.ok(ref, 'logcheck sent a report');
  assert.ok(ref.args.includes('Auto-Submitted: auto-generated'));
  const ours = renderReport(
    base(
      [
        { kind: 'attack', title: 'Security Alerts for kernel', lines: ['Jan  1 00:00:04 host kernel: rootkit found'] },
        { kind: 'attack', title: 'Security Alerts', lines: ['Jan  1 00:00:03 host kernel: evil attack here'] },
        { kind: 'violation', title: 'Security Events', lines: ['Jan  1 00:00:01 host sshd[1]: failed password for root'] },
        { kind: 'unusual', title: 'System Events', lines: ['Jan  1 00:00:05 host foo: something ünïcode'] },
      ],
      { reboot: true, tag: '[logcheck]', header, footer },
    ),
  );
  assert.ok(ours);
  assert.equal(ours.body, ref.body);
  assert.equal(ours.subject, ref.subject);
  assert.equal(ours.subject, `[logcheck] Reboot: myhost ${FIXED_DATE} Security Alerts`);
});

test('matches logcheck: no intro, only violations and system events; no header files', (t) => {
  const why = logcheckUnavailable();
  if (why) return t.skip(why);
  const log = 'Jan  1 00:00:01 host sshd[1]: failed password for bob\nJan  1 00:00:09 host x: other\n';
  for (const intro of ['INTRO=0\n', 'INTRO=1\n']) {
    const ref = runLogcheck({ rules: { ...RULES, 'footer.txt': 'FOOT\n' }, log, conf: intro, args: [] });
    assert.ok(ref);
    const ours = renderReport(
      base(
        [
          { kind: 'attack', title: 'Security Alerts', lines: [] },
          { kind: 'violation', title: 'Security Events', lines: ['Jan  1 00:00:01 host sshd[1]: failed password for bob'] },
          { kind: 'unusual', title: 'System Events', lines: ['Jan  1 00:00:09 host x: other'] },
        ],
        { intro: intro === 'INTRO=1\n', footer: 'FOOT\n' },
      ),
    );
    assert.ok(ours);
    assert.equal(ours.body, ref.body, intro);
    assert.equal(ours.subject, ref.subject);
    assert.equal(ours.subject, `myhost ${FIXED_DATE} Security Events`);
  }
});

test('matches logcheck: system events only, and an empty run sends nothing', (t) => {
  const why = logcheckUnavailable();
  if (why) return t.skip(why);
  const ref = runLogcheck({ rules: RULES, log: 'Jan  1 00:00:09 host x: only this\n', conf: '', args: [] });
  assert.ok(ref);
  const ours = renderReport(base([{ kind: 'unusual', title: 'System Events', lines: ['Jan  1 00:00:09 host x: only this'] }]));
  assert.equal(ours?.body, ref.body);
  assert.equal(ours?.subject, `myhost ${FIXED_DATE} System Events`);
  assert.equal(ref.subject, ours?.subject);

  const none = runLogcheck({ rules: RULES, log: 'Jan  1 00:00:02 host CRON[2]: ran job\n', conf: '', args: [] });
  assert.equal(none, null, 'logcheck mails nothing when every line is ignored');
  assert.equal(renderReport(base([{ kind: 'unusual', title: 'System Events', lines: [] }], { header: 'H\n' })), null);
  assert.equal(renderReport(base([])), null);
});

test('layout without the reference: titles, underline, blank lines, header and footer only with intro', () => {
  const r = renderReport(
    base([{ kind: 'unusual', title: 'System Events', lines: ['a', 'b'] }], { header: 'HEAD\n\n', footer: 'FOOT\n', intro: false }),
  );
  assert.equal(r?.body, 'System Events\n=-=-=-=-=-=-=\na\nb\n\n');
  const withIntro = renderReport(base([{ kind: 'unusual', title: 'System Events', lines: ['a'] }], { header: 'HEAD\n\n', footer: 'FOOT\n' }));
  assert.equal(withIntro?.body, 'HEAD\n\nSystem Events\n=-=-=-=-=-=-=\na\n\nFOOT\n');
  assert.equal(underline('Security Alerts for kernel'), '=-=-=-=-=-=-=-=-=-=-=-=-=-');
  // Characters, not bytes or UTF-16 units.
  assert.equal(underline('Ü𝔘x'), '=-=');
});

test('notices go before the intro and read errors after it, between blank lines (logcheck order)', () => {
  const r = renderReport(
    base([{ kind: 'unusual', title: 'System Events', lines: ['x'] }], {
      header: 'HEAD\n',
      notices: ['This is the first time logcheck has checked the systemd journal.'],
      errors: ['E: File could not be read: /var/log/a', 'E: File could not be read: /var/log/b'],
    }),
  );
  assert.equal(
    r?.body,
    'This is the first time logcheck has checked the systemd journal.\nHEAD\n\nE: File could not be read: /var/log/a\nE: File could not be read: /var/log/b\n\nSystem Events\n=-=-=-=-=-=-=\nx\n\n',
  );
});

test('subject: most severe level present, custom words, Reboot and tag order', () => {
  const words = { attack: 'ALARM', security: 'Sicherheit', events: 'Ereignisse' };
  const s = (kinds: Array<'attack' | 'violation' | 'unusual'>): string | undefined =>
    renderReport(base(kinds.map((kind) => ({ kind, title: kind, lines: ['l'] })), { subjectWords: words, reboot: true, tag: '[x]' }))?.subject;
  assert.equal(s(['unusual']), `[x] Reboot: myhost ${FIXED_DATE} Ereignisse`);
  assert.equal(s(['unusual', 'violation']), `[x] Reboot: myhost ${FIXED_DATE} Sicherheit`);
  assert.equal(s(['violation', 'unusual', 'attack']), `[x] Reboot: myhost ${FIXED_DATE} ALARM`);
  assert.equal(renderReport(base([{ kind: 'violation', title: 't', lines: ['l'] }]))?.level, 'violation');
});

test('hostile host names, titles and lines cannot add a header or reach a terminal', () => {
  const r = renderReport(
    base([{ kind: 'attack', title: 'Security Alerts for x\r\nBcc: a@b', lines: ['evil\r\nX-Injected: 1\x1b[2J\x00\x7f\u009b end\ttab'] }], {
      host: 'host\r\nBcc: victim@example.org',
      date: 'd\u2028e',
      tag: '[t]\n',
    }),
  );
  assert.ok(r);
  assert.doesNotMatch(r.subject, /[\x00-\x1f\x7f-\x9f\u2028\u2029]/);
  assert.equal(r.subject, '[t]#012 host#015#012Bcc: victim@example.org d#u2028e Security Alerts');
  assert.match(r.body, /^Security Alerts for x#015#012Bcc: a@b\n/);
  assert.ok(r.body.includes('evil#015#012X-Injected: 1#033[2J#000#177#233 end\ttab\n'));
  assert.equal(escapeControls('plain ünïcode\t'), 'plain ünïcode\t');
  assert.equal(sanitizeHeaderValue('a\tb'), 'a#011b');
});

test('max_size: cut at a line boundary, body within the limit, a last line saying lines and bytes left out', () => {
  const lines = Array.from({ length: 2000 }, (_, i) => `line ${String(i).padStart(4, '0')} ${'ü'.repeat(10)}`);
  const full = renderReport(base([{ kind: 'unusual', title: 'System Events', lines }]));
  assert.ok(full && full.cut === undefined);
  const r = renderReport(base([{ kind: 'unusual', title: 'System Events', lines }], { maxSize: 4096 }));
  assert.ok(r?.cut);
  const bytes = Buffer.byteLength(r.body);
  assert.ok(bytes <= 4096, `${bytes} bytes`);
  assert.ok(bytes > 4096 - 200, 'uses the room it has');
  const out = r.body.split('\n');
  assert.equal(out.pop(), '');
  const last = out.pop() ?? '';
  assert.equal(last, `[logsentry: report cut to report.max_size (4096 bytes): ${r.cut.lines} more lines (${r.cut.bytes} bytes) left out]`);
  // What was kept plus what was cut is the whole report.
  const kept = r.body.slice(0, r.body.length - last.length - 1);
  assert.ok(full.body.startsWith(kept));
  assert.equal(Buffer.byteLength(kept) + r.cut.bytes, Buffer.byteLength(full.body));
  assert.equal(kept.split('\n').length - 1 + r.cut.lines, full.body.split('\n').length - 1);
  // One line bigger than the limit: nothing of it is kept, nothing is broken.
  const huge = renderReport(base([{ kind: 'unusual', title: 'T', lines: ['x'.repeat(10_000)] }], { maxSize: 4096 }));
  assert.equal(huge?.body, 'T\n=\n[logsentry: report cut to report.max_size (4096 bytes): 2 more lines (10002 bytes) left out]\n');
});

test('formatSubjectDate follows date(1) for logcheck\'s default format and others', (t) => {
  const when = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.equal(formatSubjectDate(when, '%Y-%m-%d %H:%M %z', 0), '2024-01-02 03:04 +0000');
  assert.equal(formatSubjectDate(when, '%Y-%m-%d %H:%M %z', 330), '2024-01-02 08:34 +0530');
  assert.equal(formatSubjectDate(when, '%a %b %e %T %j %%', -60), 'Tue Jan  2 02:04:05 002 %');
  const date = spawnSync('date', ['-u', '-d', '@1704164645', '+%Y-%m-%d %H:%M %z|%a %A %b %B %e %F %T %R %D %y %C %I %p %j %u %w %s'], { encoding: 'utf8', env: { LC_ALL: 'C' } });
  if (date.status !== 0) return t.skip('needs date(1)');
  assert.equal(formatSubjectDate(when, '%Y-%m-%d %H:%M %z|%a %A %b %B %e %F %T %R %D %y %C %I %p %j %u %w %s', 0), date.stdout.trim());
});
