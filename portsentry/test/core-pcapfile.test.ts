import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { classifyPacket, decodeFrame, formatIp, readPcap, readPcapHeader } from '../src/core/index.js';
import type { ScanKind } from '../src/core/index.js';
import { ether, ipv4, tcp, writePcap } from './packets.js';

const FIXTURE = new URL('../../test/fixtures/loopback-probes.pcap', import.meta.url);

test('the reader handles both byte orders and both timestamp resolutions', () => {
  const frames = [ether(ipv4({}, tcp()), 0x0800), new Uint8Array([1, 2, 3])];
  for (const littleEndian of [true, false]) {
    for (const nanosecond of [true, false]) {
      const res = readPcap(writePcap(frames, { littleEndian, nanosecond, linkType: 276, snaplen: 65535 }));
      assert.ok(res.ok);
      if (!res.ok) continue;
      assert.deepEqual(res.header, { littleEndian, nanosecond, versionMajor: 2, versionMinor: 4, snaplen: 65535, linkType: 276 });
      assert.equal(res.tail, 'clean');
      assert.equal(res.records.length, 2);
      assert.deepEqual([...res.records[1]!.data], [1, 2, 3]);
      assert.equal(res.records[0]!.seconds, 1700000000);
      assert.equal(res.records[0]!.nanos, nanosecond ? 123456789 : 123456000);
      assert.equal(res.records[0]!.capturedLength, frames[0]!.length);
    }
  }
});

test('the reader refuses what is not a pcap file and reports a cut or corrupt tail', () => {
  assert.deepEqual(readPcapHeader(new Uint8Array([1, 2])), { ok: false, reason: 'short-header' });
  assert.deepEqual(readPcapHeader(new Uint8Array(24)), { ok: false, reason: 'bad-magic' });
  assert.deepEqual(readPcapHeader(Uint8Array.from([0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0])), { ok: false, reason: 'pcapng' });
  assert.deepEqual(readPcapHeader(Uint8Array.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0])), { ok: false, reason: 'short-header' });
  const file = writePcap([new Uint8Array(50), new Uint8Array(50)]);
  for (const cut of [24 + 16 + 50 + 5, file.length - 1]) {
    const res = readPcap(file.subarray(0, cut));
    assert.ok(res.ok && res.tail === 'truncated' && res.records.length === 1, `cut at ${cut}`);
  }
  const corrupt = file.slice();
  corrupt[24 + 8 + 3] = 0x7f; // captured length of record 1 becomes huge
  const res = readPcap(corrupt);
  assert.ok(res.ok && res.tail === 'corrupt' && res.records.length === 0);
});

// Ports encode what the capture script sent (see fixtures/make-loopback-pcap.sh).
const NMAP: ScanKind[] = ['SYN', 'FIN', 'NULL', 'XMAS', 'ACK', 'MAIMON', 'ACK', 'UDP', 'SYN'];
const RAW6: ScanKind[] = ['SYN', 'FIN', 'NULL', 'XMAS', 'ACK', 'FULL-XMAS'];

test('real hping3 / nmap / raw-socket probes captured on loopback decode to the expected kinds', () => {
  const res = readPcap(readFileSync(FIXTURE));
  assert.ok(res.ok);
  if (!res.ok) return;
  assert.equal(res.header.linkType, 1);
  assert.equal(res.tail, 'clean');
  const seen = new Set<string>();
  const fragments: string[] = [];
  for (const rec of res.records) {
    const r = decodeFrame(rec.data, res.header.linkType);
    if (r.kind === 'fragment') {
      assert.equal(formatIp(r.src), '127.0.0.1');
      assert.equal(r.protocol, 6);
      fragments.push(r.reason);
      continue;
    }
    assert.ok(r.kind === 'tcp' || r.kind === 'udp', `unexpected ${JSON.stringify(r)}`);
    if (r.kind !== 'tcp' && r.kind !== 'udp') continue;
    const p = r.dstPort;
    const kind = classifyPacket(r);
    const tag = `${r.family}:${p}`;
    seen.add(tag);
    assert.equal(formatIp(r.src), r.family === 4 ? '127.0.0.1' : '::1');
    if (r.family === 4 && p >= 40000 && p < 40064) {
      assert.equal(r.kind, 'tcp');
      if (r.kind === 'tcp') assert.equal(r.flags & 0x3f, p - 40000, tag);
    } else if (p === 40064) {
      assert.ok(r.kind === 'tcp' && r.flags === 0xc2 && kind === 'SYN', tag);
    } else if (p === 40070) {
      assert.ok(r.kind === 'tcp' && kind === 'SYN' && r.ipOptions !== null && r.ipOptions[0] === 7, tag); // record route
    } else if (p === 40100) {
      assert.equal(kind, 'UDP');
    } else if (p >= 40201 && p <= 40209) {
      assert.equal(kind, NMAP[p - 40201], tag);
    } else if (r.family === 6 && p >= 40080 && p <= 40085) {
      assert.equal(kind, RAW6[p - 40080], tag);
    } else if (r.family === 6 && (p === 40090 || p === 40091)) {
      assert.ok(r.kind === 'tcp' && kind === 'SYN' && r.extHeaders === 1, tag);
    } else {
      assert.fail(`unexpected packet ${tag}`);
    }
  }
  const expected = [
    ...Array.from({ length: 64 }, (_, f) => `4:${40000 + f}`),
    '4:40064', '4:40070', '4:40100',
    ...Array.from({ length: 9 }, (_, i) => `4:${40201 + i}`),
    ...Array.from({ length: 9 }, (_, i) => `6:${40201 + i}`),
    ...Array.from({ length: 6 }, (_, i) => `6:${40080 + i}`),
    '6:40090', '6:40091',
  ];
  for (const t of expected) assert.ok(seen.has(t), `no packet for ${t} in the fixture`);
  // hping3 -f: the first fragment is too short for the TCP header, then the rest.
  assert.deepEqual(fragments.sort(), ['non-first', 'short-first']);
});
