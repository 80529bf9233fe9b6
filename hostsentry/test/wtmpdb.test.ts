import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateError } from '@trisentry/shared';
import { readWtmpdb, sqlite3Version, type WtmpdbRead } from '../src/inputs/wtmpdb.js';

function hasSqlite3(): boolean {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const HAVE_SQLITE3 = hasSqlite3();
const NEEDS = 'needs the sqlite3 shell (Debian package sqlite3) to build and read wtmpdb databases';

/** wtmpdb's table exactly as lib/sqlite.c creates it. */
const SCHEMA =
  'CREATE TABLE IF NOT EXISTS wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT NOT NULL, Login INTEGER, Logout INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT) STRICT;';
/** The same table without STRICT and NOT NULL: what a forged (or pre-STRICT) database can hold. */
const LOOSE_SCHEMA = 'CREATE TABLE wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT, Login INTEGER, Logout INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT);';

/** Runs SQL on `db` as a writer would (the sqlite3 shell, argv only, SQL on stdin). */
function sql(db: string, text: string): void {
  execFileSync('sqlite3', ['-init', '/dev/null', '-batch', '-bail', db], { input: text, stdio: ['pipe', 'ignore', 'pipe'] });
}

// 2024-03-01T09:00:00Z in µs, wtmpdb's unit.
const T0 = 1_709_283_600_000_000;
const MIN = 60_000_000;
/** A login row as pam_wtmpdb writes it. */
function login(user: string, minute: number, tty: string, host: string | null, service = 'sshd'): string {
  const h = host === null ? 'NULL' : `'${host}'`;
  return `INSERT INTO wtmp (Type,User,Login,TTY,RemoteHost,Service) VALUES (3,'${user}',${T0 + minute * MIN},'${tty}',${h},'${service}');`;
}
const logout = (id: number, minute: number): string => `UPDATE wtmp SET Logout = ${T0 + minute * MIN} WHERE ID = ${id};`;
const ms = (minute: number): number => (T0 + minute * MIN) / 1000;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hs-wtmpdb-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The records' times are of 2024: a fixed "now" keeps the far-future check independent of the clock.
const NOW = { now: ms(0) + 86_400_000 };
const ev = (r: WtmpdbRead): string[] => r.records.map((x) => `${x.kind}:${x.user}@${x.tty}`);

test('logins, a logout as an UPDATE of the row, then new rows; commit and no commit', async (t) => {
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  await withDir(async (dir) => {
    const db = join(dir, 'wtmp.db');
    const state = join(dir, 'state.json');
    sql(db, SCHEMA + login('alice', 0, 'pts/0', '198.51.100.7') + login('bob', 1, 'pts/1', 'ws1.example.net', 'login'));

    const r1 = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(r1), ['login:alice@pts/0', 'login:bob@pts/1']);
    const [a, b] = r1.records;
    assert.equal(a?.host, '198.51.100.7');
    assert.equal(a?.address, '198.51.100.7');
    assert.equal(a?.time, ms(0));
    assert.equal(a?.origin, 'wtmpdb');
    assert.equal(a?.offset, 1);
    // A host name is kept as the host, but it is not an address.
    assert.equal(b?.host, 'ws1.example.net');
    assert.equal(b?.address, undefined);
    assert.equal(b?.offset, 2);
    assert.deepEqual(r1.notes, []);
    assert.deepEqual(r1.bad, []);
    assert.equal(r1.more, false);
    assert.deepEqual(r1.position.open.map(([id]) => id), ['1', '2']);
    r1.commit();
    assert.deepEqual(ev(await readWtmpdb(db, state, NOW)), []);

    // alice logs out (wtmpdb updates her row) and carol logs in from an IPv6 address.
    sql(db, logout(1, 5) + login('carol', 3, 'pts/2', '2001:DB8:0:0::5'));
    const r2 = await readWtmpdb(db, state, NOW);
    // In time order: carol's login (minute 3) before alice's logout (minute 5).
    assert.deepEqual(ev(r2), ['login:carol@pts/2', 'logout:alice@pts/0']);
    assert.equal(r2.records[0]?.address, '2001:db8::5');
    const out = r2.records[1];
    assert.equal(out?.time, ms(5));
    assert.equal(out?.offset, 1);
    assert.equal(out?.address, '198.51.100.7');
    // Not committed: the same events come again (a crash before handling loses nothing).
    assert.deepEqual(ev(await readWtmpdb(db, state, NOW)), ['login:carol@pts/2', 'logout:alice@pts/0']);
    r2.commit();
    const r3 = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(r3), []);
    assert.deepEqual(r3.position.open.map(([id]) => id), ['2', '3']);

    // A login and its logout both between two reads: both events, nothing left open.
    sql(db, login('dave', 10, 'pts/3', null) + logout(4, 12));
    const r4 = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(r4), ['login:dave@pts/3', 'logout:dave@pts/3']);
    assert.equal(r4.records[0]?.host, '');
    assert.deepEqual(r4.position.open.map(([id]) => id), ['2', '3']);
  });
});

