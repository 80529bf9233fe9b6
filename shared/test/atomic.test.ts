import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeFileAtomic, writeJsonAtomic, readJsonState, acquireLock } from '../src/fs/index.js';
import { FileStateError } from '../src/errors.js';

test('atomic write replaces content, leaves no temp file, mode 0600 by default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-atomic-'));
  try {
    const p = join(dir, 'sub', 'state.json');
    writeJsonAtomic(p, { a: 1 });
    writeJsonAtomic(p, { a: 2 });
    assert.deepEqual(readJsonState(p), { a: 2 });
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['state.json']);
    assert.equal(statSync(p).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed write keeps the old content and reports FS_WRITE', { skip: process.getuid?.() === 0 ? 'root ignores directory permissions' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-atomic-'));
  try {
    const p = join(dir, 'x');
    writeFileAtomic(p, 'old');
    chmodSync(dir, 0o500);
    assert.throws(() => writeFileAtomic(p, 'new'), (e: unknown) => e instanceof FileStateError && e.code === 'FS_WRITE');
    assert.equal(readFileSync(p, 'utf8'), 'old');
  } finally {
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed write (target is a directory) keeps it and removes the temp file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-atomic-'));
  try {
    const p = join(dir, 'isdir');
    writeFileAtomic(join(p, 'inner'), 'x');
    assert.throws(() => writeFileAtomic(p, 'new'), (e: unknown) => e instanceof FileStateError && e.code === 'FS_WRITE');
    assert.deepEqual(readdirSync(dir), ['isdir']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('corrupt JSON state is an error, never silently empty; missing is undefined', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-atomic-'));
  try {
    const p = join(dir, 's.json');
    assert.equal(readJsonState(p), undefined);
    writeFileSync(p, '{"a": ');
    assert.throws(() => readJsonState(p), (e: unknown) => e instanceof FileStateError && e.code === 'FS_READ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('locks exclude a live holder and take over a dead one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-lock-'));
  try {
    const p = join(dir, 'run.lock');
    // A live holder: another process (this test's parent shell is alive; use pid 1 which always runs).
    writeFileSync(p, '1\n');
    assert.throws(() => acquireLock(p), (e: unknown) => e instanceof FileStateError && e.code === 'FS_LOCKED' && /process 1\b/.test(e.message));
    // A dead holder: a pid that has exited.
    const dead = spawnSync('/bin/sh', ['-c', 'echo $$']).stdout.toString().trim();
    writeFileSync(p, `${dead}\n`);
    const l = acquireLock(p);
    assert.equal(readFileSync(p, 'utf8').trim(), String(process.pid));
    l.release();
    l.release();
    assert.throws(() => readFileSync(p));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
