/**
 * Frame decoder: captured bytes in, one plain record out.
 *
 * Hot path (one call per captured packet). Rules kept here on purpose:
 * - never throws: every read is preceded by a length check against the captured end, and anything
 *   that does not add up becomes a `malformed` result with a reason;
 * - allocates only the result record, the address copies and (rarely) the IPv4 option bytes; no
 *   closures, no DataView, no subarray views, so the capture buffer can be reused by the caller as soon
 *   as this returns (libpcap bindings such as `cap` overwrite one buffer per packet);
 * - byte reads use `b[i]!`: the non-null assertion is safe because each read is bounds-checked first,
 *   and even if one were not, `undefined` in an integer expression yields 0, never an exception.
 */
import type { AddrBytes } from './addr.js';
import { LINKTYPE } from './linktype.js';

/** TCP flag bits of header byte 13. */
export const TCP_FIN = 0x01;
/** @see TCP_FIN */
export const TCP_SYN = 0x02;
/** @see TCP_FIN */
export const TCP_RST = 0x04;
/** @see TCP_FIN */
export const TCP_PSH = 0x08;
/** @see TCP_FIN */
export const TCP_ACK = 0x10;
/** @see TCP_FIN */
export const TCP_URG = 0x20;
/** @see TCP_FIN */
export const TCP_ECE = 0x40;
/** @see TCP_FIN */
export const TCP_CWR = 0x80;

/** IP protocol numbers the decoder treats as transports. */
export const IPPROTO_TCP = 6;
/** @see IPPROTO_TCP */
export const IPPROTO_UDP = 17;

/** What both decoded transports share: the IP layer and how the frame was captured. */
export interface IpFields {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Source address, a private copy (4 or 16 bytes). */
  readonly src: AddrBytes;
  /** Destination address, a private copy (4 or 16 bytes). */
  readonly dst: AddrBytes;
  /** IPv4 TTL or IPv6 hop limit. */
  readonly ttl: number;
  /** IPv4 option bytes (IHL > 5; a copy), else null. 1.2 reported these as detection avoidance. */
  readonly ipOptions: Uint8Array | null;
  /** Number of IPv6 extension headers walked before the transport header (0 for IPv4). */
  readonly extHeaders: number;
  /** A first fragment (more-fragments set, offset 0) that still carries the whole transport header. */
  readonly fragment: boolean;
  /** The capture holds fewer bytes than the IP length field claims (snap length). */
  readonly truncated: boolean;
  /** The link layer says this host sent it (Linux cooked captures only; false when unknown). */
  readonly outgoing: boolean;
}

/** A decoded TCP segment. */
export interface TcpPacket extends IpFields {
  readonly kind: 'tcp';
  readonly srcPort: number;
  readonly dstPort: number;
  /** All eight flag bits of header byte 13 (see TCP_FIN .. TCP_CWR). */
  readonly flags: number;
  readonly seq: number;
  readonly ackNum: number;
  readonly window: number;
  /** Header length in 32-bit words (5..15). */
  readonly dataOffset: number;
  /** Payload bytes by the IP length fields (not by what was captured). */
  readonly payloadLength: number;
}

/** A decoded UDP datagram. */
export interface UdpPacket extends IpFields {
  readonly kind: 'udp';
  readonly srcPort: number;
  readonly dstPort: number;
  /** The UDP length field (header included). */
  readonly length: number;
}

/** A decoded transport packet: what the detectors consume. */
export type Packet = TcpPacket | UdpPacket;

/**
 * A TCP or UDP fragment whose transport header cannot be read: a non-first fragment, or a first
 * fragment too short to hold the whole header (the tiny-fragment evasion). Reported, never passed.
 */
export interface FragmentResult {
  readonly kind: 'fragment';
  readonly reason: 'non-first' | 'short-first';
  readonly family: 4 | 6;
  readonly src: AddrBytes;
  readonly dst: AddrBytes;
  /** Transport protocol number the fragment claims (for IPv6, the fragment header's next header). */
  readonly protocol: number;
  /** Fragment offset in bytes. */
  readonly offset: number;
  readonly moreFragments: boolean;
  /** IPv4 identification or IPv6 fragment identification. */
  readonly id: number;
  readonly outgoing: boolean;
}

