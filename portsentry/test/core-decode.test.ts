import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, formatIp, LINKTYPE } from '../src/core/index.js';
import type { DecodeResult, TcpPacket, UdpPacket } from '../src/core/index.js';
import {
  ah6, concat, DST4, DST6, ether, frag6, hbh, ipv4, ipv6, nullLink, SRC4, SRC6, sll, sll2, tcp, udp,
} from './packets.js';

const EN = LINKTYPE.EN10MB;

function asTcp(r: DecodeResult): TcpPacket {
  assert.equal(r.kind, 'tcp', `expected tcp, got ${JSON.stringify(r)}`);
  return r as TcpPacket;
}

function asUdp(r: DecodeResult): UdpPacket {
  assert.equal(r.kind, 'udp', `expected udp, got ${JSON.stringify(r)}`);
  return r as UdpPacket;
}

test('IPv4 TCP over Ethernet: every field', () => {
  const f = ether(ipv4({ ttl: 51 }, tcp({ sport: 4444, dport: 31337, flags: 0x02, seq: 0xfffffffe, ack: 7, win: 65535, data: [1, 2, 3] })), 0x0800);
  const p = asTcp(decodeFrame(f, EN));
  assert.equal(p.family, 4);
  assert.deepEqual([...p.src], SRC4);
  assert.deepEqual([...p.dst], DST4);
  assert.equal(formatIp(p.src), '192.0.2.7');
  assert.equal(p.ttl, 51);
  assert.equal(p.srcPort, 4444);
  assert.equal(p.dstPort, 31337);
  assert.equal(p.flags, 0x02);
  assert.equal(p.seq, 0xfffffffe);
  assert.equal(p.ackNum, 7);
  assert.equal(p.window, 65535);
  assert.equal(p.dataOffset, 5);
  assert.equal(p.payloadLength, 3);
  assert.equal(p.ipOptions, null);
  assert.equal(p.fragment, false);
  assert.equal(p.truncated, false);
  assert.equal(p.outgoing, false);
  assert.equal(p.extHeaders, 0);
});

test('all 256 values of the TCP flags byte survive decoding, IPv4 and IPv6', () => {
  for (let flags = 0; flags < 256; flags++) {
    assert.equal(asTcp(decodeFrame(ether(ipv4({}, tcp({ flags })), 0x0800), EN)).flags, flags);
    const p6 = asTcp(decodeFrame(ether(ipv6({}, tcp({ flags })), 0x86dd), EN));
    assert.equal(p6.flags, flags);
    assert.equal(p6.family, 6);
  }
});

test('the decoder copies addresses: reusing the capture buffer does not change a decoded packet', () => {
  const f = ether(ipv6({}, tcp()), 0x86dd);
  const p = asTcp(decodeFrame(f, EN));
  f.fill(0xee);
  assert.deepEqual([...p.src], SRC6);
  assert.deepEqual([...p.dst], DST6);
  assert.equal(formatIp(p.src), '2001:db8::7');
});

test('length argument: only the captured prefix of a reused buffer is read', () => {
  const frame = ether(ipv4({}, tcp()), 0x0800);
  const big = new Uint8Array(2048).fill(0xff);
  big.set(frame);
  const p = asTcp(decodeFrame(big, EN, frame.length));
  assert.equal(p.truncated, false);
  assert.deepEqual(decodeFrame(big, EN, 20), { kind: 'malformed', reason: 'short-ip-header' });
});

test('Ethernet padding past the IPv4 total length is not payload', () => {
  const f = concat(ether(ipv4({}, tcp({ flags: 0x10 })), 0x0800), new Uint8Array(6));
  const p = asTcp(decodeFrame(f, EN));
  assert.equal(p.payloadLength, 0);
  assert.equal(p.truncated, false);
});

test('IPv4 options: IHL 6..15 decode with the option bytes copied out', () => {
  for (let ihl = 6; ihl <= 15; ihl++) {
    const opts = Array.from({ length: (ihl - 5) * 4 }, (_, i) => (i === 0 ? 7 : 1)); // RR then NOPs
    const p = asTcp(decodeFrame(ether(ipv4({ options: opts }, tcp({ dport: 80 })), 0x0800), EN));
    assert.deepEqual(p.ipOptions === null ? null : [...p.ipOptions], opts, `ihl ${ihl}`);
    assert.equal(p.dstPort, 80);
  }
});

