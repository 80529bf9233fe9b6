import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJournal, renderJournalEntry, CURSOR_FILE } from '@trisentry/shared';
import { readInputs } from '../src/inputs/index.js';

const JOURNALD = ['/lib/systemd/systemd-journald', '/usr/lib/systemd/systemd-journald'].find((p) => existsSync(p));
const NS = `tslogs${process.pid}`;

function hasJournalctl(): boolean {
  try {
    execFileSync('journalctl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Writes lines to the private journald through its stdout stream socket, as systemd-cat does. */
async function journalWrite(ident: string, lines: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = connect(`/run/systemd/journal.${NS}/stdout`, () => {
      // Header: identifier, unit, priority, level prefix, forward to syslog, kmsg, console.
      s.end(`${ident}\n\n6\n0\n0\n0\n0\n${lines.map((l) => `${l}\n`).join('')}`);
    });
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

// A journald of our own in a journal namespace, so the test neither needs nor touches the system journal.
test('journal by cursor: nothing repeated, nothing missed; no commit keeps the cursor; file duplicate dropped', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: runs a private systemd-journald namespace');
  if (JOURNALD === undefined) return t.skip('systemd-journald binary not found');
  if (!hasJournalctl()) return t.skip('journalctl not found');
  const machineId = readFileSync('/etc/machine-id', 'utf8').trim();
  const dir = mkdtempSync(join(tmpdir(), 'ls-journal-'));
  const state = join(dir, 'state');
  let jd: ChildProcess | undefined;
  try {
    jd = spawn(JOURNALD, [NS], { stdio: 'ignore' });
    await waitFor(() => existsSync(`/run/systemd/journal.${NS}/stdout`));
    const ident = `lstest${process.pid}`;
    const opts = { namespace: NS, firstRunSince: '-1h', tz: 'local' as const };
    const ours = (lines: string[]): string[] => lines.filter((l) => l.includes(` ${ident}[`));

    await journalWrite(ident, ['first message', 'second\tmessage']);
    let r1 = await readJournal(state, opts);
    for (let i = 0; i < 200 && ours(r1.lines).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      r1 = await readJournal(state, opts);
    }
    const got1 = ours(r1.lines);
    assert.equal(got1.length, 2, `got ${JSON.stringify(r1.lines)}`);
    assert.match(got1[0]!, new RegExp(`^[A-Z][a-z]{2} [ 0-9]\\d \\d\\d:\\d\\d:\\d\\d ${hostname()} ${ident}\\[\\d+\\]: first message$`));
    assert.match(got1[1]!, /: second#011message$/);
    assert.equal(r1.warnings[0], 'This is the first time logsentry has checked the systemd journal.');
    r1.commit();
    const cursor = readFileSync(join(state, CURSOR_FILE), 'utf8');

    await journalWrite(ident, ['third message']);
    let r2 = await readJournal(state, opts);
    // journald files a stream's lines asynchronously; on a loaded machine (CI) that took over 5 s.
    for (let i = 0; i < 200 && ours(r2.lines).length < 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      r2 = await readJournal(state, opts);
    }
    assert.deepEqual(ours(r2.lines).map((l) => l.replace(/^.*: /, '')), ['third message'], `only the new entry; read: ${JSON.stringify(r2.lines.slice(-5))}, warnings ${JSON.stringify(r2.warnings)}`);
    assert.deepEqual(r2.warnings, []);
    // -t: no commit, the cursor stays and the entry comes again.
    assert.equal(readFileSync(join(state, CURSOR_FILE), 'utf8'), cursor);
    const r3 = await readJournal(state, opts);
    assert.deepEqual(ours(r3.lines).map((l) => l.replace(/^.*: /, '')), ['third message']);

    // The same event in a syslog file (rsyslog's RFC 3339 form) and in the journal: reported once.
    const e = r3.entries.find((x) => x.ident === ident)!;
    const syslog = join(dir, 'syslog');
    const iso = new Date(e.time).toISOString().replace('Z', '+00:00');
    writeFileSync(syslog, `${iso} ${e.host} ${e.ident}[${e.pid}]: ${e.message}\n`);
    const all = await readInputs({ files: [syslog], journal: true, normalizeTimestamps: true }, state, Date.now(), { journal: opts });
    const mentions = all.texts.flatMap((t, k) => (t.endsWith('third message') ? [all.sources.find((s) => k >= s.from && k < s.to)!.source] : []));
    assert.equal(mentions.length, 1, JSON.stringify(all.texts));
    assert.equal(mentions[0], syslog);
    all.commit();
    assert.notEqual(readFileSync(join(state, CURSOR_FILE), 'utf8'), cursor);
    const r4 = await readJournal(state, opts);
    assert.deepEqual(ours(r4.lines), [], 'after commit nothing repeats');
    assert.equal(renderJournalEntry(e), r3.lines[r3.entries.indexOf(e)]);
  } finally {
    if (jd?.pid !== undefined) {
      jd.kill('SIGTERM');
      await new Promise((r) => jd!.once('exit', r));
    }
    rmSync(`/run/systemd/journal.${NS}`, { recursive: true, force: true });
    rmSync(`/var/log/journal/${machineId}.${NS}`, { recursive: true, force: true });
    rmSync(`/run/log/journal/${machineId}.${NS}`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
