import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLogList, readLogLists } from '../src/inputs/listfiles.js';
import { dropJournalDuplicates, normalizeTimestamp } from '../src/inputs/lines.js';
import { parseJournalJson, renderJournalEntry, journalArgs, CURSOR_FILE, LOGCHECK_JOURNAL_OFFSET } from '@trisentry/shared';
import type { JournalEntry } from '@trisentry/shared';

test('list files: paths, journal, comments and blanks as logcheck reads them', () => {
  const r = parseLogList('## header\n\n/var/log/syslog\n  \njournal\n# /var/log/old\nrelative/path\n/var/log/auth.log  \n', 'x.logfiles');
  assert.deepEqual(r.entries, ['/var/log/syslog', '/var/log/auth.log']);
  assert.equal(r.journal, true);
  assert.deepEqual(r.problems, ['x.logfiles:7: "relative/path" is not an absolute path (nor the word journal); ignored']);
});

test('list dirs: *.logfiles in name order, missing lists skipped, duplicates once, YAML files last', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-lists-'));
  try {
    const d = join(dir, 'logcheck.logfiles.d');
    mkdirSync(d);
    writeFileSync(join(dir, 'logcheck.logfiles'), '# empty, as Debian ships it\n');
    writeFileSync(join(d, 'syslog.logfiles'), '/var/log/syslog\n/var/log/auth.log\n');
    writeFileSync(join(d, 'journal.logfiles'), 'journal\n');
    writeFileSync(join(d, 'local.logfiles'), '/var/log/auth.log\n/srv/app.log\n');
    writeFileSync(join(d, 'notes.txt'), '/never/read\n');
    const r = readLogLists([join(dir, 'logcheck.logfiles'), join(dir, 'missing')], [d, join(dir, 'nodir')], ['/srv/app.log', '/opt/x.log']);
    assert.deepEqual(r.files, ['/var/log/auth.log', '/srv/app.log', '/var/log/syslog', '/opt/x.log']);
    assert.equal(r.journal, true);
    assert.deepEqual(r.problems, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the reference logcheck list files parse to syslog, auth.log and the journal', (t) => {
  const base = '/opt/trisentry-ref/logcheck/etc/logcheck';
  const r = readLogLists([join(base, 'logcheck.logfiles')], [join(base, 'logcheck.logfiles.d')]);
  if (r.files.length === 0 && !r.journal) return t.skip('reference extraction missing (scripts/install-reference-tools)');
  assert.deepEqual(r.files, ['/var/log/syslog', '/var/log/auth.log']);
  assert.equal(r.journal, true);
});

test('RFC 3339 lines are normalised to the traditional form; others untouched', () => {
  assert.equal(normalizeTimestamp('2026-11-21T10:00:01.123456+01:00 web sshd[42]: Accepted publickey'), 'Nov 21 10:00:01 web sshd[42]: Accepted publickey');
  assert.equal(normalizeTimestamp('2026-11-05T09:08:07+00:00 web kernel: x'), 'Nov  5 09:08:07 web kernel: x');
  assert.equal(normalizeTimestamp('Nov  5 09:08:07 web kernel: x'), 'Nov  5 09:08:07 web kernel: x');
  assert.equal(normalizeTimestamp('2026 is not a timestamp'), '2026 is not a timestamp');
});

const entry = (over: Partial<JournalEntry>): JournalEntry => ({
  cursor: 's=1', time: Date.UTC(2026, 10, 21, 10, 0, 1, 500), host: 'web', ident: 'sshd', pid: 42, message: 'Accepted publickey for root', ...over,
});

test('journal JSON: fields, byte-array messages, control characters escaped; rendering like rsyslog', () => {
  const e = parseJournalJson(JSON.stringify({
    __CURSOR: 's=abc;i=1', __REALTIME_TIMESTAMP: '1795255201123456', _HOSTNAME: 'web', SYSLOG_IDENTIFIER: 'sshd', _PID: '42', MESSAGE: 'a\tb\nc',
  }));
  assert.ok(e);
  assert.equal(e.time, 1795255201123);
  assert.equal(e.message, 'a#011b#012c');
  assert.equal(renderJournalEntry(e, 0), 'Nov 21 10:00:01 web sshd[42]: a#011b#012c');
  const bytes = parseJournalJson(JSON.stringify({ __CURSOR: 'c', __REALTIME_TIMESTAMP: '1795255201000000', _HOSTNAME: 'web', _COMM: 'x', MESSAGE: [104, 105, 0xff] }));
  assert.ok(bytes);
  assert.equal(renderJournalEntry(bytes, 0), 'Nov 21 10:00:01 web x: hi#377');
  assert.equal(parseJournalJson('not json'), undefined);
  assert.equal(parseJournalJson('{"MESSAGE":"no cursor"}'), undefined);
});

test('a journal entry also in the syslog file is dropped once; a repeat event is kept', () => {
  const ref = Date.UTC(2026, 10, 22);
  const entries = [entry({}), entry({ cursor: 's=2' }), entry({ cursor: 's=3', message: 'other' })];
  const file = ['2026-11-21T10:00:02.010000+00:00 web.example.org sshd[42]: Accepted publickey for root'];
  assert.deepEqual(dropJournalDuplicates(file, entries, ref).map((e) => e.cursor), ['s=2', 's=3']);
  // Too far apart in time: a different event.
  const late = ['2026-11-21T10:00:09+00:00 web sshd[42]: Accepted publickey for root'];
  assert.equal(dropJournalDuplicates(late, entries, ref).length, 3);
  // Another pid: a different event.
  const pid = ['2026-11-21T10:00:01+00:00 web sshd[43]: Accepted publickey for root'];
  assert.equal(dropJournalDuplicates(pid, entries, ref).length, 3);
});

test('journal start: cursor, else logcheck\'s offset.journal mtime, else the first-run window with a notice', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-jargs-'));
  try {
    const first = journalArgs(dir, { firstRunSince: '-1h' });
    assert.ok(first.args.includes('--since=-1h'));
    assert.equal(first.notice.length, 3);
    writeFileSync(join(dir, LOGCHECK_JOURNAL_OFFSET), '');
    const lc = journalArgs(dir);
    assert.ok(lc.args.some((a) => /^--since=@[0-9]+$/.test(a)));
    assert.deepEqual(lc.notice, []);
    writeFileSync(join(dir, CURSOR_FILE), 's=abc;i=5\n');
    const cur = journalArgs(dir);
    assert.ok(cur.args.includes('--after-cursor=s=abc;i=5'));
    assert.ok(!cur.args.some((a) => a.startsWith('--since')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
