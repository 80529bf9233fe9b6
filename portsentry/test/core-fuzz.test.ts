import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyPacket, decodeFrame, LINKTYPE } from '../src/core/index.js';
import type { DecodeResult } from '../src/core/index.js';
import { ah6, ether, frag6, hbh, ipv4, ipv6, nullLink, sll, sll2, tcp, udp } from './packets.js';

// xorshift32 with a fixed seed: a failure is reproducible.
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const LINKS = Object.values(LINKTYPE);
const KINDS = new Set(['tcp', 'udp', 'fragment', 'bad-ip-header', 'other', 'malformed']);

function checkInvariants(r: DecodeResult, label: string): void {
  assert.ok(KINDS.has(r.kind), label);
  if (r.kind === 'tcp' || r.kind === 'udp') {
    assert.equal(r.src.length, r.family === 4 ? 4 : 16, label);
    assert.equal(r.dst.length, r.src.length, label);
    assert.ok(r.srcPort >= 0 && r.srcPort <= 65535 && r.dstPort >= 0 && r.dstPort <= 65535, label);
    if (r.kind === 'tcp') {
      assert.ok(r.dataOffset >= 5 && r.dataOffset <= 15 && r.payloadLength >= 0, label);
      assert.ok(r.flags >= 0 && r.flags <= 255, label);
    }
    classifyPacket(r);
  }
}

test('100,000 random and mutated frames: no exception, every result well-formed', () => {
  const next = rng(0x5eed1234);
  const seeds: [Uint8Array, number][] = [
    [ether(ipv4({ options: [1, 1, 1, 0] }, tcp({ options: [2, 4, 5, 0xb4], data: [1, 2, 3] })), LINKTYPE.EN10MB)],
    [ether(ipv6({ ext: [hbh(0), frag6(0, true), ah6()] }, tcp()), 0x86dd, [0x8100]), LINKTYPE.EN10MB],
    [sll(ipv4({ proto: 17, frag: 0x2000 }, udp({ data: [1, 2, 3, 4] })), 0x0800), LINKTYPE.LINUX_SLL],
    [sll2(ipv6({ next: 17, ext: [hbh(60, 1)] }, udp()), 0x86dd), LINKTYPE.LINUX_SLL2],
    [nullLink(ipv6({}, tcp({ flags: 0x3f })), 30, true), LINKTYPE.NULL],
    [ipv4({ frag: 0x2000 }, tcp().subarray(0, 8)), LINKTYPE.RAW],
  ].map((x) => [x[0] as Uint8Array, (x[1] ?? LINKTYPE.EN10MB) as number]);
  const seen = new Map<string, number>();
  for (let i = 0; i < 100_000; i++) {
    let frame: Uint8Array;
    let link: number;
    if (i % 2 === 0) {
      frame = new Uint8Array(next() % 160);
      for (let j = 0; j < frame.length; j++) frame[j] = next() & 0xff;
      // Often start with a plausible version nibble so the deeper layers get exercised too.
      if (frame.length > 0 && next() % 2 === 0) frame[0] = (next() % 2 === 0 ? 0x40 : 0x60) | (frame[0]! & 0x0f);
      link = LINKS[next() % LINKS.length]!;
    } else {
      const [base, lt] = seeds[next() % seeds.length]!;
      frame = base.slice(0, next() % (base.length + 1));
      const flips = 1 + (next() % 4);
      for (let k = 0; k < flips && frame.length > 0; k++) frame[next() % frame.length] = next() & 0xff;
      link = lt;
    }
    let r: DecodeResult;
    try {
      r = decodeFrame(frame, link, next() % 8 === 0 ? next() % 200 : frame.length);
    } catch (e) {
      assert.fail(`frame ${i} (${Buffer.from(frame).toString('hex')}, link ${link}) threw: ${String(e)}`);
    }
    checkInvariants(r, `frame ${i}`);
    seen.set(r.kind, (seen.get(r.kind) ?? 0) + 1);
  }
  // The mutation half must reach every outcome, or the fuzzing is not exercising the decoder.
  for (const k of KINDS) assert.ok((seen.get(k) ?? 0) > 0, `no ${k} result in 100,000 frames: ${JSON.stringify([...seen])}`);
});