test('IHL 0..4 is an illegal IP header length carrying the IHL and the source', () => {
  for (let ihl = 0; ihl < 5; ihl++) {
    for (const proto of [6, 17]) {
      const r = decodeFrame(ether(ipv4({ ihl, proto }, tcp()), 0x0800), EN);
      assert.equal(r.kind, 'bad-ip-header');
      if (r.kind !== 'bad-ip-header') continue;
      assert.equal(r.ihl, ihl);
      assert.equal(r.protocol, proto);
      assert.equal(formatIp(r.src), '192.0.2.7');
    }
  }
});

test('IHL reaching past the packet (by total length or by the bytes there) is an illegal header length', () => {
  // IHL 15 (60 bytes) but total length says 40.
  const lie = decodeFrame(ether(ipv4({ ihl: 15, totalLength: 40 }, tcp()), 0x0800), EN);
  assert.deepEqual({ kind: lie.kind, ihl: lie.kind === 'bad-ip-header' ? lie.ihl : -1 }, { kind: 'bad-ip-header', ihl: 15 });
  // IHL 15, total length consistent with 60 + 20 but only 40 bytes present.
  const cut = decodeFrame(ipv4({ ihl: 15, totalLength: 80 }, tcp()), LINKTYPE.RAW);
  assert.equal(cut.kind, 'bad-ip-header');
  // Total length below 20 with IHL 5.
  assert.equal(decodeFrame(ipv4({ totalLength: 19 }, tcp()), LINKTYPE.RAW).kind, 'bad-ip-header');
});

test('total length 0 (segmentation offload) falls back to the captured length', () => {
  const p = asTcp(decodeFrame(ipv4({ totalLength: 0 }, tcp({ data: [9, 9] })), LINKTYPE.RAW));
  assert.equal(p.payloadLength, 2);
});

test('every prefix of an IPv4 frame with options decodes to the right outcome, never throws', () => {
  const opts = [1, 1, 1, 1, 1, 1, 1, 0];
  const full = ether(ipv4({ options: opts }, tcp({ dport: 23, options: [2, 4, 5, 0xb4], data: [1, 2, 3, 4] })), 0x0800);
  const ipStart = 14;
  const tcpStart = ipStart + 28;
  for (let n = 0; n <= full.length; n++) {
    const r = decodeFrame(full.subarray(0, n), EN);
    let expected: string;
    if (n < 14) expected = 'malformed:short-link-header';
    else if (n < ipStart + 20) expected = 'malformed:short-ip-header';
    else if (n < tcpStart) expected = 'bad-ip-header';
    else if (n < tcpStart + 20) expected = 'malformed:short-tcp-header';
    else expected = n < full.length ? 'tcp:truncated' : 'tcp:whole';
    const got = r.kind === 'malformed' ? `malformed:${r.reason}` : r.kind === 'tcp' ? (r.truncated ? 'tcp:truncated' : 'tcp:whole') : r.kind;
    assert.equal(got, expected, `prefix ${n}`);
  }
});

test('every prefix of an IPv6 frame with extension headers decodes to the right outcome', () => {
  const full = sll2(ipv6({ next: 17, ext: [hbh(0), hbh(60, 1)] }, udp({ dport: 161, data: [1, 2] })), 0x86dd);
  const v6 = 20;
  const extEnd = v6 + 40 + 8 + 16;
  for (let n = 0; n <= full.length; n++) {
    const r = decodeFrame(full.subarray(0, n), LINKTYPE.LINUX_SLL2);
    let expected: string;
    if (n < 20) expected = 'malformed:short-link-header';
    else if (n < v6 + 40) expected = 'malformed:short-ip-header';
    else if (n < extEnd) expected = 'malformed:short-ipv6-ext';
    else if (n < extEnd + 8) expected = 'malformed:short-udp-header';
    else expected = n < full.length ? 'udp:truncated' : 'udp:whole';
    const got = r.kind === 'malformed' ? `malformed:${r.reason}` : r.kind === 'udp' ? (r.truncated ? 'udp:truncated' : 'udp:whole') : r.kind;
    assert.equal(got, expected, `prefix ${n}`);
  }
});