/**
 * An IPv4 header whose IHL is below 5 or reaches past the packet (by its total length or by the bytes
 * captured). 1.2 logged `Illegal IP header length detected in TCP packet: %d from (possible) host: %s`
 * (UDP for UDP) and dropped the packet; `protocol` picks the word, `ihl` is the raw 4-bit value.
 */
export interface BadIpHeaderResult {
  readonly kind: 'bad-ip-header';
  readonly ihl: number;
  readonly protocol: number;
  readonly src: AddrBytes;
  readonly outgoing: boolean;
}

/** A well-formed frame that is not TCP or UDP over IP: counted, not inspected. */
export interface OtherResult {
  readonly kind: 'other';
  /** 'link': `code` is the ethertype or address family; 'ip': `code` is the IP protocol / next header. */
  readonly layer: 'link' | 'ip';
  readonly code: number;
}

/** Why a frame could not be decoded. */
export type MalformedReason =
  | 'unknown-link-type'
  | 'short-link-header'
  | 'vlan-depth'
  | 'short-ip-header'
  | 'bad-ip-version'
  | 'short-ipv6-ext'
  | 'ipv6-ext-chain'
  | 'short-tcp-header'
  | 'bad-tcp-offset'
  | 'short-udp-header'
  | 'bad-udp-length';

/** A frame that is short, garbage or self-contradictory. Counted and dropped. */
export interface MalformedResult {
  readonly kind: 'malformed';
  readonly reason: MalformedReason;
}

/** Everything `decodeFrame` can return; switch on `kind`. */
export type DecodeResult = TcpPacket | UdpPacket | FragmentResult | BadIpHeaderResult | OtherResult | MalformedResult;

