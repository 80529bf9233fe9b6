#!/usr/bin/env node
// Writes the input.pcap of every synthetic golden case under test/cases/ from frames built here byte
// by byte. Deterministic: the same script always writes the same bytes (fixed addresses, ports,
// sequence numbers and timestamps), so the pcaps are committed next to it and `--check` proves they
// still match. The cases captured from real traffic (real-*) are not touched; see make-real-cases.sh.
//
//   node test/cases/make-cases.mjs           rewrite every synthetic input.pcap
//   node test/cases/make-cases.mjs --check   exit 1 if a committed input.pcap differs from this script
//   node test/cases/make-cases.mjs NAME...   rewrite only these cases
//
// The frame builder is this file's own (it does not import portsentry's test helpers): the golden
// cases must not share a mistake with the code or the unit tests they check.
//
// Addresses: targets 198.18.0.1 and 2001:db8::1; case N sends from 198.18.N.x and 2001:db8:N::x
// (LAB.md's benchmarking and documentation ranges). Times are offsets in seconds from T0.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** 2023-11-14 22:13:20 UTC: every capture starts here. */
const T0 = 1_700_000_000;

// ---------------------------------------------------------------------------------------------
// Bytes

function bytes(...parts) {
  const flat = [];
  for (const p of parts) {
    if (typeof p === 'number') flat.push(p & 0xff);
    else for (const b of p) flat.push(b & 0xff);
  }
  return Uint8Array.from(flat);
}
const u16 = (n) => [(n >>> 8) & 0xff, n & 0xff];
const u32 = (n) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const zeros = (n) => new Uint8Array(n);
/** `n` bytes of printable filler, so payloads are easy to spot in a hex dump. */
const filler = (n) => Uint8Array.from({ length: n }, (_, i) => 0x61 + (i % 26));

/** The Internet checksum (RFC 1071) over the concatenation of `parts`. */
function checksum(...parts) {
  const b = bytes(...parts);
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function addr4(text) {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) throw new Error(`bad IPv4 ${text}`);
  return Uint8Array.from(parts);
}

function addr6(text) {
  const [head, tail, extra] = text.split('::');
  if (extra !== undefined) throw new Error(`bad IPv6 ${text}`);
  const groups = (s) => (s === undefined || s === '' ? [] : s.split(':'));
  let words;
  if (text.includes('::')) {
    const h = groups(head);
    const t = groups(tail);
    // An embedded IPv4 tail (::ffff:198.18.7.5) counts as two groups.
    const tWords = t.flatMap((g) => (g.includes('.') ? v4Words(g) : [g]));
    words = [...h, ...Array(8 - h.length - tWords.length).fill('0'), ...tWords];
  } else {
    words = groups(text).flatMap((g) => (g.includes('.') ? v4Words(g) : [g]));
  }
  if (words.length !== 8) throw new Error(`bad IPv6 ${text}`);
  return bytes(...words.map((w) => u16(parseInt(w, 16))));
}
function v4Words(dotted) {
  const b = addr4(dotted);
  return [((b[0] << 8) | b[1]).toString(16), ((b[2] << 8) | b[3]).toString(16)];
}

// ---------------------------------------------------------------------------------------------
// Transport headers. Each returns { proto, segment(src, dst) }: the segment needs the addresses for
// its checksum (pseudo-header), which tcpdump and Wireshark then show as correct.

const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20, ECE = 0x40, CWR = 0x80;

function pseudo(src, dst, proto, length) {
  return src.length === 4 ? bytes(src, dst, 0, proto, u16(length)) : bytes(src, dst, u32(length), 0, 0, 0, proto);
}

/**
 * A TCP segment. `options` are raw option bytes (padded to 4 with NOPs... here: with zeros, EOL);
 * `dataOffset` overrides the header-length nibble (to build broken headers).
 */
function tcp({ sport = 51000, dport, flags, seq = 0x10000000, ack = 0, win = 1024, options = [], payload = [], dataOffset, urgent = 0 }) {
  return {
    proto: 6,
    segment(src, dst) {
      const opts = bytes(options);
      const padded = bytes(opts, zeros((4 - (opts.length % 4)) % 4));
      const off = dataOffset ?? 5 + padded.length / 4;
      const head = (sum) => bytes(u16(sport), u16(dport), u32(seq), u32(ack), off << 4, flags, u16(win), u16(sum), u16(urgent), padded);
      const body = bytes(payload);
      const len = 20 + padded.length + body.length;
      const sum = checksum(pseudo(src, dst, 6, len), head(0), body);
      return bytes(head(sum), body);
    },
  };
}

/** A UDP datagram; `length` overrides the length field (to build broken headers). */
function udp({ sport = 52000, dport, payload = [], length }) {
  return {
    proto: 17,
    segment(src, dst) {
      const body = bytes(payload);
      const len = length ?? 8 + body.length;
      const sum = checksum(pseudo(src, dst, 17, 8 + body.length), u16(sport), u16(dport), u16(len), 0, 0, body);
      return bytes(u16(sport), u16(dport), u16(len), u16(sum === 0 ? 0xffff : sum), body);
    },
  };
}