test('IPv4 fragments: non-first and tiny first fragments are reported; a whole first fragment decodes', () => {
  const nonFirst = decodeFrame(ipv4({ frag: 0x2000 | 3 }, [1, 2, 3, 4, 5, 6, 7, 8]), LINKTYPE.RAW);
  assert.equal(nonFirst.kind, 'fragment');
  if (nonFirst.kind === 'fragment') {
    assert.equal(nonFirst.reason, 'non-first');
    assert.equal(nonFirst.offset, 24);
    assert.equal(nonFirst.moreFragments, true);
    assert.equal(nonFirst.id, 0x1234);
    assert.equal(nonFirst.protocol, 6);
    assert.equal(formatIp(nonFirst.src), '192.0.2.7');
  }
  const lastFrag = decodeFrame(ipv4({ frag: 5, proto: 17 }, [0, 0, 0, 0]), LINKTYPE.RAW);
  assert.equal(lastFrag.kind === 'fragment' && !lastFrag.moreFragments && lastFrag.protocol === 17, true);
  // First fragment with only 8 bytes of TCP (ports, no flags): the tiny-fragment evasion.
  const tiny = decodeFrame(ipv4({ frag: 0x2000 }, tcp().subarray(0, 8)), LINKTYPE.RAW);
  assert.deepEqual(tiny.kind === 'fragment' ? tiny.reason : tiny.kind, 'short-first');
  // First fragment whose TCP options continue in the next fragment.
  const split = decodeFrame(ipv4({ frag: 0x2000 }, tcp({ doff: 10 }).subarray(0, 24)), LINKTYPE.RAW);
  assert.deepEqual(split.kind === 'fragment' ? split.reason : split.kind, 'short-first');
  const whole = asTcp(decodeFrame(ipv4({ frag: 0x2000 }, tcp({ flags: 0x01 })), LINKTYPE.RAW));
  assert.equal(whole.fragment, true);
  const u = asUdp(decodeFrame(ipv4({ frag: 0x2000, proto: 17 }, udp({ length: 3000 })), LINKTYPE.RAW));
  assert.equal(u.fragment, true);
  assert.equal(u.length, 3000);
  // DF alone is not a fragment.
  assert.equal(asTcp(decodeFrame(ipv4({ frag: 0x4000 }, tcp()), LINKTYPE.RAW)).fragment, false);
});

test('IPv6 extension headers are walked to TCP and UDP', () => {
  const p = asTcp(decodeFrame(ipv6({ ext: [hbh(0), hbh(43), hbh(60, 2), ah6()] }, tcp({ dport: 139, flags: 0x29 })), LINKTYPE.IPV6));
  assert.equal(p.extHeaders, 4);
  assert.equal(p.dstPort, 139);
  assert.equal(p.flags, 0x29);
  const u = asUdp(decodeFrame(ipv6({ next: 17, ext: [hbh(60)] }, udp({ dport: 514 })), LINKTYPE.IPV6));
  assert.equal(u.dstPort, 514);
  assert.equal(u.extHeaders, 1);
  // Atomic fragment (offset 0, no more fragments) is a whole packet.
  const atomic = asTcp(decodeFrame(ipv6({ ext: [frag6(0, false)] }, tcp()), LINKTYPE.IPV6));
  assert.equal(atomic.fragment, false);
});

test('IPv6 fragments: offset > 0 is reported, a first fragment decodes or is short-first', () => {
  const nf = decodeFrame(ipv6({ ext: [hbh(0), frag6(1480, true, 42)] }, [1, 2, 3, 4, 5, 6, 7, 8]), LINKTYPE.IPV6);
  assert.equal(nf.kind, 'fragment');
  if (nf.kind === 'fragment') {
    assert.deepEqual([nf.reason, nf.offset, nf.id, nf.protocol, nf.family], ['non-first', 1480, 42, 6, 6]);
    assert.equal(formatIp(nf.src), '2001:db8::7');
  }
  const first = asTcp(decodeFrame(ipv6({ ext: [frag6(0, true)] }, tcp({ flags: 0 })), LINKTYPE.IPV6));
  assert.equal(first.fragment, true);
  const tiny = decodeFrame(ipv6({ ext: [frag6(0, true)] }, tcp().subarray(0, 8)), LINKTYPE.IPV6);
  assert.equal(tiny.kind === 'fragment' ? tiny.reason : tiny.kind, 'short-first');
  // Destination options after the fragment header cut by the fragment's end: hidden header.
  const hidden = decodeFrame(ipv6({ ext: [frag6(0, true), hbh(60, 3)] }, []).subarray(0, 40 + 8 + 16), LINKTYPE.IPV6, 64);
  assert.equal(hidden.kind === 'fragment' ? hidden.reason : hidden.kind, 'short-first');
});