// Malformed results carry no per-packet data, so one frozen record per reason serves every packet:
// a flood of garbage then allocates nothing.
const MALFORMED: { readonly [R in MalformedReason]: MalformedResult } = Object.freeze({
  'unknown-link-type': Object.freeze({ kind: 'malformed', reason: 'unknown-link-type' }),
  'short-link-header': Object.freeze({ kind: 'malformed', reason: 'short-link-header' }),
  'vlan-depth': Object.freeze({ kind: 'malformed', reason: 'vlan-depth' }),
  'short-ip-header': Object.freeze({ kind: 'malformed', reason: 'short-ip-header' }),
  'bad-ip-version': Object.freeze({ kind: 'malformed', reason: 'bad-ip-version' }),
  'short-ipv6-ext': Object.freeze({ kind: 'malformed', reason: 'short-ipv6-ext' }),
  'ipv6-ext-chain': Object.freeze({ kind: 'malformed', reason: 'ipv6-ext-chain' }),
  'short-tcp-header': Object.freeze({ kind: 'malformed', reason: 'short-tcp-header' }),
  'bad-tcp-offset': Object.freeze({ kind: 'malformed', reason: 'bad-tcp-offset' }),
  'short-udp-header': Object.freeze({ kind: 'malformed', reason: 'short-udp-header' }),
  'bad-udp-length': Object.freeze({ kind: 'malformed', reason: 'bad-udp-length' }),
} as const);

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
/** VLAN tags deeper than this are treated as an attack on the decoder, not as a network design. */
const MAX_VLAN_TAGS = 8;
/** IPv6 extension headers walked before giving up (RFC 7112 style header-chain evasion). */
const MAX_EXT_HEADERS = 16;
const SLL_OUTGOING = 4;

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function u32(b: Uint8Array, o: number): number {
  // Multiply the top byte instead of shifting so the result stays an unsigned number.
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

function copyBytes(b: Uint8Array, start: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = b[start + i]!;
  return out;
}

/**
 * Decodes one captured frame of link type `linkType` (a DLT_ or LINKTYPE_ number, see LINKTYPE).
 * `length` is the number of captured bytes in `frame` (default: all of it; clamped to the buffer),
 * for callers that reuse one large buffer. Never throws; never keeps a reference to `frame`.
 */
export function decodeFrame(frame: Uint8Array, linkType: number, length: number = frame.length): DecodeResult {
  const end = length >= 0 && length < frame.length ? Math.floor(length) : frame.length;
  switch (linkType) {
    case LINKTYPE.EN10MB:
      if (end < 14) return MALFORMED['short-link-header'];
      return decodeEthertype(frame, 14, end, u16(frame, 12), false);
    case LINKTYPE.LINUX_SLL:
      if (end < 16) return MALFORMED['short-link-header'];
      return decodeEthertype(frame, 16, end, u16(frame, 14), u16(frame, 0) === SLL_OUTGOING);
    case LINKTYPE.LINUX_SLL2:
      if (end < 20) return MALFORMED['short-link-header'];
      return decodeEthertype(frame, 20, end, u16(frame, 0), frame[10] === SLL_OUTGOING);
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP:
      return decodeLoopback(frame, end);
    case LINKTYPE.DLT_RAW:
    case LINKTYPE.DLT_RAW_OPENBSD:
    case LINKTYPE.RAW:
      if (end < 1) return MALFORMED['short-ip-header'];
      return decodeIpByVersion(frame, 0, end, false);
    case LINKTYPE.IPV4:
      return decodeIpv4(frame, 0, end, false);
    case LINKTYPE.IPV6:
      return decodeIpv6(frame, 0, end, false);
    default:
      return MALFORMED['unknown-link-type'];
  }
}

function decodeEthertype(b: Uint8Array, o: number, end: number, etherType: number, outgoing: boolean): DecodeResult {
  let et = etherType;
  let p = o;
  let tags = 0;
  // 802.1Q, 802.1ad (QinQ) and the pre-standard 0x9100 tag all have the inner ethertype 2 bytes in.
  while (et === 0x8100 || et === 0x88a8 || et === 0x9100) {
    if (++tags > MAX_VLAN_TAGS) return MALFORMED['vlan-depth'];
    if (p + 4 > end) return MALFORMED['short-link-header'];
    et = u16(b, p + 2);
    p += 4;
  }
  if (et === ETH_IPV4) return decodeIpv4(b, p, end, outgoing);
  if (et === ETH_IPV6) return decodeIpv6(b, p, end, outgoing);
  return { kind: 'other', layer: 'link', code: et };
}

function decodeLoopback(b: Uint8Array, end: number): DecodeResult {
  if (end < 4) return MALFORMED['short-link-header'];
  // The family is in the capturing host's byte order (DLT_NULL) or network order (DLT_LOOP); the value
  // is small, so whichever reading fits in 16 bits is the right one.
  const be = u32(b, 0);
  const family = be > 0xffff ? (b[0]! | (b[1]! << 8)) : be;
  if (family === 2) return decodeIpv4(b, 4, end, false);
  // AF_INET6 is 10 on Linux, 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS.
  if (family === 10 || family === 24 || family === 28 || family === 30) return decodeIpv6(b, 4, end, false);
  return { kind: 'other', layer: 'link', code: family };
}

function decodeIpByVersion(b: Uint8Array, o: number, end: number, outgoing: boolean): DecodeResult {
  const v = b[o]! >> 4;
  if (v === 4) return decodeIpv4(b, o, end, outgoing);
  if (v === 6) return decodeIpv6(b, o, end, outgoing);
  return MALFORMED['bad-ip-version'];
}

function decodeIpv4(b: Uint8Array, o: number, end: number, outgoing: boolean): DecodeResult {
  const avail = end - o;
  if (avail < 20) return MALFORMED['short-ip-header'];
  if (b[o]! >> 4 !== 4) return MALFORMED['bad-ip-version'];
  const ihl = b[o]! & 0x0f;
  const protocol = b[o + 9]!;
  const hdrLen = ihl * 4;
  let totalLen = u16(b, o + 2);
  // Total length 0 is what segmentation offload leaves in captured packets; trust the capture then.
  if (totalLen === 0) totalLen = avail;
  if (ihl < 5 || hdrLen > totalLen || hdrLen > avail) {
    return { kind: 'bad-ip-header', ihl, protocol, src: copyBytes(b, o + 12, 4), outgoing };
  }
  const src = copyBytes(b, o + 12, 4);
  const dst = copyBytes(b, o + 16, 4);
  if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) return { kind: 'other', layer: 'ip', code: protocol };
  const fragField = u16(b, o + 6);
  const fragOffset = (fragField & 0x1fff) * 8;
  const moreFragments = (fragField & 0x2000) !== 0;
  if (fragOffset > 0) {
    return {
      kind: 'fragment', reason: 'non-first', family: 4, src, dst, protocol,
      offset: fragOffset, moreFragments, id: u16(b, o + 4), outgoing,
    };
  }
  const truncated = avail < totalLen;
  // Bytes past the total length are link padding (Ethernet pads to 60), not payload.
  const segEnd = truncated ? end : o + totalLen;
  const t = o + hdrLen;
  const segClaimed = totalLen - hdrLen;
  const ipOptions = ihl > 5 ? copyBytes(b, o + 20, hdrLen - 20) : null;
  const ttl = b[o + 8]!;
  if (protocol === IPPROTO_TCP) {
    return decodeTcp(b, t, segEnd, segClaimed, 4, src, dst, ttl, ipOptions, 0, moreFragments, truncated, outgoing, u16(b, o + 4));
  }
  return decodeUdp(b, t, segEnd, segClaimed, 4, src, dst, ttl, ipOptions, 0, moreFragments, truncated, outgoing, u16(b, o + 4));
}

