import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateError } from '@trisentry/shared';
import { readUtmp, readWtmp } from '../src/inputs/wtmp.js';
import { hasUtmpdump, utmpdumpR } from './utmpdump.js';

const HAVE_UTMPDUMP = hasUtmpdump();
const NEEDS = 'needs utmpdump (util-linux) to build wtmp files';

/** One binary login record per user, built by util-linux's utmpdump -r. */
function logins(...users: string[]): Buffer {
  const text = users
    .map((u, i) => `[7] [${String(1000 + i).padStart(5, '0')}] [ts/${i}] [${u}] [pts/${i}] [198.18.0.${i + 1}] [198.18.0.${i + 1}] [2024-03-01T09:0${i}:00,000000+00:00]\n`)
    .join('');
  return utmpdumpR(text);
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'hs-wtmp-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const users = (r: ReturnType<typeof readWtmp>): string[] => r.records.map((x) => x.user);

test('following growth: a committed read resumes after the last record; no commit re-reads', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const wtmp = join(dir, 'wtmp');
    const state = join(dir, 'state.json');
    writeFileSync(wtmp, logins('alice', 'bob'));
    const r1 = readWtmp(wtmp, state);
    assert.deepEqual(users(r1), ['alice', 'bob']);
    assert.equal(r1.more, false);
    assert.equal(r1.position.offset, 768);
    r1.commit();
    assert.deepEqual(users(readWtmp(wtmp, state)), []);

    appendFileSync(wtmp, logins('carol', 'dave'));
    const r2 = readWtmp(wtmp, state);
    assert.deepEqual(users(r2), ['carol', 'dave']);
    assert.deepEqual(r2.records.map((x) => x.offset), [768, 1152]);
    // Not committed: the same records come again (a crash before handling loses nothing).
    assert.deepEqual(users(readWtmp(wtmp, state)), ['carol', 'dave']);
    readWtmp(wtmp, state).commit();
    assert.deepEqual(users(readWtmp(wtmp, state)), []);
  });
});

test('a torn tail is counted and waited for; once completed the record is read', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const wtmp = join(dir, 'wtmp');
    const state = join(dir, 'state.json');
    const erin = logins('erin');
    writeFileSync(wtmp, Buffer.concat([logins('alice'), erin.subarray(0, 100)]));
    const r1 = readWtmp(wtmp, state);
    assert.deepEqual(users(r1), ['alice']);
    assert.deepEqual(r1.bad, [{ reason: 'torn', count: 1, firstOffset: 384 }]);
    assert.equal(r1.position.offset, 384);
    r1.commit();
    appendFileSync(wtmp, erin.subarray(100));
    const r2 = readWtmp(wtmp, state);
    assert.deepEqual(users(r2), ['erin']);
    assert.deepEqual(r2.bad, []);
  });
});

test('a zeroed record is counted and skipped', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const wtmp = join(dir, 'wtmp');
    writeFileSync(wtmp, Buffer.concat([logins('alice'), Buffer.alloc(384), logins('bob')]));
    const r = readWtmp(wtmp);
    assert.deepEqual(users(r), ['alice', 'bob']);
    assert.deepEqual(r.bad, [{ reason: 'zeroed', count: 1, firstOffset: 384 }]);
  });
});

test('rotation: the rest of wtmp.1 is read from the stored offset, then the new wtmp from 0', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const wtmp = join(dir, 'wtmp');
    const state = join(dir, 'state.json');
    writeFileSync(wtmp, logins('alice'));
    readWtmp(wtmp, state).commit();
    appendFileSync(wtmp, logins('bob')); // written just before rotation, not yet read
    renameSync(wtmp, `${wtmp}.1`);
    writeFileSync(wtmp, logins('carol'));
    const r = readWtmp(wtmp, state);
    assert.deepEqual(users(r), ['bob', 'carol']);
    assert.deepEqual(r.notes.map((n) => n.kind), ['rotated']);
    r.commit();
    const again = readWtmp(wtmp, state);
    assert.deepEqual(users(again), []);
    assert.deepEqual(again.notes, []);
  });
});

test('rotation with the old file gone is reported, and the new file read from 0', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const wtmp = join(dir, 'wtmp');
    const state = join(dir, 'state.json');
    writeFileSync(wtmp, logins('alice'));
    readWtmp(wtmp, state).commit();
    // Created before the old one goes, so the new file cannot reuse its inode.
    writeFileSync(`${wtmp}.new`, logins('carol'));
    rmSync(wtmp);
    renameSync(`${wtmp}.new`, wtmp);
    const r = readWtmp(wtmp, state);
    assert.deepEqual(users(r), ['carol']);
    assert.deepEqual(r.notes.map((n) => n.kind), ['rotated-lost']);
  });
});

