import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deliverSpooled, pendingSpooled, removeSpooled, spool, spoolDirOf, SpoolError } from '../src/spool.js';
import type { SpooledReport } from '../src/spool.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ls-spool-'));
}

test('spool writes a private, complete entry with its commit and a stable Message-ID; entries come back oldest first', () => {
  const state = tempDir();
  try {
    const dir = spoolDirOf(state);
    assert.equal(dir, join(state, 'spool'));
    assert.deepEqual(pendingSpooled(dir), { entries: [], quarantined: [] }, 'a missing spool is empty');
    const made: SpooledReport[] = [];
    for (let i = 0; i < 12; i++) made.push(spool(dir, { subject: `s${i}`, body: `b${i}\n` }, { commit: { offset: i }, host: 'my\r\nhost', now: new Date(0) }));
    assert.equal(statSync(join(dir, made[0]!.id)).mode & 0o777, 0o600);
    const back = pendingSpooled(dir).entries;
    assert.deepEqual(back.map((e) => e.subject), made.map((_, i) => `s${i}`));
    assert.deepEqual(back[3], made[3]);
    assert.deepEqual(back[3]!.commit, { offset: 3 });
    assert.equal(back[0]!.created, '1970-01-01T00:00:00.000Z');
    assert.match(back[0]!.messageId, /^<logsentry\.1\.[0-9a-f]{16}@myhost>$/);
    assert.equal(new Set(back.map((e) => e.messageId)).size, 12);
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

test('deliverSpooled sends oldest first, removes only what was accepted, stops at the first failure', async () => {
  const dir = tempDir();
  try {
    const a = spool(dir, { subject: 'a', body: '1\n' });
    const b = spool(dir, { subject: 'b', body: '2\n' });
    const c = spool(dir, { subject: 'c', body: '3\n' });
    const sent: string[] = [];
    const refuse = new Error('refused');
    await assert.rejects(
      deliverSpooled(dir, async (r) => {
        if (r.subject === 'b') throw refuse;
        sent.push(r.subject);
      }),
      (e: unknown) => e === refuse,
    );
    assert.deepEqual(sent, ['a']);
    assert.deepEqual(pendingSpooled(dir).entries.map((e) => e.id), [b.id, c.id]);
    const res = await deliverSpooled(dir, async (r) => {
      sent.push(r.subject);
    });
    assert.deepEqual(res.delivered, [b.id, c.id]);
    assert.deepEqual(sent, ['a', 'b', 'c']);
    assert.deepEqual(readdirSync(dir), []);
    // Removing twice (a second process got there first) is not an error.
    removeSpooled(dir, a);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged entry is set aside as .corrupt, never sent or deleted; temporary files are ignored', async () => {
  const dir = tempDir();
  try {
    const good = spool(dir, { subject: 'good', body: 'x\n' });
    writeFileSync(join(dir, '000000000000-0123456789abcdef.json'), '{"id": truncated');
    writeFileSync(join(dir, '.000000000009-0123456789abcdef.json.tmp-1-1'), 'half written');
    const sent: string[] = [];
    const res = await deliverSpooled(dir, async (r) => {
      sent.push(r.id);
    });
    assert.deepEqual(sent, [good.id]);
    assert.deepEqual(res.quarantined, [join(dir, '000000000000-0123456789abcdef.json.corrupt')]);
    assert.ok(existsSync(join(dir, '000000000000-0123456789abcdef.json.corrupt')));
    // New entries always sort after every entry present (numbering may restart once the spool is empty).
    const x = spool(dir, { subject: 'x', body: '' });
    const y = spool(dir, { subject: 'y', body: '' });
    assert.ok(y.id > x.id);
    assert.deepEqual(pendingSpooled(dir).entries.map((e) => e.subject), ['x', 'y']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a spool that cannot be written is LS_SPOOL (exit 73) and leaves nothing behind', () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, '');
    assert.throws(
      () => spool(join(file, 'spool'), { subject: 's', body: 'b' }),
      (e: unknown) => e instanceof SpoolError && e.code === 'LS_SPOOL' && e.exitCode === 73,
    );
    assert.throws(() => pendingSpooled(file), (e: unknown) => e instanceof SpoolError && e.code === 'LS_SPOOL');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('killed while sending (SIGKILL): the report stays and the next run delivers it exactly once', async () => {
  const dir = tempDir();
  try {
    const spoolJs = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'src', 'spool.js');
    // The child spools, reports that it did, then hangs inside send as a stalled SMTP dialogue would.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { spool, deliverSpooled } = await import(${JSON.stringify(spoolJs)});
         spool(process.argv[1], { subject: 'killed run', body: 'alert\\n' }, { commit: { offset: 7 } });
         process.stdout.write('spooled\\n');
         await deliverSpooled(process.argv[1], () => new Promise(() => { setInterval(() => {}, 1000); }));`,
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('spooled')) resolve();
      });
      child.once('exit', () => reject(new Error('child ended before spooling')));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    const pending = pendingSpooled(dir).entries;
    assert.equal(pending.length, 1);
    assert.deepEqual(pending[0]!.commit, { offset: 7 }, 'the next run can re-apply the offsets it covers');
    const sent: string[] = [];
    await deliverSpooled(dir, async (r) => {
      sent.push(r.subject);
    });
    await deliverSpooled(dir, async (r) => {
      sent.push(r.subject);
    });
    assert.deepEqual(sent, ['killed run']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