function decodeIpv6(b: Uint8Array, o: number, end: number, outgoing: boolean): DecodeResult {
  const avail = end - o;
  if (avail < 40) return MALFORMED['short-ip-header'];
  if (b[o]! >> 4 !== 6) return MALFORMED['bad-ip-version'];
  const payloadLen = u16(b, o + 4);
  // Payload length 0 means a jumbogram or an offloaded segment; trust the capture then.
  const totalLen = payloadLen === 0 ? avail : 40 + payloadLen;
  const truncated = avail < totalLen;
  const limit = truncated ? end : o + totalLen;
  const src = copyBytes(b, o + 8, 16);
  const dst = copyBytes(b, o + 24, 16);
  let next = b[o + 6]!;
  let p = o + 40;
  let exts = 0;
  let firstFragment = false;
  let fragId = 0;
  for (;;) {
    if (next === IPPROTO_TCP || next === IPPROTO_UDP) break;
    if (++exts > MAX_EXT_HEADERS) return MALFORMED['ipv6-ext-chain'];
    switch (next) {
      case 0: // hop-by-hop options
      case 43: // routing
      case 60: // destination options
      case 135: // mobility
      case 139: // HIP
      case 140: // shim6
        if (p + 2 > limit) return firstFragment ? shortFirst(6, src, dst, next, fragId, outgoing) : MALFORMED['short-ipv6-ext'];
        next = b[p]!;
        p += (b[p + 1]! + 1) * 8;
        break;
      case 51: // AH counts its length in 4-octet units, minus 2
        if (p + 2 > limit) return firstFragment ? shortFirst(6, src, dst, next, fragId, outgoing) : MALFORMED['short-ipv6-ext'];
        next = b[p]!;
        p += (b[p + 1]! + 2) * 4;
        break;
      case 44: {
        if (p + 8 > limit) return MALFORMED['short-ipv6-ext'];
        const field = u16(b, p + 2);
        const offset = field & 0xfff8;
        const more = (field & 1) !== 0;
        next = b[p]!;
        fragId = u32(b, p + 4);
        p += 8;
        if (offset > 0) {
          return {
            kind: 'fragment', reason: 'non-first', family: 6, src, dst, protocol: next,
            offset, moreFragments: more, id: fragId, outgoing,
          };
        }
        // Offset 0 without more-fragments is an atomic fragment (RFC 6946): a whole packet.
        if (more) firstFragment = true;
        break;
      }
      default: // ESP (50), no next header (59), ICMPv6 (58) and the rest: nothing to inspect
        return { kind: 'other', layer: 'ip', code: next };
    }
    if (p > limit) return firstFragment ? shortFirst(6, src, dst, next, fragId, outgoing) : MALFORMED['short-ipv6-ext'];
  }
  const segClaimed = o + totalLen - p;
  const ttl = b[o + 7]!;
  if (next === IPPROTO_TCP) {
    return decodeTcp(b, p, limit, segClaimed, 6, src, dst, ttl, null, exts, firstFragment, truncated, outgoing, fragId);
  }
  return decodeUdp(b, p, limit, segClaimed, 6, src, dst, ttl, null, exts, firstFragment, truncated, outgoing, fragId);
}

