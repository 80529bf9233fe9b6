import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readNew, offsetFileName, readOffsetFile, shrinkWarning, rewriteWarning, listGenerations } from '../src/logread/logfile.js';

function setup(): { dir: string; state: string; log: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ls-inputs-'));
  const state = join(dir, 'state');
  return { dir, state, log: join(dir, 'syslog'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

const mk = (tag: string, n: number): string[] => Array.from({ length: n }, (_, i) => `Nov 21 10:00:${String(i % 60).padStart(2, '0')} host app[1]: ${tag} line ${i}`);
const text = (lines: string[]): string => lines.map((l) => `${l}\n`).join('');

/** Reads and commits, as a run whose report was accepted. */
async function run(log: string, state: string): Promise<{ lines: string[]; warnings: string[] }> {
  const r = await readNew(log, state);
  r.commit();
  return { lines: r.lines, warnings: r.warnings };
}

test('first run reads everything, next runs only what was appended', async () => {
  const t = setup();
  try {
    writeFileSync(t.log, text(mk('a', 3)));
    assert.deepEqual((await run(t.log, t.state)).lines, mk('a', 3));
    assert.deepEqual((await run(t.log, t.state)).lines, []);
    appendFileSync(t.log, text(mk('b', 2)));
    assert.deepEqual((await run(t.log, t.state)).lines, mk('b', 2));
    const off = readOffsetFile(join(t.state, 'offset' + t.log.replaceAll('/', '.')));
    assert.equal(off.inode, statSync(t.log, { bigint: true }).ino.toString());
    assert.equal(off.offset, statSync(t.log).size);
  } finally {
    t.done();
  }
});

test('offset file name is logcheck\'s: offset + path with / as .', () => {
  assert.equal(offsetFileName('/var/log/syslog'), 'offset.var.log.syslog');
  assert.equal(offsetFileName('/var/log/apache2/error.log'), 'offset.var.log.apache2.error.log');
});

test('a half-written line is left for the next run and reported whole, once', async () => {
  const t = setup();
  try {
    writeFileSync(t.log, text(mk('a', 2)) + 'Nov 21 10:01:00 host app[1]: half');
    assert.deepEqual((await run(t.log, t.state)).lines, mk('a', 2));
    assert.deepEqual((await run(t.log, t.state)).lines, [], 'still unterminated: nothing');
    appendFileSync(t.log, ' written\n');
    assert.deepEqual((await run(t.log, t.state)).lines, ['Nov 21 10:01:00 host app[1]: half written']);
    assert.deepEqual((await run(t.log, t.state)).lines, []);
  } finally {
    t.done();
  }
});

test('without commit (-t) nothing is written and the same lines come again', async () => {
  const t = setup();
  try {
    writeFileSync(t.log, text(mk('a', 2)));
    const r1 = await readNew(t.log, t.state);
    assert.deepEqual(r1.lines, mk('a', 2));
    assert.equal(existsSync(t.state), false, 'state dir not even created');
    await run(t.log, t.state);
    const offFile = join(t.state, offsetFileName(t.log));
    const before = readFileSync(offFile);
    appendFileSync(t.log, text(mk('b', 1)));
    const r2 = await readNew(t.log, t.state);
    assert.deepEqual(r2.lines, mk('b', 1));
    assert.deepEqual(readFileSync(offFile), before);
    assert.deepEqual((await readNew(t.log, t.state)).lines, mk('b', 1), 'still unread');
  } finally {
    t.done();
  }
});

test('rotation by rename + create (.1): rest of the old file, then the new one', async () => {
  const t = setup();
  try {
    writeFileSync(t.log, text(mk('a', 3)));
    await run(t.log, t.state);
    appendFileSync(t.log, text(mk('b', 2)) + 'Nov 21 10:02:00 host app[1]: cut at rotation');
    renameSync(t.log, `${t.log}.1`);
    writeFileSync(t.log, text(mk('c', 2)));
    const r = await run(t.log, t.state);
    assert.deepEqual(r.lines, [...mk('b', 2), 'Nov 21 10:02:00 host app[1]: cut at rotation', ...mk('c', 2)]);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual((await run(t.log, t.state)).lines, []);
  } finally {
    t.done();
  }
});

test('rotation with dateext names finds the file by inode', async () => {
  const t = setup();
  try {
    writeFileSync(`${t.log}-20261119`, text(mk('old', 2)));
    writeFileSync(t.log, text(mk('a', 2)));
    await run(t.log, t.state);
    appendFileSync(t.log, text(mk('b', 2)));
    renameSync(t.log, `${t.log}-20261121`);
    writeFileSync(t.log, text(mk('c', 1)));
    assert.deepEqual((await run(t.log, t.state)).lines, [...mk('b', 2), ...mk('c', 1)]);
  } finally {
    t.done();
  }
});

test('a state written by logcheck (no fingerprint) still follows a .1 rotation by inode', async () => {
  const t = setup();
  try {
    writeFileSync(t.log, text(mk('a', 2)));
    const ino = statSync(t.log, { bigint: true }).ino;
    writeFileSync(join(t.dir, 'state-x'), '');
    const state = join(t.dir, 'lc');
    execFileSync('mkdir', ['-p', state]);
    writeFileSync(join(state, offsetFileName(t.log)), `${ino}\n${statSync(t.log).size}\n`);
    appendFileSync(t.log, text(mk('b', 1)));
    renameSync(t.log, `${t.log}.1`);
    writeFileSync(t.log, text(mk('c', 1)));
    assert.deepEqual((await run(t.log, state)).lines, [...mk('b', 1), ...mk('c', 1)]);
  } finally {
    t.done();
  }
});

test('two rotations with delaycompress (.2.gz, .1): nothing lost, nothing twice', async () => {
  const t = setup();
  try {
    writeFileSync(t.log, text(mk('a', 3)));
    await run(t.log, t.state);
    appendFileSync(t.log, text(mk('b', 2)));
    renameSync(t.log, `${t.log}.1`);
    writeFileSync(t.log, text(mk('c', 2)));
    // Second rotation: .1 is compressed to .2.gz (a new inode), the live file becomes .1.
    writeFileSync(`${t.log}.2.gz`, gzipSync(readFileSync(`${t.log}.1`)));
    unlinkSync(`${t.log}.1`);
    renameSync(t.log, `${t.log}.1`);
    writeFileSync(t.log, text(mk('d', 2)));
    const r = await run(t.log, t.state);
    assert.deepEqual(r.lines, [...mk('b', 2), ...mk('c', 2), ...mk('d', 2)]);
    assert.deepEqual(r.warnings, []);
  } finally {
    t.done();
  }
});

test('rotation compressed at once (.1.gz, no delaycompress) is read through zlib', async () => {
  const t = setup();
  try {
    writeFileSync(`${t.log}.2.gz`, gzipSync(text(mk('older', 5))));
    writeFileSync(t.log, text(mk('a', 200)));
    await run(t.log, t.state);
    appendFileSync(t.log, text(mk('b', 3)));
    writeFileSync(`${t.log}.1.gz`, gzipSync(readFileSync(t.log)));
    unlinkSync(t.log);
    writeFileSync(t.log, text(mk('c', 1)));
    assert.deepEqual((await run(t.log, t.state)).lines, [...mk('b', 3), ...mk('c', 1)]);
  } finally {
    t.done();
  }
});

test('copytruncate: the copy in .1 supplies the unread tail, no tampering warning', async () => {
  const t = setup();
  try {
    writeFileSync(t.log, text(mk('a', 4)));
    await run(t.log, t.state);
    appendFileSync(t.log, text(mk('b', 2)));
    copyFileSync(t.log, `${t.log}.1`);
    truncateSync(t.log, 0);
    appendFileSync(t.log, text(mk('c', 1)));
    const r = await run(t.log, t.state);
    assert.deepEqual(r.lines, [...mk('b', 2), ...mk('c', 1)]);
    assert.deepEqual(r.warnings, []);
  } finally {
    t.done();
  }
});

test('a file that shrank without rotation: logtail\'s warning, read from the start', async () => {
  const t = setup();
  try {
    writeFileSync(t.log, text(mk('a', 5)));
    await run(t.log, t.state);
    truncateSync(t.log, 0);
    appendFileSync(t.log, text(mk('x', 1)));
    const r = await run(t.log, t.state);
    assert.deepEqual(r.lines, mk('x', 1));
    assert.deepEqual(r.warnings, [shrinkWarning(t.log)]);
    assert.match(r.warnings[0]!, /\*\*\* WARNING \*\*\*: Log file .* is smaller than last time checked!\n\*{15} This could indicate tampering\./);
  } finally {
    t.done();
  }
});

test('a file truncated and refilled past the old offset is caught by the fingerprint', async () => {
  const t = setup();
  try {
    writeFileSync(t.log, text(mk('a', 3)));
    await run(t.log, t.state);
    truncateSync(t.log, 0);
    appendFileSync(t.log, text(mk('forged', 6)));
    const r = await run(t.log, t.state);
    assert.deepEqual(r.lines, mk('forged', 6));
    assert.deepEqual(r.warnings, [rewriteWarning(t.log)]);
  } finally {
    t.done();
  }
});

test('large input in bounded chunks and batches: every line exactly once', async () => {
  const t = setup();
  try {
    const all = mk('big', 20_000);
    writeFileSync(t.log, text(all));
    const got: string[] = [];
    let rounds = 0;
    for (;;) {
      const r = await readNew(t.log, t.state, { chunkBytes: 4096, maxBytes: 100_000 });
      got.push(...r.lines);
      r.commit();
      rounds++;
      if (!r.more) break;
    }
    assert.ok(rounds > 5, `read in ${rounds} batches`);
    assert.deepEqual(got, all);
  } finally {
    t.done();
  }
});

test('a missing file is a warning, not an error, and its commit keeps the state', async () => {
  const t = setup();
  try {
    const r = await readNew(join(t.dir, 'nope'), t.state);
    assert.deepEqual(r.lines, []);
    assert.match(r.warnings[0]!, /^E: File could not be read: .*nope/);
    r.commit();
    assert.equal(existsSync(t.state), false);
  } finally {
    t.done();
  }
});

test('generations are ordered oldest first', () => {
  const t = setup();
  try {
    for (const n of ['syslog.3.gz', 'syslog.1', 'syslog.2.gz', 'syslog.0', 'syslog-20261120', 'syslog-20261119.gz', 'syslogx.1', 'syslog.bak']) writeFileSync(join(t.dir, n), '');
    assert.deepEqual(
      listGenerations(t.log).map((g) => g.path.slice(t.dir.length + 1)),
      ['syslog-20261119.gz', 'syslog-20261120', 'syslog.3.gz', 'syslog.2.gz', 'syslog.1', 'syslog.0'],
    );
  } finally {
    t.done();
  }
});

/** The real logtail2: from the reference extraction, or LOGTAIL2. */
function findLogtail2(): string | undefined {
  const candidates = [process.env.LOGTAIL2, '/opt/trisentry-ref/logtail/usr/sbin/logtail2', '/opt/trisentry-ref/logcheck/usr/sbin/logtail2', '/usr/sbin/logtail2'];
  return candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
}

test('offset files are byte-identical to Debian logtail2\'s, and each reads the other\'s', async (t) => {
  const logtail2 = findLogtail2();
  if (logtail2 === undefined) return t.skip('logtail2 not found (set LOGTAIL2, or unpack Debian\'s logtail package into /opt/trisentry-ref/logtail)');
  try {
    execFileSync('perl', ['-e', '1']);
  } catch {
    return t.skip('perl not available');
  }
  const s = setup();
  try {
    const lt = join(s.dir, 'lt-state');
    execFileSync('mkdir', ['-p', lt]);
    const ltOff = join(lt, offsetFileName(s.log));
    const ours = join(s.state, offsetFileName(s.log));
    writeFileSync(s.log, text(mk('a', 10)));
    const ltOut1 = execFileSync('perl', [logtail2, '-f', s.log, '-o', ltOff], { encoding: 'utf8' });
    const r1 = await run(s.log, s.state);
    assert.equal(ltOut1, text(r1.lines));
    assert.deepEqual(readFileSync(ours), readFileSync(ltOff));
    appendFileSync(s.log, text(mk('b', 7)));
    const ltOut2 = execFileSync('perl', [logtail2, '-f', s.log, '-o', ltOff], { encoding: 'utf8' });
    const r2 = await run(s.log, s.state);
    assert.equal(ltOut2, text(r2.lines));
    assert.deepEqual(readFileSync(ours), readFileSync(ltOff));
    // logtail2 continues from our offset file and we from its: both see the same new lines.
    appendFileSync(s.log, text(mk('c', 3)));
    writeFileSync(ltOff, readFileSync(ours));
    assert.equal(execFileSync('perl', [logtail2, '-t', '-f', s.log, '-o', ltOff], { encoding: 'utf8' }), text(mk('c', 3)));
    assert.deepEqual((await readNew(s.log, lt)).lines, mk('c', 3));
  } finally {
    s.done();
  }
});

test('lines split across reads of any size decode as each line alone: UTF-8 (multibyte, invalid bytes) and latin1, empty lines, long lines', async () => {
  const t = setup();
  try {
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const pieces = [Buffer.from('é'), Buffer.from('中'), Buffer.from('😀'), Buffer.from([0xe9]), Buffer.from([0xe2, 0x82]), Buffer.from([0xc2, 0x85]), Buffer.from('ab '), Buffer.from('\t'), Buffer.from('\r')];
    const lines: Buffer[] = [];
    for (let k = 0; k < 400; k++) {
      const parts: Buffer[] = [];
      const n = k % 37 === 0 ? 0 : k % 53 === 0 ? 3000 : Math.floor(rnd() * 30);
      for (let i = 0; i < n; i++) parts.push(pieces[Math.floor(rnd() * pieces.length)]!);
      lines.push(Buffer.concat(parts));
    }
    const bytes = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
    writeFileSync(t.log, Buffer.concat([bytes, Buffer.from('unterminated')]));
    for (const encoding of ['utf8', 'latin1'] as const) {
      const want = lines.map((l) => l.toString(encoding));
      for (const chunkBytes of [1, 2, 3, 7, 64, 1000, 1 << 20]) {
        rmSync(t.state, { recursive: true, force: true });
        const r = await readNew(t.log, t.state, { chunkBytes, encoding });
        assert.deepEqual(r.lines, want, `${encoding}, reads of ${chunkBytes}`);
        assert.equal(r.more, false);
      }
    }
  } finally {
    t.done();
  }
});