test('IPv6 ESP, no-next-header, ICMPv6 and long chains', () => {
  assert.deepEqual(decodeFrame(ipv6({ next: 50 }, [0, 0, 0, 1]), LINKTYPE.IPV6), { kind: 'other', layer: 'ip', code: 50 });
  assert.deepEqual(decodeFrame(ipv6({ ext: [hbh(0)], next: 59 }, []), LINKTYPE.IPV6), { kind: 'other', layer: 'ip', code: 59 });
  assert.deepEqual(decodeFrame(ipv6({ next: 58 }, [128, 0, 0, 0]), LINKTYPE.IPV6), { kind: 'other', layer: 'ip', code: 58 });
  const chain = Array.from({ length: 17 }, () => hbh(60));
  assert.deepEqual(decodeFrame(ipv6({ ext: chain }, tcp()), LINKTYPE.IPV6), { kind: 'malformed', reason: 'ipv6-ext-chain' });
  const ok = Array.from({ length: 16 }, () => hbh(60));
  assert.equal(asTcp(decodeFrame(ipv6({ ext: ok }, tcp()), LINKTYPE.IPV6)).extHeaders, 16);
});

test('VLAN tags: 802.1Q, 802.1ad QinQ, and an absurd stack', () => {
  const inner = ipv4({}, tcp({ dport: 25 }));
  assert.equal(asTcp(decodeFrame(ether(inner, 0x0800, [0x8100]), EN)).dstPort, 25);
  assert.equal(asTcp(decodeFrame(ether(inner, 0x0800, [0x88a8, 0x8100]), EN)).dstPort, 25);
  assert.equal(asTcp(decodeFrame(ether(ipv6({}, tcp({ dport: 26 })), 0x86dd, [0x9100]), EN)).dstPort, 26);
  assert.deepEqual(decodeFrame(ether(inner, 0x0800, new Array<number>(9).fill(0x8100)), EN), { kind: 'malformed', reason: 'vlan-depth' });
  assert.deepEqual(decodeFrame(ether([], 0x0800, [0x8100]).subarray(0, 16), EN), { kind: 'malformed', reason: 'short-link-header' });
});

test('Linux cooked captures v1 and v2, with the outgoing flag', () => {
  const pkt = ipv4({}, tcp({ dport: 111 }));
  assert.equal(asTcp(decodeFrame(sll(pkt, 0x0800), LINKTYPE.LINUX_SLL)).outgoing, false);
  assert.equal(asTcp(decodeFrame(sll(pkt, 0x0800, 4), LINKTYPE.LINUX_SLL)).outgoing, true);
  assert.equal(asUdp(decodeFrame(sll(ipv6({ next: 17 }, udp()), 0x86dd), LINKTYPE.LINUX_SLL)).family, 6);
  const p2 = asTcp(decodeFrame(sll2(pkt, 0x0800, 4), LINKTYPE.LINUX_SLL2));
  assert.equal(p2.outgoing, true);
  assert.equal(p2.dstPort, 111);
  assert.equal(asTcp(decodeFrame(sll2(pkt, 0x0800, 0), LINKTYPE.LINUX_SLL2)).outgoing, false);
  assert.deepEqual(decodeFrame(sll(pkt, 0x0806), LINKTYPE.LINUX_SLL), { kind: 'other', layer: 'link', code: 0x0806 });
});