/** An ICMP echo request (not a transport the detectors watch). */
function icmpEcho() {
  return {
    proto: 1,
    segment() {
      const head = (sum) => bytes(8, 0, u16(sum), u16(1), u16(1));
      return bytes(head(checksum(head(0), filler(8))), filler(8));
    },
  };
}

/** An ICMPv6 echo request. */
function icmp6Echo() {
  return {
    proto: 58,
    segment(src, dst) {
      const body = bytes(128, 0, 0, 0, u16(1), u16(1), filler(8));
      const sum = checksum(pseudo(src, dst, 58, body.length), body);
      body[2] = sum >> 8;
      body[3] = sum & 0xff;
      return body;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// IP

/**
 * An IPv4 packet carrying `t` (a transport from above) or raw `payload` with protocol `proto`.
 * Options: `options` (raw bytes, padded to 4 with EOL), `ihl` / `totalLength` / `version` override
 * the header fields, `mf` / `offset` (bytes, a multiple of 8) make fragments, `cut` keeps only that
 * many transport bytes (a fragment's share of the segment).
 */
function ip4(src, dst, t, o = {}) {
  const s = addr4(src);
  const d = addr4(dst);
  let payload = o.payload ?? t.segment(s, d);
  if (o.from !== undefined || o.cut !== undefined) payload = payload.subarray(o.from ?? 0, o.cut);
  const proto = o.proto ?? t.proto;
  const opts = bytes(o.options ?? []);
  const padded = bytes(opts, zeros((4 - (opts.length % 4)) % 4));
  const ihl = o.ihl ?? 5 + padded.length / 4;
  const total = o.totalLength ?? 20 + padded.length + payload.length;
  const frag = ((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.offset ?? 0) / 8)) & 0xffff;
  const head = (sum) =>
    bytes(((o.version ?? 4) << 4) | (ihl & 0x0f), 0, u16(total), u16(o.id ?? 0x4242), u16(frag), o.ttl ?? 64, proto, u16(sum), s, d, padded);
  return bytes(head(checksum(head(0))), payload);
}

/**
 * An IPv6 packet: `exts` is the extension-header chain in order, each { type, body } (hop-by-hop 0,
 * routing 43, destination options 60: body padded to a multiple of 8 with the 2-byte header), or
 * { type: 44, offset, more, id } for a fragment header, or { type: 51 } for an AH header.
 */
function ip6(src, dst, t, o = {}) {
  const s = addr6(src);
  const d = addr6(dst);
  let upper = o.payload ?? t.segment(s, d);
  if (o.from !== undefined || o.cut !== undefined) upper = upper.subarray(o.from ?? 0, o.cut);
  const exts = o.exts ?? [];
  const finalProto = o.proto ?? t.proto;
  const chain = [];
  for (let i = 0; i < exts.length; i++) {
    const e = exts[i];
    const next = i + 1 < exts.length ? exts[i + 1].type : finalProto;
    if (e.type === 44) {
      chain.push(bytes(next, 0, u16(((e.offset ?? 0) & 0xfff8) | (e.more ? 1 : 0)), u32(e.id ?? 0x6a6a6a6a)));
    } else if (e.type === 51) {
      // AH: next, length in 4-octet units minus 2, reserved, SPI, sequence, 12-byte ICV = 24 bytes.
      chain.push(bytes(next, 4, 0, 0, u32(0x100), u32(1), zeros(12)));
    } else {
      const body = bytes(e.body ?? [1, 4, 0, 0, 0, 0]); // default: one PadN option filling 8 bytes
      const total = 2 + body.length;
      if (total % 8 !== 0) throw new Error('extension header must be a multiple of 8 bytes');
      chain.push(bytes(next, e.hdrLen ?? total / 8 - 1, body));
    }
  }
  const first = exts.length > 0 ? exts[0].type : finalProto;
  const payload = bytes(...chain, upper);
  return bytes(0x60, 0, 0, 0, u16(o.payloadLength ?? payload.length), first, o.hlim ?? 64, s, d, payload);
}

// ---------------------------------------------------------------------------------------------
// Link layers

const MAC_TARGET = [0x02, 0, 0, 0, 0, 0x01];
const MAC_SCANNER = [0x02, 0, 0, 0, 0, 0x02];
const ET_IP4 = 0x0800, ET_IP6 = 0x86dd, ET_ARP = 0x0806;

/** Ethernet II; `vlans` is a list of [tpid, vlan id] tags, outermost first (each tag sits before the ethertype). */
function eth(ethertype, payload, vlans = []) {
  return bytes(MAC_TARGET, MAC_SCANNER, ...vlans.map(([tpid, vid]) => bytes(u16(tpid), u16(vid))), u16(ethertype), payload);
}

/** Ethernet with an IPv4 or IPv6 packet, ethertype from the version nibble. */
function e(ipPacket, vlans = []) {
  return eth(ipPacket[0] >> 4 === 6 ? ET_IP6 : ET_IP4, ipPacket, vlans);
}

const SLL_HOST = 0, SLL_BROADCAST = 1, SLL_OUTGOING = 4;

/** Linux cooked v1 (LINKTYPE_LINUX_SLL): packet type, ARPHRD_ETHER, 6-byte address, protocol. */
function sll(pkttype, ethertype, payload) {
  return bytes(u16(pkttype), u16(1), u16(6), MAC_SCANNER, 0, 0, u16(ethertype), payload);
}

/** Linux cooked v2 (LINKTYPE_LINUX_SLL2): protocol, reserved, ifindex, ARPHRD, packet type, address. */
function sll2(pkttype, ethertype, payload) {
  return bytes(u16(ethertype), 0, 0, u32(2), u16(1), pkttype, 6, MAC_SCANNER, 0, 0, payload);
}

// ---------------------------------------------------------------------------------------------
// pcap files

/**
 * A classic pcap file. `records` are [seconds after T0, frame bytes] (optionally a third element,
 * the original length). `tail`: 'truncated' appends a record cut short, 'corrupt' one whose captured
 * length is impossible.
 */
function pcap(records, { linkType = 1, littleEndian = true, nano = false, snaplen = 262144, tail } = {}) {
  const w16 = (n) => (littleEndian ? [n & 0xff, (n >>> 8) & 0xff] : u16(n));
  const w32 = (n) => (littleEndian ? [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff] : u32(n));
  const parts = [w32(nano ? 0xa1b23c4d : 0xa1b2c3d4), w16(2), w16(4), w32(0), w32(0), w32(snaplen), w32(linkType)];
  const stamp = (at) => {
    const micros = Math.round(at * 1e6);
    const sec = T0 + Math.floor(micros / 1e6);
    const us = micros % 1e6;
    return [w32(sec), w32(nano ? us * 1000 : us)];
  };
  let last = 0;
  for (const [at, frame, orig] of records) {
    if (at < last) throw new Error('records must be in time order');
    last = at;
    parts.push(...stamp(at), w32(frame.length), w32(orig ?? frame.length), frame);
  }
  if (tail === 'truncated') {
    // The header promises 60 bytes, only 20 made it to disk (tcpdump killed mid-write).
    parts.push(...stamp(last + 1), w32(60), w32(60), filler(20));
  } else if (tail === 'corrupt') {
    parts.push(...stamp(last + 1), w32(0x7fffff00), w32(60), filler(60));
  }
  return bytes(...parts);
}

// ---------------------------------------------------------------------------------------------
// The cases. Each returns the bytes of its input.pcap. Comments say what each frame is for; the
// expected.log next to it is written by hand from these comments and the rules in README.md.

const TGT4 = '198.18.0.1';
const TGT6 = '2001:db8::1';

/** One frame per flag combination: the 1.2 names, the beyond-1.2 names, and what is not a probe. */
function flagFrames(src, target, ip) {
  const f = (port, flags, more = {}) => e(ip(src, target, tcp({ dport: port, flags, sport: 50000 + (port % 1000), ...more })));
  return [
    f(40001, SYN), // TCP SYN/Normal scan
    f(40002, FIN), // TCP FIN scan
    f(40003, 0), // " TCP NULL scan"
    f(40004, FIN | PSH | URG), // TCP XMAS scan (what nmap -sX sends)
    f(40005, SYN | FIN | PSH | URG), // still XMAS: 1.2 tests FIN+URG+PSH before anything else
    f(40006, SYN | FIN), // Unknown Type: SYN: 1 FIN: 1 ...
    f(40007, PSH), // Unknown Type: ... PSH: 1
    f(40008, URG), // Unknown Type: ... URG: 1
    f(40009, FIN | PSH), // Unknown Type: FIN: 1 ... PSH: 1
    f(40010, SYN | ECE | CWR), // ECN bits are not flags to 1.2: SYN/Normal
    f(40011, FIN | SYN | RST | PSH | ACK | URG), // TCP FULL-XMAS scan (beyond 1.2)
    f(40012, ACK, { ack: 0x20000000 }), // TCP ACK scan (beyond 1.2), no payload
    f(40013, FIN | ACK, { ack: 0x20000000 }), // TCP Maimon scan (beyond 1.2), no payload
    f(40014, SYN | ACK, { ack: 0x20000000 }), // a reply: nothing
    f(40015, RST), // nothing
    f(40016, RST | ACK, { ack: 0x20000000 }), // nothing
    f(40017, FIN | PSH | URG | ACK, { ack: 0x20000000 }), // ACK set and not a named ACK probe: nothing
    f(40018, ECE), // only ECE: no classic flag, so " TCP NULL scan"
    f(40019, SYN, { payload: filler(12) }), // payload does not matter to SYN: SYN/Normal
    f(40099, SYN), // port not watched: nothing
  ];
}

const CASES = {
  'tcp-flags-ipv4': () => {
    const frames = flagFrames('198.18.1.2', TGT4, ip4);
    // UDP to a watched TCP port number, with only -stcp: nothing.
    frames.push(e(ip4('198.18.1.2', TGT4, udp({ dport: 40001 }))));
    return pcap(frames.map((fr, i) => [i * 0.25, fr]));
  },

  'tcp-flags-ipv6': () => {
    const frames = flagFrames('2001:db8:2::2', TGT6, ip6);
    return pcap(frames.map((fr, i) => [i * 0.25, fr]));
  },

  'udp-ipv4-ipv6': () =>
    pcap([
      [0, e(ip4('198.18.3.2', TGT4, udp({ dport: 161 })))], // UDP scan, empty datagram
      [0.1, e(ip6('2001:db8:3::2', TGT6, udp({ dport: 69, payload: filler(20) })))], // UDP scan over IPv6
      [0.2, e(ip4('198.18.3.3', TGT4, udp({ dport: 40100, payload: filler(40) })))], // UDP scan, nmap-sized payload
      [0.3, e(ip4('198.18.3.2', TGT4, udp({ dport: 162 })))], // port not watched: nothing
      [0.4, e(ip4('198.18.3.2', TGT4, tcp({ dport: 161, flags: SYN })))], // TCP, and only -sudp: nothing
      [0.5, e(ip4('198.18.3.4', TGT4, udp({ dport: 161, length: 200, payload: filler(4) })))], // UDP length past the packet: malformed
      [0.6, e(ip6('2001:db8:3::3', TGT6, udp({ dport: 40100 })))], // UDP scan over IPv6, empty
    ]),

  'ip-options': () =>
    pcap([
      // IHL 6: NOP NOP NOP EOL.
      [0, e(ip4('198.18.4.2', TGT4, tcp({ dport: 40001, flags: SYN }), { options: [1, 1, 1, 0] }))],
      // IHL 15: record route with room for 9 addresses (what hping3 --rroute sends), then EOL.
      [0.1, e(ip4('198.18.4.3', TGT4, tcp({ dport: 40002, flags: FIN }), { options: [7, 39, 4, ...zeros(36), 0] }))],
      // UDP with a 4-byte option (router alert): the options line says UDP.
      [0.2, e(ip4('198.18.4.4', TGT4, udp({ dport: 40003 }), { options: [0x94, 4, 0, 0] }))],
      // Options on a packet to a port nobody watches: nothing at all.
      [0.3, e(ip4('198.18.4.5', TGT4, tcp({ dport: 40099, flags: SYN }), { options: [1, 1, 1, 0] }))],
      // Options and a flag combination that is not a probe (SYN+ACK): nothing.
      [0.4, e(ip4('198.18.4.6', TGT4, tcp({ dport: 40001, flags: SYN | ACK }), { options: [1, 1, 1, 0] }))],
      // IPv6 has no IPv4 options: a plain SYN line.
      [0.5, e(ip6('2001:db8:4::2', TGT6, tcp({ dport: 40001, flags: SYN })))],
    ]),

  'bad-ip-header': () => {
    const syn = tcp({ dport: 40001, flags: SYN });
    return pcap([
      [0, e(ip4('198.18.5.2', TGT4, syn, { ihl: 4 }))], // IHL below 5: reported (TCP), dropped
      [0.1, e(ip4('198.18.5.3', TGT4, udp({ dport: 40002 }), { ihl: 0 }))], // IHL 0 in a UDP packet
      [0.2, e(ip4('198.18.5.4', TGT4, syn, { ihl: 15 }))], // 60-byte header in a 40-byte packet
      // IHL 8 (32 bytes) and a consistent total length, but only 28 bytes of IP were captured.
      [0.3, e(ip4('198.18.5.5', TGT4, syn, { ihl: 8, totalLength: 60 })).subarray(0, 14 + 28)],
      [0.4, e(ip4('198.18.5.2', TGT4, syn, { ihl: 3 }))], // same source again within the window: no second line
      [0.5, e(ip4('198.18.5.2', TGT4, syn))], // a sound SYN from it is still a probe: SYN line
      [0.6, e(ip4('198.18.5.6', TGT4, icmpEcho(), { ihl: 2 }))], // ICMP: no watched transport, nothing
    ]);
  },

  fragments: () => {
    const syn = tcp({ dport: 40001, flags: SYN, payload: filler(16) });
    const udpProbe = udp({ dport: 40002, payload: filler(24) });
    const f6 = (id, offset, more) => ({ type: 44, offset, more, id });
    return pcap([
      // Tiny first fragment: 8 TCP bytes (ports and sequence), the flags are in the next one.
      [0, e(ip4('198.18.6.2', TGT4, syn, { mf: true, cut: 8, id: 0x101 }))],
      [0.01, e(ip4('198.18.6.2', TGT4, syn, { offset: 8, from: 8, id: 0x101 }))], // its second fragment: nothing
      [0.1, e(ip4('198.18.6.2', TGT4, syn, { mf: true, cut: 8, id: 0x102 }))], // again from .2 in the window: no second line
      // 16 bytes: the flags byte is there, the rest of the header is not.
      [0.2, e(ip4('198.18.6.3', TGT4, syn, { mf: true, cut: 16, id: 0x103 }))],
      // UDP first fragment with 4 bytes: the ports, no length.
      [0.3, e(ip4('198.18.6.4', TGT4, udpProbe, { mf: true, cut: 4, id: 0x104 }))],
      // First fragment holding the whole TCP header: an ordinary SYN probe.
      [0.4, e(ip4('198.18.6.5', TGT4, syn, { mf: true, cut: 24, id: 0x105 }))],
      // A later fragment alone (offset 1480): its header is in a first fragment we never saw: nothing.
      [0.5, e(ip4('198.18.6.6', TGT4, syn, { offset: 1480, from: 8, id: 0x106 }))],
      // IPv6: first fragment with 8 TCP bytes.
      [0.6, e(ip6('2001:db8:6::2', TGT6, syn, { exts: [f6(0x201, 0, true)], cut: 8 }))],
      // IPv6 later fragment: nothing.
      [0.7, e(ip6('2001:db8:6::3', TGT6, syn, { exts: [f6(0x202, 8, false)], from: 8 }))],
      // IPv6 atomic fragment (offset 0, no more fragments, RFC 6946): a whole SYN probe.
      [0.8, e(ip6('2001:db8:6::4', TGT6, syn, { exts: [f6(0x203, 0, false)] }))],
      // IPv6 first fragment of UDP with 4 bytes.
      [0.9, e(ip6('2001:db8:6::5', TGT6, udpProbe, { exts: [f6(0x204, 0, true)], cut: 4 }))],
    ]);
  },

  'ignore-list': () =>
    pcap([
      [0, e(ip4('198.18.7.2', TGT4, tcp({ dport: 40001, flags: SYN })))], // in 198.18.7.0/24: ignored
      [0.1, e(ip4('198.18.8.2', TGT4, tcp({ dport: 40001, flags: SYN })))], // not listed: SYN line
      [0.2, e(ip4('198.18.7.200', TGT4, udp({ dport: 40002 })))], // in the /24: ignored
      [0.3, e(ip6('2001:db8:7:1::2', TGT6, tcp({ dport: 40001, flags: SYN })))], // in 2001:db8:7::/48: ignored
      [0.4, e(ip6('2001:db8:8::2', TGT6, tcp({ dport: 40001, flags: FIN })))], // not listed: FIN line
      [0.5, e(ip4('198.18.9.9', TGT4, tcp({ dport: 40001, flags: 0 })))], // listed as a single address: ignored
      [0.6, e(ip4('198.18.9.10', TGT4, tcp({ dport: 40001, flags: 0 })))], // its neighbour: NULL line
      [0.7, e(ip4('198.18.7.3', TGT4, tcp({ dport: 40001, flags: SYN }), { mf: true, cut: 8 }))], // tiny fragment, ignored source
      [0.8, e(ip4('198.18.7.4', TGT4, tcp({ dport: 40001, flags: SYN }), { ihl: 4 }))], // bad IHL, ignored source
      [0.9, e(ip6('::ffff:198.18.7.5', TGT6, tcp({ dport: 40001, flags: SYN })))], // IPv4-mapped source in the /24: ignored
      [1.0, e(ip6('2001:db8:7::1', TGT6, udp({ dport: 40002 })))], // UDP from the /48: ignored
    ]),

  'scan-trigger': () => {
    const s4 = (src, port) => e(ip4(src, TGT4, tcp({ dport: port, flags: SYN })));
    const u4 = (src, port) => e(ip4(src, TGT4, udp({ dport: port })));
    const s6 = (src, port) => e(ip6(src, TGT6, tcp({ dport: port, flags: SYN })));
    return pcap([
      [0, s4('198.18.8.2', 40001)], // A: 1
      [1, s4('198.18.8.3', 40001)], // B: 1
      [2, s4('198.18.8.2', 40002)], // A: 2, and A sends no more: nothing from A
      [3, s4('198.18.8.3', 40002)], // B: 2
      [4, s4('198.18.8.3', 40003)], // B: 3 -> detection
      [5, s4('198.18.8.3', 40004)], // B: 4 -> still over the trigger: another line
      [6, s4('198.18.8.4', 40001)], // C: TCP 1
      [7, s4('198.18.8.4', 40002)], // C: TCP 2
      [8, u4('198.18.8.4', 40001)], // C: UDP 1 (TCP and UDP count apart, as 1.2's two processes did): nothing
      [9, s6('2001:db8:8::4', 40001)], // D: 1
      [9.5, s6('2001:db8:8::4', 40001)], // D: 2 (same port again still counts)
      [10, s6('2001:db8:8::4', 40002)], // D: 3 -> detection
    ]);
  },

  'scan-trigger-window': () => {
    const s4 = (src, port) => e(ip4(src, TGT4, tcp({ dport: port, flags: SYN })));
    // SCAN_TRIGGER 3 within 1m (60 s).
    return pcap([
      [0, s4('198.18.9.2', 40001)], // E: 1
      [10, s4('198.18.9.2', 40002)], // E: 2
      [75, s4('198.18.9.2', 40003)], // E: the first two are over 60 s old: 1 again, nothing
      [76, s4('198.18.9.2', 40004)], // E: 2
      [77, s4('198.18.9.2', 40005)], // E: 3 within 60 s -> detection
      [100, s4('198.18.9.3', 40001)], // F: 1
      [130, s4('198.18.9.3', 40002)], // F: 2
      [160, s4('198.18.9.3', 40003)], // F: 3, exactly 60 s after the first: still inside -> detection
      [200, s4('198.18.9.4', 40001)], // G: 1
      [230, s4('198.18.9.4', 40002)], // G: 2
      [260.001, s4('198.18.9.4', 40003)], // G: 60.001 s after the first: nothing
    ]);
  },

  'detect-ack-off': () => {
    const f4 = (port, flags, more = {}) => e(ip4('198.18.10.2', TGT4, tcp({ dport: port, flags, ...more })));
    const f6 = (port, flags, more = {}) => e(ip6('2001:db8:10::2', TGT6, tcp({ dport: port, flags, ...more })));
    return pcap([
      [0, f4(40001, ACK, { ack: 5 })], // ACK scan: ignored as 1.2 did
      [0.1, f4(40002, FIN | ACK, { ack: 5 })], // Maimon: ignored
      [0.2, f4(40003, FIN | SYN | RST | PSH | ACK | URG)], // FULL-XMAS: ignored
      [0.3, f4(40004, SYN)], // the 1.2 kinds stay: SYN line
      [0.4, f4(40005, FIN | PSH | URG)], // XMAS line
      [0.5, f4(40006, SYN | FIN)], // Unknown Type line
      [0.6, f6(40001, ACK, { ack: 5 })], // IPv6 ACK scan: ignored
      [0.7, f6(40002, FIN | ACK, { ack: 5 })], // IPv6 Maimon: ignored
      [0.8, f6(40003, 0)], // IPv6 NULL line
    ]);
  },

  'ack-maimon-payload': () => {
    const f4 = (src, port, flags, more = {}) => e(ip4(src, TGT4, tcp({ dport: port, flags, ack: 0x30000000, ...more })));
    const ackPadded = e(ip4('198.18.11.5', TGT4, tcp({ dport: 40004, flags: ACK, ack: 7 })));
    return pcap([
      [0, f4('198.18.11.2', 40001, ACK, { payload: filler(10) })], // ACK with data: a segment, not a probe
      [0.1, f4('198.18.11.2', 40002, FIN | ACK, { payload: filler(10) })], // FIN+ACK with data: a connection's end
      [0.2, f4('198.18.11.3', 40001, ACK)], // empty ACK: TCP ACK scan
      [0.3, f4('198.18.11.3', 40002, FIN | ACK)], // empty FIN+ACK: TCP Maimon scan
      // All six flags with data is still FULL-XMAS: no connection sends SYN+RST+FIN together.
      [0.4, f4('198.18.11.4', 40003, FIN | SYN | RST | PSH | ACK | URG, { payload: filler(10) })],
      // A 54-byte empty ACK padded to Ethernet's 60-byte minimum: padding is not payload.
      [0.5, bytes(ackPadded, zeros(60 - ackPadded.length))],
      // Empty ACK with TCP options (timestamps): options are not payload either.
      [0.6, f4('198.18.11.6', 40005, ACK, { options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2] })],
      [0.7, e(ip6('2001:db8:11::2', TGT6, tcp({ dport: 40001, flags: ACK, ack: 9, payload: filler(10) })))], // IPv6 ACK with data: nothing
      [0.8, e(ip6('2001:db8:11::3', TGT6, tcp({ dport: 40001, flags: ACK, ack: 9 })))], // IPv6 empty ACK: ACK scan
      [0.9, e(ip6('2001:db8:11::4', TGT6, tcp({ dport: 40002, flags: FIN | ACK, ack: 9, payload: filler(1) })))], // one byte is enough: nothing
    ]);
  },

  'advanced-mode': () => {
    const s = (port, flags = SYN) => e(ip4('198.18.12.2', TGT4, tcp({ dport: port, flags, ack: flags & ACK ? 3 : 0 })));
    const u = (port) => e(ip4('198.18.12.3', TGT4, udp({ dport: port })));
    return pcap([
      [0, s(0)], // port 0 is below 1024 and not excluded: SYN line
      [0.1, s(22)], // SYN line
      [0.2, s(113)], // ADVANCED_EXCLUDE_TCP: nothing
      [0.3, s(139)], // ADVANCED_EXCLUDE_TCP: nothing
      [0.4, s(1023)], // last watched port: SYN line
      [0.5, s(1024)], // ADVANCED_PORTS_TCP is a count from 0: 1024 is not watched
      [0.6, s(40000)], // in TCP_PORTS, but -atcp does not read TCP_PORTS: nothing
      [0.7, s(443, ACK)], // empty ACK to a watched port: TCP ACK scan
      [0.8, e(ip6('2001:db8:12::2', TGT6, tcp({ dport: 80, flags: FIN })))], // IPv6 FIN line
      [0.9, u(53)], // UDP scan line
      [1.0, u(137)], // ADVANCED_EXCLUDE_UDP: nothing
      [1.1, u(138)], // ADVANCED_EXCLUDE_UDP: nothing
      [1.2, u(199)], // last watched UDP port: UDP scan line
      [1.3, u(200)], // ADVANCED_PORTS_UDP=200: not watched
      [1.4, u(40000)], // in UDP_PORTS only: nothing
    ]);
  },

  'ipv6-extension-headers': () => {
    const syn = (port) => tcp({ dport: port, flags: SYN });
    const src = (k) => `2001:db8:13::${k}`;
    const dst8 = { type: 60 }; // 8-byte destination options (one PadN)
    const many = (n) => Array.from({ length: n }, () => dst8);
    // Routing header type 4 (segment routing) with segments left 0 and one 16-byte segment.
    const routing = { type: 43, body: [4, 0, 0, 0, 0, 0, ...addr6(TGT6)] };
    return pcap([
      [0, e(ip6(src(2), TGT6, syn(40001), { exts: [{ type: 0 }] }))], // hop-by-hop, TCP: SYN line
      [0.1, e(ip6(src(3), TGT6, tcp({ dport: 40002, flags: FIN }), { exts: [{ type: 0 }, routing, dst8] }))], // HBH, routing, dst-opts: FIN line
      [0.2, e(ip6(src(4), TGT6, syn(40003), { exts: [{ type: 51 }] }))], // AH (length in 4-octet units): SYN line
      [0.3, e(ip6(src(5), TGT6, udp({ dport: 40004 }), { exts: [dst8, { type: 44, offset: 0, more: false, id: 7 }] }))], // dst-opts + atomic fragment: UDP line
      [0.4, e(ip6(src(6), TGT6, null, { proto: 50, payload: filler(24) }))], // ESP: nothing to inspect
      [0.5, e(ip6(src(6), TGT6, null, { proto: 59, payload: [] }))], // no next header: nothing
      [0.6, e(ip6(src(6), TGT6, icmp6Echo()))], // ICMPv6: nothing
      [0.7, e(ip6(src(7), TGT6, syn(40005), { exts: many(16) }))], // 16 extension headers: still walked, SYN line
      [0.8, e(ip6(src(8), TGT6, syn(40006), { exts: many(17) }))], // 17: an attack on the decoder, malformed
      // A destination-options header claiming 64 bytes in a packet that ends after 8: malformed.
      [0.9, e(ip6(src(9), TGT6, syn(40007), { exts: [{ type: 60, hdrLen: 7 }], cut: 0 }))],
      // Hop-by-hop with a 16-byte body (length field 2) then TCP: SYN line.
      [1.0, e(ip6(src(10), TGT6, syn(40008), { exts: [{ type: 0, body: [1, 20, ...zeros(20)] }] }))],
    ]);
  },

  'linktype-sll': () =>
    pcap(
      [
        [0, sll(SLL_HOST, ET_IP4, ip4('198.18.14.2', TGT4, tcp({ dport: 40001, flags: SYN })))], // to us: SYN line
        [0.1, sll(SLL_OUTGOING, ET_IP4, ip4('198.18.14.3', TGT4, tcp({ dport: 40001, flags: SYN })))], // sent by this host: nothing
        [0.2, sll(SLL_HOST, ET_IP6, ip6('2001:db8:14::2', TGT6, tcp({ dport: 40002, flags: FIN })))], // IPv6 FIN line
        [0.3, sll(SLL_BROADCAST, ET_IP4, ip4('198.18.14.4', '198.18.0.255', udp({ dport: 40003 })))], // broadcast UDP: UDP line
        [0.4, sll(SLL_HOST, ET_ARP, filler(28))], // ARP: nothing
        [0.5, sll(SLL_OUTGOING, ET_IP6, ip6('2001:db8:14::3', TGT6, udp({ dport: 40003 })))], // outgoing IPv6: nothing
      ],
      { linkType: 113 },
    ),

  'linktype-sll2': () =>
    pcap(
      [
        [0, sll2(SLL_HOST, ET_IP4, ip4('198.18.15.2', TGT4, tcp({ dport: 40001, flags: SYN })))], // SYN line
        [0.1, sll2(SLL_OUTGOING, ET_IP4, ip4('198.18.15.3', TGT4, tcp({ dport: 40001, flags: SYN })))], // outgoing: nothing
        [0.2, sll2(SLL_HOST, ET_IP6, ip6('2001:db8:15::2', TGT6, tcp({ dport: 40002, flags: FIN | PSH | URG })))], // XMAS line
        [0.3, sll2(SLL_HOST, ET_IP4, ip4('198.18.15.4', TGT4, udp({ dport: 40003 })))], // UDP line
        [0.4, sll2(SLL_OUTGOING, ET_IP4, ip4('198.18.15.5', TGT4, tcp({ dport: 40001, flags: SYN }), { ihl: 4 }))], // outgoing broken header: nothing
      ],
      { linkType: 276 },
    ),

  'linktype-vlan': () => {
    const syn4 = (src, port) => ip4(src, TGT4, tcp({ dport: port, flags: SYN }));
    const nine = Array.from({ length: 9 }, (_, i) => [0x8100, 100 + i]);
    return pcap([
      [0, e(syn4('198.18.16.2', 40001), [[0x8100, 100]])], // 802.1Q: SYN line
      [0.1, e(ip6('2001:db8:16::2', TGT6, tcp({ dport: 40002, flags: 0 })), [[0x88a8, 10], [0x8100, 100]])], // QinQ, IPv6: NULL line
      [0.2, e(syn4('198.18.16.3', 40003), [[0x9100, 20]])], // pre-standard 0x9100 tag: SYN line
      [0.3, e(syn4('198.18.16.4', 40004), nine)], // nine tags: malformed (vlan-depth), nothing
      [0.4, e(ip4('198.18.16.5', TGT4, udp({ dport: 40005 })), [[0x8100, 100]])], // tagged UDP: UDP line
      // A tag whose inner ethertype is cut off: malformed (short link header).
      [0.5, bytes(MAC_TARGET, MAC_SCANNER, u16(0x8100), u16(100))],
    ]);
  },

  'linktype-raw': () =>
    // LINKTYPE_RAW (101), written big-endian with nanosecond timestamps, the reader's other formats.
    pcap(
      [
        [0, ip4('198.18.17.2', TGT4, tcp({ dport: 40001, flags: SYN }))], // SYN line
        [0, ip6('2001:db8:17::2', TGT6, udp({ dport: 40002 }))], // UDP line (same instant)
        [0.1, ip4('198.18.17.3', TGT4, tcp({ dport: 40003, flags: FIN }), { options: [1, 1, 1, 0] })], // FIN + options lines
        [0.2, bytes(0x50, zeros(39))], // IP version 5: malformed
        [0.3, ip6('2001:db8:17::3', TGT6, tcp({ dport: 40004, flags: FIN | SYN | RST | PSH | ACK | URG }))], // FULL-XMAS line
      ],
      { linkType: 101, littleEndian: false, nano: true, snaplen: 65535 },
    ),

  'garbage-frames': () => {
    const good = (src, port) => e(ip4(src, TGT4, tcp({ dport: port, flags: SYN })));
    const tcpHead = tcp({ dport: 40001, flags: SYN });
    return pcap([
      [0, new Uint8Array(0)], // empty frame: short link header
      [0.01, filler(5)], // 5 bytes: short link header
      [0.02, eth(ET_IP4, [])], // Ethernet header only: short IP header
      [0.03, eth(ET_IP4, bytes(0x45, zeros(10)))], // 11 bytes of IPv4: short IP header
      [0.04, eth(ET_IP4, bytes(0x75, zeros(39)))], // version 7 behind the IPv4 ethertype: bad IP version
      [0.05, eth(ET_IP6, bytes(0x60, zeros(20)))], // 21 bytes of IPv6: short IP header
      [0.06, e(ip4('198.18.18.9', TGT4, null, { proto: 6, payload: filler(10) }))], // 10 TCP bytes, not a fragment: short TCP header
      [0.07, e(ip4('198.18.18.9', TGT4, tcp({ dport: 40001, flags: SYN, dataOffset: 3 })))], // data offset 3: bad TCP offset
      [0.08, e(ip4('198.18.18.9', TGT4, tcp({ dport: 40001, flags: SYN, dataOffset: 15 })))], // 60-byte TCP header in 20 bytes: bad TCP offset
      [0.09, e(ip4('198.18.18.9', TGT4, null, { proto: 17, payload: filler(4) }))], // 4 UDP bytes: short UDP header
      [0.1, e(ip4('198.18.18.9', TGT4, udp({ dport: 40002, length: 4 })))], // UDP length 4: bad UDP length
      [0.11, eth(ET_ARP, filler(28))], // ARP: other
      [0.12, e(ip4('198.18.18.9', TGT4, icmpEcho()))], // ICMP: other
      [0.13, eth(0x88cc, filler(40))], // LLDP: other
      [0.14, good('198.18.18.2', 40001)], // a sound probe among the garbage: SYN line
      // Total length 0, as segmentation offload leaves it in captures: the capture is trusted, SYN line.
      [0.15, e(ip4('198.18.18.3', TGT4, tcpHead, { totalLength: 0 }))],
      // An Ethernet frame cut inside the TCP header (snap length 50): short TCP header.
      [0.16, good('198.18.18.4', 40001).subarray(0, 50), 54],
      [0.17, filler(1500)], // 1500 bytes of text: Ethernet with ethertype 0x6d6e, other
      [0.18, good('198.18.18.5', 40002)], // and the replay carries on: SYN line
    ]);
  },

  'truncated-last-record': () => {
    const syn = (k, port) => e(ip4(`198.18.19.${k}`, TGT4, tcp({ dport: port, flags: SYN })));
    return pcap(
      [
        [0, syn(2, 40001)], // SYN line
        [0.1, syn(3, 40002)], // SYN line
        [0.2, syn(4, 40003)], // SYN line
      ],
      { tail: 'truncated' }, // then a record cut short: replay stops there, the three lines stand
    );
  },

  'corrupt-record': () => {
    const syn = (k, port) => e(ip4(`198.18.20.${k}`, TGT4, tcp({ dport: port, flags: FIN })));
    return pcap([[0, syn(2, 40001)], [0.1, syn(3, 40002)]], { tail: 'corrupt' }); // two FIN lines, then garbage
  },
};

// ---------------------------------------------------------------------------------------------

function main(argv) {
  const check = argv.includes('--check');
  const names = argv.filter((a) => !a.startsWith('--'));
  for (const n of names) if (!(n in CASES)) throw new Error(`no synthetic case named ${n} (known: ${Object.keys(CASES).join(', ')})`);
  const chosen = names.length > 0 ? names : Object.keys(CASES);
  let stale = 0;
  for (const name of chosen) {
    const data = CASES[name]();
    const file = join(HERE, name, 'input.pcap');
    if (check) {
      const same = existsSync(file) && Buffer.from(readFileSync(file)).equals(Buffer.from(data));
      if (!same) {
        console.error(`make-cases: ${name}/input.pcap differs from what make-cases.mjs builds; run node test/cases/make-cases.mjs ${name}`);
        stale++;
      }
      continue;
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, data);
    console.log(`make-cases: wrote ${name}/input.pcap (${data.length} bytes)`);
  }
  if (stale > 0) process.exit(1);
}

main(process.argv.slice(2));
