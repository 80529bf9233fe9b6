import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GLIBC_X86_64,
  UT_TYPE,
  countBad,
  decodeRecord,
  decodeRecords,
  escapeControl,
  isBad,
  toLoginRecord,
  type BadCount,
  type UtmpRecord,
} from '../src/core/utmp.js';

function has(bin: string, args: string[]): boolean {
  try {
    execFileSync(bin, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const HAVE_UTMPDUMP = has('utmpdump', ['-V']);
const HAVE_LAST = has('last', ['-V']);
const HAVE_CC = has('cc', ['--version']);

/** Builds a binary wtmp from utmpdump text (util-linux's own converter, not ours). */
function undump(text: string | Buffer): Buffer {
  return execFileSync('utmpdump', ['-r'], { input: text, stdio: ['pipe', 'pipe', 'ignore'] });
}

const SAMPLE = [
  '[2] [00000] [~~  ] [reboot  ] [~           ] [6.1.0-18-amd64      ] [0.0.0.0        ] [2024-03-01T08:00:00,000000+00:00]',
  '[7] [01234] [ts/0] [alice   ] [pts/0       ] [198.18.0.5          ] [198.18.0.5     ] [2024-03-01T09:00:00,123456+00:00]',
  '[7] [01240] [ts/1] [bob     ] [pts/1       ] [gw.example.org      ] [2001:db8::1    ] [2024-03-01T09:05:00,000000+00:00]',
  '[7] [01250] [tty1] [carol   ] [tty1        ] [                    ] [0.0.0.0        ] [2024-03-01T09:06:00,000000+00:00]',
  '[8] [01234] [ts/0] [        ] [pts/0       ] [                    ] [0.0.0.0        ] [2024-03-01T10:00:00,000000+00:00]',
  '[1] [00000] [~~  ] [shutdown] [~~          ] [6.1.0-18-amd64      ] [0.0.0.0        ] [2024-03-01T12:00:00,000000+00:00]',
  '',
].join('\n');

function decodeAll(buf: Uint8Array): UtmpRecord[] {
  const d = decodeRecords(buf, 0);
  assert.deepEqual(d.bad, []);
  return d.records;
}

test('the layout table matches offsetof() in this machine\'s <utmp.h>', (t) => {
  if (!HAVE_CC) return t.skip('needs a C compiler (cc) to check the layout against <utmp.h>');
  const dir = mkdtempSync(join(tmpdir(), 'hs-utmp-cc-'));
  try {
    const fields = ['ut_type', 'ut_pid', 'ut_line', 'ut_id', 'ut_user', 'ut_host', 'ut_exit', 'ut_session', 'ut_tv.tv_sec', 'ut_tv.tv_usec', 'ut_addr_v6'];
    const lines = fields.map((f) => `printf("%zu %zu\\n", offsetof(struct utmp, ${f}), sizeof(((struct utmp *)0)->${f}));`);
    writeFileSync(
      join(dir, 'o.c'),
      `#include <utmp.h>\n#include <stdio.h>\n#include <stddef.h>\nint main(void){${lines.join('')}printf("%zu 0\\n", sizeof(struct utmp));return 0;}\n`,
    );
    execFileSync('cc', ['-o', join(dir, 'o'), join(dir, 'o.c')]);
    const got = execFileSync(join(dir, 'o'), { encoding: 'utf8' }).trim().split('\n');
    const L = GLIBC_X86_64;
    const want = [L.type, L.pid, L.line, L.id, L.user, L.host, L.exit, L.session, L.tvSec, L.tvUsec, L.addr].map((f) => `${f.offset} ${f.size}`);
    want.push(`${L.recordSize} 0`);
    assert.deepEqual(got, want);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('decoding agrees field by field with utmpdump on a file utmpdump built', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip('needs utmpdump (util-linux)');
  const buf = undump(SAMPLE);
  assert.equal(buf.length, 6 * 384);
  const dir = mkdtempSync(join(tmpdir(), 'hs-utmp-'));
  try {
    const file = join(dir, 'wtmp');
    writeFileSync(file, buf);
    const dump = execFileSync('utmpdump', [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n');
    const recs = decodeAll(buf);
    assert.equal(recs.length, dump.length);
    recs.forEach((r, i) => {
      const cols = [...(dump[i] ?? '').matchAll(/\[([^\]]*)\]/g)].map((m) => (m[1] ?? '').trim());
      const [type, pid, id, user, line, host, addr, time] = cols;
      assert.equal(String(r.type), type);
      assert.equal(r.pid, Number(pid));
      assert.equal(r.id.trimEnd(), id); // utmpdump pads its columns with spaces
      assert.equal(r.user, user);
      assert.equal(r.line, line);
      assert.equal(r.host, host);
      assert.equal(r.address === '' ? '0.0.0.0' : r.address, addr);
      const iso = new Date(r.sec * 1000).toISOString().replace('.000Z', '');
      assert.equal(`${iso},${String(r.usec).padStart(6, '0')}+00:00`, time);
    });
    assert.equal(recs[1]?.address, '198.18.0.5');
    assert.equal(recs[2]?.address, '2001:db8::1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('logins agree with last -f FILE (user, tty, host, login time)', (t) => {
  if (!HAVE_UTMPDUMP || !HAVE_LAST) return t.skip('needs utmpdump and last (util-linux)');
  const dir = mkdtempSync(join(tmpdir(), 'hs-utmp-last-'));
  try {
    const file = join(dir, 'wtmp');
    const buf = undump(SAMPLE);
    writeFileSync(file, buf);
    const out = execFileSync('last', ['-f', file, '-w', '--time-format', 'iso'], {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC' },
    });
    const fromLast = out
      .split('\n')
      .filter((l) => /^\S+\s+\S+\s+/.test(l) && !/^(reboot|shutdown|wtmp)\s/.test(l) && !l.includes(' begins '))
      .map((l) => {
        const m = /^(\S+)\s+(\S+)\s+(\S+)?\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\+00:00/.exec(l);
        assert.ok(m, `unparsed last line: ${l}`);
        return `${m[1]} ${m[2]} ${m[3] ?? ''} ${m[4]}`;
      })
      .sort();
    const ours = decodeAll(buf)
      .map((r) => toLoginRecord(r, 'wtmp'))
      .filter((r) => r?.kind === 'login')
      .map((r) => `${r?.user} ${r?.tty} ${r?.host} ${new Date(r?.time ?? 0).toISOString().slice(0, 19)}`)
      .sort();
    assert.equal(ours.length, 3);
    assert.deepEqual(ours, fromLast);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('records map to login, logout, boot and shutdown events', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip('needs utmpdump (util-linux)');
  const evs = decodeAll(undump(SAMPLE)).map((r) => toLoginRecord(r, 'wtmp'));
  assert.deepEqual(
    evs.map((e) => e?.kind),
    ['boot', 'login', 'login', 'login', 'logout', 'shutdown'],
  );
  const alice = evs[1];
  assert.equal(alice?.time, Date.UTC(2024, 2, 1, 9, 0, 0, 123));
  assert.equal(alice?.pid, 1234);
  assert.equal(alice?.origin, 'wtmp');
  assert.equal(alice?.offset, 384);
  assert.equal(alice?.method, undefined);
  // The logout pairs with alice's login by tty and pid, not by user (the logout has none).
  assert.equal(evs[4]?.tty, 'pts/0');
  assert.equal(evs[4]?.pid, 1234);
  assert.equal(evs[4]?.user, '');
  assert.equal(evs[3]?.host, '');
  assert.equal(evs[3]?.address, undefined);
  // Other types are not events.
  const r = decodeAll(undump('[6] [00042] [tty2] [LOGIN   ] [tty2        ] [                    ] [0.0.0.0        ] [2024-03-01T08:00:00,000000+00:00]\n'))[0];
  assert.ok(r);
  assert.equal(r.type, UT_TYPE.LOGIN_PROCESS);
  assert.equal(toLoginRecord(r, 'utmp'), undefined);
});

test('a non-UTF-8 user and a host with control characters are decoded and escaped', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip('needs utmpdump (util-linux)');
  const line = Buffer.concat([
    Buffer.from('[7] [00777] [ts/2] ['),
    Buffer.from([0xff, 0xfe, 0x65, 0x76]),
    Buffer.from('] [pts/2       ] [evil\x1b[31m\thost\x7f] [198.18.0.9     ] [2024-03-01T11:00:00,000000+00:00]\n'),
  ]);
  const [r] = decodeAll(undump(line));
  assert.ok(r);
  assert.equal(r.user, '\uFFFD\uFFFDev');
  assert.equal(r.host, 'evil#033[31m#011host#177');
  const ev = toLoginRecord(r, 'wtmp');
  assert.ok(ev);
  for (const v of Object.values(ev)) {
    if (typeof v === 'string') assert.doesNotMatch(v, /[\x00-\x1f\x7f-\x9f]/);
  }
});

test('escapeControl uses #ooo and leaves ordinary text alone', () => {
  assert.equal(escapeControl('plain ü'), 'plain ü');
  assert.equal(escapeControl('a\nb\r\x00\x9b'), 'a#012b#015#000#233');
});

test('a zeroed record and a torn tail are counted with their offsets, not decoded', (t) => {
  if (!HAVE_UTMPDUMP) return t.skip('needs utmpdump (util-linux)');
  const good = undump(SAMPLE);
  const buf = Buffer.concat([good.subarray(0, 384), Buffer.alloc(384), good.subarray(384, 768), good.subarray(768, 868)]);
  const d = decodeRecords(buf, 1000);
  assert.equal(d.records.length, 2);
  assert.equal(d.records[1]?.offset, 1000 + 768);
  assert.deepEqual(d.bad, [
    { bad: 'zeroed', offset: 1384 },
    { bad: 'torn', offset: 1000 + 1152 },
  ]);
  assert.equal(d.consumed, 1152);
  const counts: BadCount[] = [];
  countBad(counts, d.bad);
  countBad(counts, [{ bad: 'zeroed', offset: 9 }]);
  assert.deepEqual(counts, [
    { reason: 'zeroed', count: 2, firstOffset: 1384 },
    { reason: 'torn', count: 1, firstOffset: 2152 },
  ]);
  assert.deepEqual(decodeRecord(buf, 2152), { bad: 'torn', offset: 2152 });
});

test('garbage never throws: bad type and bad time are reasons, random bytes are safe', () => {
  const rec = new Uint8Array(384);
  const dv = new DataView(rec.buffer);
  dv.setInt16(0, 0x4141, true);
  assert.deepEqual(decodeRecord(rec, 0), { bad: 'bad-type', offset: 0 });
  dv.setInt16(0, 7, true);
  dv.setInt32(344, 1_000_000, true);
  assert.deepEqual(decodeRecord(rec, 0), { bad: 'bad-time', offset: 0 });
  dv.setInt32(344, 0, true);
  dv.setUint32(340, 0xf0000000, true); // after 2038: read unsigned
  const r = decodeRecord(rec, 0);
  assert.ok(!isBad(r));
  assert.equal(r.sec, 0xf0000000);

  // A deterministic pseudo-random generator, so a failure is reproducible.
  let seed = 12345;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  const junk = new Uint8Array(384 * 2000 + 17);
  for (let i = 0; i < junk.length; i++) junk[i] = next();
  for (let i = 0; i < 2000; i++) junk.set([i % 12, 0], i * 384); // some types in range, so strings get decoded
  for (let i = 0; i < 2000; i++) junk.fill(0, i * 384 + 344, i * 384 + 348); // usec 0
  const d = decodeRecords(junk, 0);
  assert.equal(d.records.length + d.bad.length, 2001);
  assert.ok(d.records.length > 1000);
  for (const g of d.records) {
    for (const s of [g.user, g.host, g.line, g.id]) assert.doesNotMatch(s, /[\x00-\x1f\x7f-\x9f]/);
  }
});
