/**
 * Link-layer header types the decoder understands, numbered as libpcap numbers them.
 *
 * Two numbering schemes meet here: `pcap_datalink()` on a live handle returns a DLT_ value, while a
 * pcap file stores a LINKTYPE_ value. They agree except for raw IP (DLT_RAW is 12 on Linux, 14 on
 * OpenBSD; LINKTYPE_RAW is 101), so every spelling of raw IP is accepted.
 */

/** Numeric link types accepted by `decodeFrame`. */
export const LINKTYPE = Object.freeze({
  /** BSD loopback: 4-byte address family in the capturing host's byte order. */
  NULL: 0,
  /** Ethernet, with any number (up to 8) of 802.1Q / 802.1ad VLAN tags. */
  EN10MB: 1,
  /** DLT_RAW as Linux numbers it: bare IPv4 or IPv6, version taken from the first nibble. */
  DLT_RAW: 12,
  /** DLT_RAW as OpenBSD numbers it. */
  DLT_RAW_OPENBSD: 14,
  /** LINKTYPE_RAW, the pcap-file number for raw IP. */
  RAW: 101,
  /** OpenBSD loopback: 4-byte address family in network byte order. */
  LOOP: 108,
  /** Linux cooked capture v1 (the `any` device on older libpcap). */
  LINUX_SLL: 113,
  /** Bare IPv4. */
  IPV4: 228,
  /** Bare IPv6. */
  IPV6: 229,
  /** Linux cooked capture v2 (the `any` device on libpcap >= 1.10). */
  LINUX_SLL2: 276,
} as const);

/** One of the link types in {@link LINKTYPE}. */
export type LinkType = (typeof LINKTYPE)[keyof typeof LINKTYPE];

const SUPPORTED: ReadonlySet<number> = new Set<number>(Object.values(LINKTYPE));

/** True when `decodeFrame` can decode frames of link type `n` (a DLT_ or LINKTYPE_ number). */
export function isSupportedLinkType(n: number): n is LinkType {
  return SUPPORTED.has(n);
}

const BY_NAME: ReadonlyMap<string, LinkType> = new Map<string, LinkType>([
  ['NULL', LINKTYPE.NULL],
  ['EN10MB', LINKTYPE.EN10MB],
  ['ETHERNET', LINKTYPE.EN10MB],
  ['RAW', LINKTYPE.RAW],
  ['IPV4', LINKTYPE.IPV4],
  ['IPV6', LINKTYPE.IPV6],
  ['LOOP', LINKTYPE.LOOP],
  ['LINUX_SLL', LINKTYPE.LINUX_SLL],
  ['LINUX_SLL2', LINKTYPE.LINUX_SLL2],
]);

/**
 * Maps a libpcap link-type name (`pcap_datalink_val_to_name`, as the `cap` package reports it, with or
 * without a `DLT_`/`LINKTYPE_` prefix, any case) to its number; null when the decoder does not support it.
 */
export function linkTypeFromName(name: string): LinkType | null {
  const key = name.toUpperCase().replace(/^(DLT_|LINKTYPE_)/, '');
  return BY_NAME.get(key) ?? null;
}