test('a boot row (wtmpdb boot) and its Logout (wtmpdb shutdown); a boot ends the sessions before it', async (t) => {
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  await withDir(async (dir) => {
    const db = join(dir, 'wtmp.db');
    const state = join(dir, 'state.json');
    sql(db, SCHEMA + login('alice', 0, 'pts/0', '198.51.100.7'));
    (await readWtmpdb(db, state, NOW)).commit();
    // The machine went down without a logout for alice; `wtmpdb boot` writes the kernel release as host.
    sql(db, `INSERT INTO wtmp (Type,User,Login,TTY,RemoteHost,Service) VALUES (1,'reboot',${T0 + 30 * MIN},'~','6.1.0-18-amd64',NULL);`);
    sql(db, login('bob', 31, 'tty1', null, 'login'));
    const r = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(r), ['boot:reboot@~', 'login:bob@tty1']);
    assert.equal(r.records[0]?.host, '6.1.0-18-amd64');
    assert.equal(r.records[0]?.address, undefined);
    assert.equal(r.records[0]?.time, ms(30));
    // alice's row is no longer followed: no logout will be written for a session the reboot ended.
    assert.deepEqual(r.position.open.map(([id]) => id), ['2', '3']);
    r.commit();

    sql(db, logout(2, 90) + logout(3, 89));
    const s = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(s), ['logout:bob@tty1', 'shutdown:reboot@~']);
    assert.equal(s.records[1]?.time, ms(90));
    s.commit();
    assert.deepEqual((await readWtmpdb(db, state, NOW)).position.open, []);
  });
});

test('garbage rows are counted and skipped, odd text is escaped; nothing throws', async (t) => {
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  await withDir(async (dir) => {
    const db = join(dir, 'wtmp.db');
    const far = T0 + 400 * 86_400 * 1_000_000;
    sql(
      db,
      LOOSE_SCHEMA +
        login('alice', 0, 'pts/0', '198.51.100.7') + // 1: good
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (3,NULL,${T0},'pts/1');` + // 2: NULL user
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (3,'',${T0},'pts/1');` + // 3: empty user
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (3,'bob',-5,'pts/1');` + // 4: negative time
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (3,'bob',${far},'pts/1');` + // 5: a year ahead
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (3,'bob',NULL,'pts/1');` + // 6: no time
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (3,'bob',1500000000000000.5,'pts/1');` + // 7: a real, not an integer
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (3,'bob',9223372036854775807,'pts/1');` + // 8: the largest int64
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (9,'bob',${T0},'pts/1');` + // 9: no such type
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES ('three','bob',${T0},'pts/1');` + // 10: text type
        `INSERT INTO wtmp (Type,User,Login,TTY,RemoteHost) VALUES (3,'bob',${T0},'pts/1',replace(hex(zeroblob(1000)),'0','a'));` + // 11: 2000-byte host
        `INSERT INTO wtmp (Type,User,Login,TTY,RemoteHost) VALUES (3,'eve'||char(10)||'root',${T0 + MIN},'pts/2'||char(27)||'[2J',CAST(X'6576696CFF2E6578616D706C65' AS TEXT));` + // 12: LF, ESC, invalid UTF-8
        `INSERT INTO wtmp (Type,User,Login,Logout,TTY) VALUES (3,'carol',${T0 + 2 * MIN},${T0},'pts/3');` + // 13: logout before login
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (2,'runlevel',${T0},'~');` + // 14: RUNLEVEL, unused: ignored
        `INSERT INTO wtmp (Type,User,Login,TTY) VALUES (0,'',${T0},'');`, // 15: EMPTY: ignored
    );
    const r = await readWtmpdb(db, undefined, NOW);
    assert.deepEqual(
      r.records.map((x) => [x.kind, x.user, x.tty, x.host, x.offset]),
      [
        ['login', 'alice', 'pts/0', '198.51.100.7', 1],
        ['login', 'eve#012root', 'pts/2#033[2J', 'evil\uFFFD.example', 12],
        ['login', 'carol', 'pts/3', '', 13],
      ],
    );
    for (const x of r.records) assert.doesNotMatch(`${x.user}${x.tty}${x.host}`, /[\x00-\x1f\x7f-\x9f]/);
    const bad = Object.fromEntries(r.bad.map((b) => [b.reason, [b.count, b.firstRow]]));
    assert.deepEqual(bad, {
      'bad-user': [2, '2'],
      'bad-time': [6, '4'], // rows 4, 5, 6, 7, 8 and the logout of 13
      'bad-type': [2, '9'],
      'bad-field': [1, '11'],
      escaped: [1, '12'],
    });
    assert.deepEqual(r.notes, []);
  });
});