test('rewritten in place on the same inode (copytruncate, or a reused inode) is a tamper note and a read from 0', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const wtmp = join(dir, 'wtmp');
    const state = join(dir, 'state.json');
    writeFileSync(wtmp, logins('alice'));
    readWtmp(wtmp, state).commit();
    writeFileSync(wtmp, logins('mallory', 'bob')); // O_TRUNC: same inode, longer than the stored offset
    const r = readWtmp(wtmp, state);
    assert.deepEqual(users(r), ['mallory', 'bob']);
    assert.equal(r.notes[0]?.kind, 'tamper');
    assert.match(r.notes[0]?.detail ?? '', /another first record/);
  });
});

test('shrinking without rotation is a tamper note and a re-read from 0', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const wtmp = join(dir, 'wtmp');
    const state = join(dir, 'state.json');
    writeFileSync(wtmp, logins('alice', 'bob', 'carol'));
    readWtmp(wtmp, state).commit();
    truncateSync(wtmp, 384); // same inode, records removed
    const r = readWtmp(wtmp, state);
    assert.deepEqual(users(r), ['alice']);
    assert.equal(r.notes[0]?.kind, 'tamper');
    assert.match(r.notes[0]?.detail ?? '', /shrank to 384 bytes below the stored offset 1152/);
  });
});

test('the byte cap splits a read; more is true until the end', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const wtmp = join(dir, 'wtmp');
    const state = join(dir, 'state.json');
    writeFileSync(wtmp, logins('a', 'b', 'c', 'd', 'e'));
    const seen: string[] = [];
    const mores: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const r = readWtmp(wtmp, state, { maxBytes: 2 * 384 + 100 });
      seen.push(...users(r));
      mores.push(r.more);
      r.commit();
      if (!r.more) break;
    }
    assert.deepEqual(seen, ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(mores, [true, true, false]);
  });
});

test('a 10 GB sparse wtmp is read in bounded steps, zero records counted', () => {
  withDir((dir) => {
    const wtmp = join(dir, 'wtmp');
    const state = join(dir, 'state.json');
    writeFileSync(wtmp, '');
    truncateSync(wtmp, 10 * 1024 ** 3); // a hole: no disk used
    const started = process.hrtime.bigint();
    const r = readWtmp(wtmp, state);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(r.more, true);
    assert.deepEqual(r.records, []);
    const perCall = Math.floor((4 * 1024 * 1024) / 384);
    assert.deepEqual(r.bad, [{ reason: 'zeroed', count: perCall, firstOffset: 0 }]);
    assert.equal(r.position.offset, perCall * 384);
    assert.ok(ms < 5000, `first call took ${ms} ms`);
    r.commit();
    const r2 = readWtmp(wtmp, state);
    assert.equal(r2.more, true);
    assert.equal(r2.bad[0]?.firstOffset, perCall * 384);
  });
});

test('a missing wtmp is a note, not an error; a corrupt state file is FS_READ', () => {
  withDir((dir) => {
    const r = readWtmp(join(dir, 'wtmp'), join(dir, 'state.json'));
    assert.deepEqual(r.records, []);
    assert.deepEqual(r.notes.map((n) => n.kind), ['missing']);
    writeFileSync(join(dir, 'bad.json'), '{"inode": "x"}');
    writeFileSync(join(dir, 'wtmp'), '');
    assert.throws(() => readWtmp(join(dir, 'wtmp'), join(dir, 'bad.json')), (e) => e instanceof FileStateError && e.code === 'FS_READ');
  });
});

test('utmp is read whole as utmp-origin records', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip(NEEDS);
  withDir((dir) => {
    const utmp = join(dir, 'utmp');
    writeFileSync(utmp, logins('alice', 'bob'));
    const r = readUtmp(utmp);
    assert.deepEqual(r.records.map((x) => [x.user, x.origin, x.kind, x.address]), [
      ['alice', 'utmp', 'login', '198.18.0.1'],
      ['bob', 'utmp', 'login', '198.18.0.2'],
    ]);
    assert.deepEqual(readUtmp(join(dir, 'nope')).records, []);
  });
});
