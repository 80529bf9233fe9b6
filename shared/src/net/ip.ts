/**
 * IP addresses and prefixes: strict parsing, canonical (RFC 5952) printing, and the IPv4-mapped
 * normalisation every matcher uses.
 *
 * Addresses are bytes (4 for IPv4, 16 for IPv6) so the packet decoder can build one straight from a
 * frame ({@link addressFromBytes}) and address sets can match without a string round trip.
 */
import { AddressError } from '../errors.js';

/** The address family: 4 (IPv4, 4 bytes) or 6 (IPv6, 16 bytes). */
export type IpFamily = 4 | 6;

/**
 * A parsed IPv4 or IPv6 address. Immutable by contract: `bytes` is a private copy that no function
 * of this module changes, and callers must not change it either (a typed array cannot be frozen).
 */
export class IpAddress {
  /** 4 or 6; always agrees with `bytes.length` (4 or 16). */
  readonly family: IpFamily;
  /** The address in network byte order. */
  readonly bytes: Uint8Array;

  /** Use {@link parseAddress} or {@link addressFromBytes}; this constructor takes ownership of `bytes`. */
  private constructor(bytes: Uint8Array) {
    this.family = bytes.length === 4 ? 4 : 6;
    this.bytes = bytes;
    Object.freeze(this);
  }

  /** @internal Builds an address that owns `bytes` (length 4 or 16, checked by the callers). */
  static own(bytes: Uint8Array): IpAddress {
    return new IpAddress(bytes);
  }

  /** True when this is an IPv6 address in ::ffff:0:0/96 (an IPv4 address seen through an IPv6 socket). */
  isV4Mapped(): boolean {
    return this.family === 6 && isMappedBytes(this.bytes);
  }

  /**
   * The address to use for matching and blocking: the embedded IPv4 address for an IPv4-mapped IPv6
   * address, otherwise this address itself.
   */
  unmapped(): IpAddress {
    return this.isV4Mapped() ? new IpAddress(this.bytes.slice(12, 16)) : this;
  }

  /** True when both have the same family and bytes (no mapping: use `unmapped()` first to compare across). */
  equals(other: IpAddress): boolean {
    if (other.bytes.length !== this.bytes.length) return false;
    for (let i = 0; i < this.bytes.length; i++) if (this.bytes[i] !== other.bytes[i]) return false;
    return true;
  }

  /** The canonical text form, see {@link formatAddress}. */
  toString(): string {
    return formatAddress(this);
  }
}

/** A network prefix: an address with every bit after `length` cleared, and the prefix length. */
export interface IpPrefix {
  readonly address: IpAddress;
  /** 0..32 for IPv4, 0..128 for IPv6. */
  readonly length: number;
}

function isMappedBytes(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * Parses a dotted quad into `out` at `offset`. Returns an error reason or undefined on success.
 * Leading zeros are refused because inet_aton(3), which PortSentry 1.2 used, reads them as octal:
 * "010.1.1.1" would silently mean 8.1.1.1 there.
 */
function parseV4Into(s: string, out: Uint8Array, offset: number): string | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return 'an IPv4 address has four dot-separated numbers';
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^[0-9]{1,3}$/.test(p)) return `"${p}" is not a number from 0 to 255`;
    if (p.length > 1 && p[0] === '0') return `"${p}" has a leading zero (ambiguous: octal for inet_aton)`;
    const n = Number(p);
    if (n > 255) return `${p} is larger than 255`;
    out[offset + i] = n;
  }
  return undefined;
}

/** Parses the groups of one side of "::" (may be empty) into 16-bit values; the last may be a dotted quad. */
function parseGroups(side: string, allowV4Tail: boolean, out: number[]): string | undefined {
  if (side === '') return undefined;
  const groups = side.split(':');
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i] ?? '';
    if (allowV4Tail && i === groups.length - 1 && g.includes('.')) {
      const v4 = new Uint8Array(4);
      const why = parseV4Into(g, v4, 0);
      if (why !== undefined) return `embedded IPv4: ${why}`;
      out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return g === '' ? 'empty group (a single ":" where "::" or a number is needed)' : `"${g}" is not a group of 1 to 4 hex digits`;
    out.push(parseInt(g, 16));
  }
  return undefined;
}