test('a missing database is a note, not an error, and keeps the stored position', async (t) => {
  await withDir(async (dir) => {
    const state = join(dir, 'state.json');
    writeFileSync(state, JSON.stringify({ lastId: '7', recent: [['7', 'x']], open: [['5', '1']] }));
    const r = await readWtmpdb(join(dir, 'nope', 'wtmp.db'), state);
    assert.deepEqual(r.records, []);
    assert.deepEqual(
      r.notes.map((n) => n.kind),
      ['missing'],
    );
    assert.equal(r.position.lastId, '7');
    assert.deepEqual(r.position.open, [['5', '1']]);
  });
});

test('a database without the table yet is empty; a file that is no database is an error note', async (t) => {
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  await withDir(async (dir) => {
    const empty = join(dir, 'empty.db');
    sql(empty, 'CREATE TABLE other(x);');
    const e = await readWtmpdb(empty, undefined, NOW);
    assert.deepEqual(e.records, []);
    assert.deepEqual(e.notes, []);

    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not an SQLite database, just a text file long enough to have a header\n'.repeat(20));
    const j = await readWtmpdb(junk, undefined, NOW);
    assert.deepEqual(j.records, []);
    assert.equal(j.notes.length, 1);
    assert.equal(j.notes[0]?.kind, 'error');
    assert.match(j.notes[0]?.detail ?? '', /not a database/);
  });
});

test('a replaced database (fewer rows, or as many with other data) resets the read to the first row', async (t) => {
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  await withDir(async (dir) => {
    const db = join(dir, 'wtmp.db');
    const state = join(dir, 'state.json');
    sql(db, SCHEMA + login('alice', 0, 'pts/0', null) + login('bob', 1, 'pts/1', null) + login('carol', 2, 'pts/2', null));
    (await readWtmpdb(db, state, NOW)).commit();

    // Fewer rows than read before.
    const fresh = join(dir, 'new.db');
    sql(fresh, SCHEMA + login('mallory', 3, 'pts/0', '203.0.113.9'));
    renameSync(fresh, db);
    const r = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(r), ['login:mallory@pts/0']);
    assert.deepEqual(
      r.notes.map((n) => n.kind),
      ['reset'],
    );
    assert.deepEqual(r.position.open.map(([id]) => id), ['1']);
    r.commit();

    // As many rows and more, but not the rows read before.
    const other = join(dir, 'other.db');
    sql(other, SCHEMA + login('x', 10, 'pts/0', null) + login('y', 11, 'pts/1', null));
    renameSync(other, db);
    const s = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(s), ['login:x@pts/0', 'login:y@pts/1']);
    assert.deepEqual(
      s.notes.map((n) => n.kind),
      ['reset'],
    );
    s.commit();

    // Emptied (wtmpdb rotate moved every row out): a reset, and the next login (id 1 again) is read.
    sql(db, 'DELETE FROM wtmp;');
    const e = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(e), []);
    assert.deepEqual(
      e.notes.map((n) => n.kind),
      ['reset'],
    );
    e.commit();
    sql(db, login('z', 20, 'pts/0', null));
    const z = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(z), ['login:z@pts/0']);
    assert.deepEqual(z.notes, []);
  });
});

test('the newest rows deleted: a tamper note, and logins that reuse their ids are still read', async (t) => {
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  await withDir(async (dir) => {
    const db = join(dir, 'wtmp.db');
    const state = join(dir, 'state.json');
    sql(db, SCHEMA + login('alice', 0, 'pts/0', null) + login('bob', 1, 'pts/1', null) + login('mallory', 2, 'pts/2', '203.0.113.9'));
    (await readWtmpdb(db, state, NOW)).commit();
    // mallory deletes her row; SQLite gives the next row the highest id + 1, which is hers (3) again.
    sql(db, 'DELETE FROM wtmp WHERE ID = 3;' + login('carol', 5, 'pts/2', null));
    const r = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(r), ['login:carol@pts/2']);
    assert.deepEqual(
      r.notes.map((n) => n.kind),
      ['tamper', 'vanished'],
    );
    assert.equal(r.records[0]?.offset, 3);
    // mallory's open row is gone and carol's is followed under the same id.
    assert.deepEqual(r.position.open, [
      ['1', String(T0)],
      ['2', String(T0 + MIN)],
      ['3', String(T0 + 5 * MIN)],
    ]);
    r.commit();
    assert.deepEqual(ev(await readWtmpdb(db, state, NOW)), []);
  });
});

