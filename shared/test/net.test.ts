import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddressSet,
  addressFromBytes,
  formatAddress,
  formatPrefix,
  parseAddress,
  parsePrefix,
  prefixContains,
  tryParseAddress,
  tryParsePrefix,
} from '../src/net/index.js';
import { AddressError } from '../src/errors.js';

test('IPv4 dotted quads parse; leading zeros, short forms and junk are refused', () => {
  assert.deepEqual([...parseAddress('192.0.2.1').bytes], [192, 0, 2, 1]);
  assert.equal(parseAddress('0.0.0.0').family, 4);
  assert.equal(parseAddress('255.255.255.255').toString(), '255.255.255.255');
  for (const bad of ['010.1.1.1', '1.2.3.04', '256.1.1.1', '1.2.3', '1.2.3.4.5', '1..2.3', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4/32', '0x1.2.3.4', '', '1.2.3.-4', '१.2.3.4']) {
    assert.throws(() => parseAddress(bad), (e: unknown) => e instanceof AddressError && e.code === 'NET_BAD_ADDRESS', bad);
    assert.equal(tryParseAddress(bad), undefined, bad);
  }
  assert.match(String(tryParseAddress('x') ?? 'undefined'), /undefined/);
  assert.throws(() => parseAddress('010.1.1.1'), /leading zero/);
});

test('IPv6 parses with "::" and embedded IPv4; zone ids, brackets, whitespace are refused', () => {
  assert.deepEqual([...parseAddress('::').bytes], new Array(16).fill(0));
  assert.deepEqual([...parseAddress('::1').bytes], [...new Array(15).fill(0), 1]);
  assert.deepEqual([...parseAddress('::ffff:1.2.3.4').bytes], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
  assert.equal(parseAddress('2001:DB8:0:0:0:0:0:1').toString(), '2001:db8::1');
  assert.equal(parseAddress('64:ff9b::192.0.2.33').toString(), '64:ff9b::c000:221');
  assert.equal(parseAddress('1:2:3:4:5:6:1.2.3.4').toString(), '1:2:3:4:5:6:102:304');
  for (const bad of ['fe80::1%eth0', '[::1]', ':: 1', ' ::1', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '12345::', 'g::', '1:2:3:4:5:6:7::8', '::1.2.3.4:5', '::ffff:01.2.3.4', '::ffff:1.2.3']) {
    assert.equal(tryParseAddress(bad), undefined, bad);
  }
});

test('RFC 5952 canonical text', () => {
  const cases: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single 0 group is not compressed
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // tie: the first run
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run wins
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::ffff:c000:0201', '::ffff:192.0.2.1'], // IPv4-mapped printed with a dotted quad
    ['ABCD:EF01:2345:6789:ABCD:EF01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789'],
  ];
  for (const [input, want] of cases) assert.equal(formatAddress(parseAddress(input)), want, input);
});

test('addressFromBytes copies, checks the length, and formats the same as a parsed address', () => {
  const frame = new Uint8Array([9, 9, 198, 18, 0, 7, 9]);
  const a = addressFromBytes(frame.subarray(2, 6));
  frame[2] = 1;
  assert.equal(a.toString(), '198.18.0.7');
  assert.ok(a.equals(parseAddress('198.18.0.7')));
  assert.throws(() => addressFromBytes(new Uint8Array(5)), AddressError);
  const v6 = addressFromBytes(parseAddress('2001:db8::9').bytes);
  assert.equal(v6.family, 6);
  assert.equal(v6.toString(), '2001:db8::9');
});

test('IPv4-mapped addresses unmap to IPv4', () => {
  const m = parseAddress('::ffff:198.18.1.2');
  assert.ok(m.isV4Mapped());
  assert.equal(m.family, 6);
  assert.equal(m.unmapped().toString(), '198.18.1.2');
  assert.equal(m.unmapped().family, 4);
  assert.ok(!parseAddress('::1').isV4Mapped());
  assert.ok(!parseAddress('::ffff:1.2.3.4').equals(parseAddress('1.2.3.4')));
});

test('prefixes: bare address is a host prefix, host bits are masked, bad lengths are refused', () => {
  assert.equal(formatPrefix(parsePrefix('10.0.0.0/8')), '10.0.0.0/8');
  assert.equal(formatPrefix(parsePrefix('10.1.2.3/8')), '10.0.0.0/8');
  assert.equal(formatPrefix(parsePrefix('10.1.2.3/20')), '10.1.0.0/20');
  assert.equal(formatPrefix(parsePrefix('192.0.2.1')), '192.0.2.1/32');
  assert.equal(formatPrefix(parsePrefix('2001:db8::/32')), '2001:db8::/32');
  assert.equal(formatPrefix(parsePrefix('2001:db8:ffff::1/33')), '2001:db8:8000::/33');
  assert.equal(formatPrefix(parsePrefix('::1')), '::1/128');
  assert.equal(formatPrefix(parsePrefix('0.0.0.0/0')), '0.0.0.0/0');
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0.0/255.0.0.0', '/8', '10.0.0.0/8/8']) {
    assert.equal(tryParsePrefix(bad), undefined, bad);
  }
  assert.throws(() => parsePrefix('10.0.0.0/255.0.0.0'), /dotted netmask/);
  assert.ok(prefixContains(parsePrefix('198.18.0.0/15'), parseAddress('::ffff:198.19.255.255')));
  assert.ok(!prefixContains(parsePrefix('198.18.0.0/15'), parseAddress('198.20.0.0')));
  assert.ok(prefixContains(parsePrefix('::ffff:198.18.0.0/111'), parseAddress('198.19.0.1')));
});