function shortFirst(family: 4 | 6, src: AddrBytes, dst: AddrBytes, protocol: number, id: number, outgoing: boolean): FragmentResult {
  return { kind: 'fragment', reason: 'short-first', family, src, dst, protocol, offset: 0, moreFragments: true, id, outgoing };
}

// `segEnd` bounds what may be read (captured bytes of this segment); `segClaimed` is the segment length
// the IP header claims, used for sanity checks that must not depend on the snap length.
function decodeTcp(
  b: Uint8Array, t: number, segEnd: number, segClaimed: number, family: 4 | 6, src: AddrBytes, dst: AddrBytes,
  ttl: number, ipOptions: Uint8Array | null, extHeaders: number, fragment: boolean, truncated: boolean,
  outgoing: boolean, fragId: number,
): DecodeResult {
  if (t + 20 > segEnd || segClaimed < 20) {
    return fragment ? shortFirst(family, src, dst, IPPROTO_TCP, fragId, outgoing) : MALFORMED['short-tcp-header'];
  }
  const dataOffset = b[t + 12]! >> 4;
  if (dataOffset < 5) return MALFORMED['bad-tcp-offset'];
  if (dataOffset * 4 > segClaimed) {
    // In a first fragment the options may continue in the next fragment: that hides the header too.
    return fragment ? shortFirst(family, src, dst, IPPROTO_TCP, fragId, outgoing) : MALFORMED['bad-tcp-offset'];
  }
  return {
    kind: 'tcp', family, src, dst, ttl, ipOptions, extHeaders, fragment, truncated, outgoing,
    srcPort: u16(b, t), dstPort: u16(b, t + 2), flags: b[t + 13]!,
    seq: u32(b, t + 4), ackNum: u32(b, t + 8), window: u16(b, t + 14),
    dataOffset, payloadLength: segClaimed - dataOffset * 4,
  };
}

function decodeUdp(
  b: Uint8Array, t: number, segEnd: number, segClaimed: number, family: 4 | 6, src: AddrBytes, dst: AddrBytes,
  ttl: number, ipOptions: Uint8Array | null, extHeaders: number, fragment: boolean, truncated: boolean,
  outgoing: boolean, fragId: number,
): DecodeResult {
  if (t + 8 > segEnd || segClaimed < 8) {
    return fragment ? shortFirst(family, src, dst, IPPROTO_UDP, fragId, outgoing) : MALFORMED['short-udp-header'];
  }
  const length = u16(b, t + 4);
  // A first fragment carries only part of the datagram, so its UDP length may exceed the fragment.
  if (length < 8 || (!fragment && length > segClaimed)) return MALFORMED['bad-udp-length'];
  return {
    kind: 'udp', family, src, dst, ttl, ipOptions, extHeaders, fragment, truncated, outgoing,
    srcPort: u16(b, t), dstPort: u16(b, t + 2), length,
  };
}