function parseV6(s: string): Uint8Array | string {
  const halves = s.split('::');
  if (halves.length > 2) return '"::" may appear only once';
  const head: number[] = [];
  const tail: number[] = [];
  const compressed = halves.length === 2;
  const why = parseGroups(halves[0] ?? '', !compressed, head) ?? (compressed ? parseGroups(halves[1] ?? '', true, tail) : undefined);
  if (why !== undefined) return why;
  const total = head.length + tail.length;
  if (compressed ? total > 7 : total !== 8) return compressed ? 'too many groups around "::"' : 'an IPv6 address has eight groups (or "::")';
  const out = new Uint8Array(16);
  const groups = [...head, ...new Array<number>(8 - total).fill(0), ...tail];
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function parseOrReason(s: string): IpAddress | string {
  if (s === '') return 'empty';
  // Zone ids, brackets and whitespace are refused by this one check: none of their characters can
  // appear in a bare address.
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return 'only digits, hex digits, "." and ":" may appear (no zone id, brackets or spaces)';
  if (s.includes(':')) {
    const r = parseV6(s);
    return typeof r === 'string' ? r : IpAddress.own(r);
  }
  const out = new Uint8Array(4);
  const why = parseV4Into(s, out, 0);
  return why ?? IpAddress.own(out);
}

/**
 * Parses an IPv4 dotted quad or an IPv6 address (with "::" and an embedded dotted quad, e.g.
 * "::ffff:192.0.2.1"). Strict: no leading zeros in IPv4 numbers, no zone id ("%eth0"), no brackets,
 * no surrounding whitespace. Throws {@link AddressError} (NET_BAD_ADDRESS) naming the reason.
 */
export function parseAddress(s: string): IpAddress {
  const r = parseOrReason(s);
  if (typeof r === 'string') throw new AddressError(s, r);
  return r;
}

/** Like {@link parseAddress} but returns undefined instead of throwing. */
export function tryParseAddress(s: string): IpAddress | undefined {
  const r = parseOrReason(s);
  return typeof r === 'string' ? undefined : r;
}

/**
 * Builds an address from 4 (IPv4) or 16 (IPv6) bytes in network order, e.g. a subarray of a frame.
 * The bytes are copied, so the caller may reuse its buffer. Throws AddressError for any other length.
 */
export function addressFromBytes(bytes: Uint8Array): IpAddress {
  if (bytes.length !== 4 && bytes.length !== 16) throw new AddressError(`<${bytes.length} bytes>`, 'an address has 4 or 16 bytes');
  return IpAddress.own(Uint8Array.from(bytes));
}

function formatV4(b: Uint8Array, offset: number): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/**
 * The canonical text of an address (RFC 5952 for IPv6): lowercase hex without leading zeros, the
 * longest run of two or more zero groups written "::" (the first on a tie, a single zero group never
 * compressed), and IPv4-mapped addresses as "::ffff:a.b.c.d".
 */
export function formatAddress(addr: IpAddress): string {
  const b = addr.bytes;
  if (addr.family === 4) return formatV4(b, 0);
  if (isMappedBytes(b)) return `::ffff:${formatV4(b, 12)}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 1; // a run must be longer than this to be compressed: single zero groups stay "0"
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Clears every bit of `bytes` after the first `length` bits, in place. */
function maskInPlace(bytes: Uint8Array, length: number): void {
  for (let i = 0; i < bytes.length; i++) {
    const keep = length - i * 8;
    if (keep >= 8) continue;
    bytes[i] = keep <= 0 ? 0 : (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
}

/** The prefix of the given length that contains `addr` (host bits cleared). Throws AddressError on a bad length. */
export function makePrefix(addr: IpAddress, length: number): IpPrefix {
  const max = addr.family === 4 ? 32 : 128;
  if (!Number.isInteger(length) || length < 0 || length > max) throw new AddressError(`${addr.toString()}/${length}`, `prefix length must be 0..${max}`);
  const bytes = Uint8Array.from(addr.bytes);
  maskInPlace(bytes, length);
  return Object.freeze({ address: IpAddress.own(bytes), length });
}

function parsePrefixOrReason(s: string): IpPrefix | string {
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const addr = parseOrReason(addrText);
  if (typeof addr === 'string') return addr;
  const max = addr.family === 4 ? 32 : 128;
  if (slash < 0) return makePrefix(addr, max);
  const lenText = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText)) {
    // PortSentry 1.2 took atoi() of what follows the slash, so "/255.255.255.0" became 255 and the
    // entry was dropped with a log line; say plainly that only a length is accepted.
    return lenText.includes('.') ? 'a dotted netmask is not accepted; write the prefix length, e.g. /24' : `"/${lenText}" is not a prefix length`;
  }
  const len = Number(lenText);
  if (len > max) return `prefix length ${len} is larger than ${max}`;
  return makePrefix(addr, len);
}

/**
 * Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (meaning /32 or /128). Host bits set after
 * the prefix length are accepted and cleared ("10.1.2.3/8" is 10.0.0.0/8), as PortSentry 1.2's ignore
 * file did. Throws {@link AddressError}.
 */
export function parsePrefix(s: string): IpPrefix {
  const r = parsePrefixOrReason(s);
  if (typeof r === 'string') throw new AddressError(s, r);
  return r;
}

/** Like {@link parsePrefix} but returns undefined instead of throwing. */
export function tryParsePrefix(s: string): IpPrefix | undefined {
  const r = parsePrefixOrReason(s);
  return typeof r === 'string' ? undefined : r;
}

/**
 * The prefix to use for matching: an IPv6 prefix inside ::ffff:0:0/96 (length >= 96) becomes the
 * IPv4 prefix it covers; anything else is returned as is.
 */
export function unmapPrefix(p: IpPrefix): IpPrefix {
  if (p.address.family === 6 && p.length >= 96 && isMappedBytes(p.address.bytes)) {
    return Object.freeze({ address: IpAddress.own(p.address.bytes.slice(12, 16)), length: p.length - 96 });
  }
  return p;
}

/** "address/length" with the canonical address text. */
export function formatPrefix(p: IpPrefix): string {
  return `${formatAddress(p.address)}/${p.length}`;
}

/** True when `addr` lies in `p` (after IPv4-mapped normalisation of both). A linear helper, not for hot paths. */
export function prefixContains(p: IpPrefix, addr: IpAddress): boolean {
  const q = unmapPrefix(p);
  const a = addr.unmapped();
  if (q.address.family !== a.family) return false;
  const full = q.length >> 3;
  for (let i = 0; i < full; i++) if (q.address.bytes[i] !== a.bytes[i]) return false;
  const rest = q.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a.bytes[full] ?? 0) & mask) === (q.address.bytes[full] ?? 0);
}