test('AddressSet: add, size, iteration, mapped matching, freeze', () => {
  const s = AddressSet.from(['10.0.0.0/8', '2001:db8::/32', '::ffff:192.0.2.0/120']);
  assert.equal(s.size, 3);
  assert.equal(s.add('10.9.9.9/8'), false, 'same prefix after masking is not added twice');
  assert.equal(s.size, 3);
  assert.ok(s.has(parseAddress('10.255.0.1')));
  assert.ok(s.has(parseAddress('::ffff:10.1.1.1')), 'mapped address matches an IPv4 entry');
  assert.ok(s.has(parseAddress('192.0.2.77')), 'a mapped prefix entry matches plain IPv4');
  assert.ok(s.has(parseAddress('2001:db8:1::5')));
  assert.ok(!s.has(parseAddress('2001:db9::')));
  assert.ok(!s.has(parseAddress('11.0.0.0')));
  assert.ok(!s.has(parseAddress('::a00:1')), 'IPv4-compatible (not mapped) does not match IPv4 entries');
  assert.ok(s.hasBytes(new Uint8Array([10, 0, 0, 1])));
  assert.ok(!s.hasBytes(new Uint8Array([10, 0, 0])));
  assert.deepEqual([...s].map(formatPrefix), ['10.0.0.0/8', '2001:db8::/32', '192.0.2.0/24']);
  const all = AddressSet.from(['0.0.0.0/0']);
  assert.ok(all.has(parseAddress('255.1.2.3')));
  assert.ok(!all.has(parseAddress('::2')), '/0 of IPv4 does not cover IPv6');
  const ro = s.freeze();
  assert.ok(ro.has(parseAddress('10.0.0.1')));
  assert.throws(() => s.add('1.2.3.4'), TypeError);
});

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('AddressSet agrees with a linear-scan oracle: 10,000 random prefixes, 100,000 random addresses', () => {
  const rand = rng(0x5eed);
  const byte = (): number => Math.floor(rand() * 256);
  const set = new AddressSet();
  // Oracle entries: the address as 32-bit words and a mask per word.
  const v4: Array<{ net: number; mask: number }> = [];
  const v6: Array<{ net: Uint32Array; mask: Uint32Array }> = [];
  const words = (b: Uint8Array): Uint32Array => {
    const w = new Uint32Array(b.length / 4);
    for (let i = 0; i < w.length; i++) w[i] = (((b[4 * i] ?? 0) << 24) | ((b[4 * i + 1] ?? 0) << 16) | ((b[4 * i + 2] ?? 0) << 8) | (b[4 * i + 3] ?? 0)) >>> 0;
    return w;
  };
  const maskWords = (len: number, n: number): Uint32Array => {
    const m = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const keep = Math.max(0, Math.min(32, len - 32 * i));
      m[i] = keep === 0 ? 0 : (0xffffffff << (32 - keep)) >>> 0;
    }
    return m;
  };
  const seeds: Uint8Array[] = [];
  const distinct = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const isV4 = rand() < 0.5;
    const bytes = new Uint8Array(isV4 ? 4 : 16);
    for (let j = 0; j < bytes.length; j++) bytes[j] = byte();
    // Mostly long prefixes (few hits by chance), some short ones so nested prefixes occur.
    const len = isV4 ? 4 + Math.floor(rand() * 29) : 8 + Math.floor(rand() * 121);
    const text = `${addressFromBytes(bytes).toString()}/${len}`;
    set.add(text);
    distinct.add(formatPrefix(parsePrefix(text)));
    seeds.push(bytes);
    const m = maskWords(len, bytes.length / 4);
    const w = words(bytes);
    if (isV4) v4.push({ net: ((w[0] ?? 0) & (m[0] ?? 0)) >>> 0, mask: m[0] ?? 0 });
    else v6.push({ net: w.map((x, k) => (x & (m[k] ?? 0)) >>> 0), mask: m });
  }
  let hits = 0;
  let mappedChecked = 0;
  for (let i = 0; i < 100_000; i++) {
    let bytes: Uint8Array;
    if (rand() < 0.5) {
      // near an entry: copy a seed and flip a random low bit, so both hits and near misses occur
      const s = seeds[Math.floor(rand() * seeds.length)] ?? new Uint8Array(4);
      bytes = Uint8Array.from(s);
      const bit = Math.floor(rand() * bytes.length * 8);
      bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) ^ (0x80 >> (bit & 7));
    } else {
      bytes = new Uint8Array(rand() < 0.5 ? 4 : 16);
      for (let j = 0; j < bytes.length; j++) bytes[j] = byte();
    }
    let want = false;
    let probe = bytes;
    if (bytes.length === 4 && rand() < 0.1) {
      // the same IPv4 address asked as IPv4-mapped IPv6 must give the same answer
      probe = new Uint8Array(16);
      probe[10] = 0xff;
      probe[11] = 0xff;
      probe.set(bytes, 12);
      mappedChecked++;
    }
    const w = words(bytes);
    if (bytes.length === 4) {
      const a = w[0] ?? 0;
      for (const e of v4) if (((a & e.mask) >>> 0) === e.net) { want = true; break; }
    } else {
      for (const e of v6) {
        if (((w[0]! & e.mask[0]!) >>> 0) === e.net[0] && ((w[1]! & e.mask[1]!) >>> 0) === e.net[1] && ((w[2]! & e.mask[2]!) >>> 0) === e.net[2] && ((w[3]! & e.mask[3]!) >>> 0) === e.net[3]) { want = true; break; }
      }
    }
    const got = set.hasBytes(probe);
    if (got !== want) assert.fail(`mismatch for ${addressFromBytes(probe).toString()}: set says ${got}, oracle says ${want}`);
    if (got) hits++;
    if (i % 997 === 0) assert.equal(set.has(addressFromBytes(probe)), want);
  }
  // The test means something only if both answers occur often.
  assert.ok(hits > 10_000 && hits < 90_000, `hits=${hits}`);
  assert.ok(mappedChecked > 1000);
  assert.equal(set.size, distinct.size);
  assert.ok(distinct.size > 9_000);
});