test('loopback link types, raw IP and the fixed IPv4/IPv6 types', () => {
  const v4 = ipv4({}, tcp({ dport: 1 }));
  const v6 = ipv6({}, tcp({ dport: 2 }));
  for (const le of [true, false]) {
    assert.equal(asTcp(decodeFrame(nullLink(v4, 2, le), LINKTYPE.NULL)).dstPort, 1);
    for (const af of [10, 24, 28, 30]) assert.equal(asTcp(decodeFrame(nullLink(v6, af, le), LINKTYPE.NULL)).dstPort, 2);
    assert.deepEqual(decodeFrame(nullLink(v4, 7, le), LINKTYPE.NULL), { kind: 'other', layer: 'link', code: 7 });
  }
  assert.equal(asTcp(decodeFrame(nullLink(v4, 2, false), LINKTYPE.LOOP)).dstPort, 1);
  for (const lt of [LINKTYPE.RAW, LINKTYPE.DLT_RAW, LINKTYPE.DLT_RAW_OPENBSD]) {
    assert.equal(asTcp(decodeFrame(v4, lt)).family, 4);
    assert.equal(asTcp(decodeFrame(v6, lt)).family, 6);
  }
  assert.deepEqual(decodeFrame(ipv4({ version: 5 }, tcp()), LINKTYPE.RAW), { kind: 'malformed', reason: 'bad-ip-version' });
  assert.equal(asTcp(decodeFrame(v4, LINKTYPE.IPV4)).family, 4);
  assert.deepEqual(decodeFrame(v6, LINKTYPE.IPV4), { kind: 'malformed', reason: 'bad-ip-version' });
  assert.deepEqual(decodeFrame(v4, LINKTYPE.IPV6), { kind: 'malformed', reason: 'bad-ip-version' });
  assert.deepEqual(decodeFrame(v4.subarray(0, 39), LINKTYPE.IPV6), { kind: 'malformed', reason: 'short-ip-header' });
  assert.deepEqual(decodeFrame(v4, 9999), { kind: 'malformed', reason: 'unknown-link-type' });
  assert.deepEqual(decodeFrame(new Uint8Array(0), LINKTYPE.RAW), { kind: 'malformed', reason: 'short-ip-header' });
});

test('non-TCP/UDP traffic is "other", with its ethertype or protocol', () => {
  assert.deepEqual(decodeFrame(ether(new Uint8Array(28), 0x0806), EN), { kind: 'other', layer: 'link', code: 0x0806 });
  assert.deepEqual(decodeFrame(ether(ipv4({ proto: 1 }, [8, 0, 0, 0]), 0x0800), EN), { kind: 'other', layer: 'ip', code: 1 });
  // 802.3 length field instead of an ethertype.
  assert.deepEqual(decodeFrame(ether(new Uint8Array(40), 40), EN), { kind: 'other', layer: 'link', code: 40 });
});

test('TCP data offset and UDP length sanity', () => {
  for (let doff = 0; doff < 5; doff++) {
    assert.deepEqual(decodeFrame(ipv4({}, tcp({ doff })), LINKTYPE.RAW), { kind: 'malformed', reason: 'bad-tcp-offset' }, `doff ${doff}`);
  }
  // Data offset 15 (60 bytes) in a 20-byte segment.
  assert.deepEqual(decodeFrame(ipv4({}, tcp({ doff: 15 })), LINKTYPE.RAW), { kind: 'malformed', reason: 'bad-tcp-offset' });
  const withOpts = asTcp(decodeFrame(ipv4({}, tcp({ options: [2, 4, 5, 0xb4, 1, 1, 4, 2] })), LINKTYPE.RAW));
  assert.equal(withOpts.dataOffset, 7);
  assert.equal(withOpts.payloadLength, 0);
  assert.deepEqual(decodeFrame(ipv4({ proto: 17 }, udp({ length: 7 })), LINKTYPE.RAW), { kind: 'malformed', reason: 'bad-udp-length' });
  assert.deepEqual(decodeFrame(ipv4({ proto: 17 }, udp({ length: 9 })), LINKTYPE.RAW), { kind: 'malformed', reason: 'bad-udp-length' });
  assert.deepEqual(decodeFrame(ipv4({ proto: 17 }, [0, 1, 0, 2]), LINKTYPE.RAW), { kind: 'malformed', reason: 'short-udp-header' });
  // IPv4 total length says the segment is shorter than a TCP header even though bytes follow.
  assert.deepEqual(decodeFrame(ipv4({ totalLength: 30 }, tcp()), LINKTYPE.RAW), { kind: 'malformed', reason: 'short-tcp-header' });
});

test('formatIp prints RFC 5952 text', () => {
  const b = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
  assert.equal(formatIp(b('00000000000000000000000000000001')), '::1');
  assert.equal(formatIp(b('00000000000000000000000000000000')), '::');
  assert.equal(formatIp(b('20010db8000000010000000000000001')), '2001:db8:0:1::1');
  assert.equal(formatIp(b('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
  assert.equal(formatIp(b('20010db800010001000100010001000a')), '2001:db8:1:1:1:1:1:a');
  assert.equal(formatIp(b('20010db8000100000001000100010001')), '2001:db8:1:0:1:1:1:1');
  assert.equal(formatIp(b('00000000000000000000ffffc0000207')), '::ffff:192.0.2.7');
  assert.equal(formatIp(Uint8Array.from([10, 0, 0, 255])), '10.0.0.255');
  assert.equal(formatIp(new Uint8Array(3)), '?');
});