test('an open row that disappears (rotated away, or deleted) is reported', async (t) => {
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  await withDir(async (dir) => {
    const db = join(dir, 'wtmp.db');
    const state = join(dir, 'state.json');
    sql(db, SCHEMA + login('alice', 0, 'pts/0', null) + login('bob', 1, 'pts/1', null));
    (await readWtmpdb(db, state, NOW)).commit();
    sql(db, 'DELETE FROM wtmp WHERE ID = 1;');
    const r = await readWtmpdb(db, state, NOW);
    assert.deepEqual(r.records, []);
    const v = r.notes.find((n) => n.kind === 'vanished');
    assert.ok(v && v.kind === 'vanished');
    assert.deepEqual(v.rowIds, ['1']);
    assert.deepEqual(r.position.open.map(([id]) => id), ['2']);
  });
});

test('maxRows pages through a large database; maxOpen bounds the open rows followed', async (t) => {
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  await withDir(async (dir) => {
    const db = join(dir, 'wtmp.db');
    const state = join(dir, 'state.json');
    let text = SCHEMA + 'BEGIN;';
    for (let i = 0; i < 25; i++) text += login(`u${i}`, i, `pts/${i}`, `198.18.0.${i + 1}`);
    sql(db, `${text}COMMIT;`);
    const seen: string[] = [];
    for (let calls = 0; calls < 10; calls++) {
      const r = await readWtmpdb(db, state, { ...NOW, maxRows: 10, maxOpen: 4 });
      seen.push(...r.records.map((x) => x.user));
      assert.ok(r.position.open.length <= 4);
      r.commit();
      if (!r.more) break;
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => `u${i}`),
    );
    const last = await readWtmpdb(db, state, { ...NOW, maxOpen: 4 });
    assert.deepEqual(last.position.open.map(([id]) => id), ['22', '23', '24', '25']);
  });
});

test('a writer holding the database locked: a busy note, nothing read, and the next read gets it all', async (t) => {
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  await withDir(async (dir) => {
    const db = join(dir, 'wtmp.db');
    const state = join(dir, 'state.json');
    sql(db, SCHEMA + login('alice', 0, 'pts/0', null));
    // A writer in the middle of a transaction with an EXCLUSIVE lock: no reader may look now.
    const writer = spawn('sqlite3', ['-init', '/dev/null', '-batch', db], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((res, rej) => {
        writer.stdout.on('data', (b: Buffer) => {
          if (b.toString().includes('locked')) res();
        });
        writer.on('error', rej);
        writer.stdin.write(`BEGIN EXCLUSIVE;\n${login('bob', 1, 'pts/1', null)}\nSELECT 'locked';\n`);
      });
      const r = await readWtmpdb(db, state, { ...NOW, busyTimeoutMs: 50 });
      assert.deepEqual(r.records, []);
      assert.deepEqual(
        r.notes.map((n) => n.kind),
        ['busy'],
      );
      r.commit(); // keeps the stored position: nothing was read
    } finally {
      const closed = new Promise((res) => writer.on('close', res));
      writer.stdin.end('COMMIT;\n');
      await closed;
    }
    const r2 = await readWtmpdb(db, state, NOW);
    assert.deepEqual(ev(r2), ['login:alice@pts/0', 'login:bob@pts/1']);
  });
});

test('a corrupt state file is an error, never a silent restart', async () => {
  await withDir(async (dir) => {
    const state = join(dir, 'state.json');
    writeFileSync(state, JSON.stringify({ lastId: 'DROP TABLE', recent: [], open: [] }));
    await assert.rejects(readWtmpdb(join(dir, 'wtmp.db'), state), FileStateError);
    writeFileSync(state, '{"lastId": "3", "recent": [], "open": [["1; --", "0"]]}');
    await assert.rejects(readWtmpdb(join(dir, 'wtmp.db'), state), FileStateError);
  });
});

test('sqlite3Version reads the shell version, undefined when absent', async (t) => {
  assert.equal(await sqlite3Version('/nonexistent/sqlite3'), undefined);
  if (!HAVE_SQLITE3) return t.skip(NEEDS);
  assert.match((await sqlite3Version()) ?? '', /^3\.\d+\.\d+$/);
});
