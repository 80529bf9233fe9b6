/**
 * A reader for the classic libpcap file format (what `tcpdump -w` writes), over bytes already in
 * memory: 24-byte global header, then records of a 16-byte header and the captured bytes. Both byte
 * orders and both timestamp resolutions (microsecond magic a1b2c3d4, nanosecond magic a1b23c4d) are
 * read. pcapng is recognised and refused. Pure: no I/O; it never throws on bad input.
 */

/** What the global header says. */
export interface PcapHeader {
  /** The file was written on a little-endian host. */
  readonly littleEndian: boolean;
  /** Timestamps are in nanoseconds (magic a1b23c4d) rather than microseconds. */
  readonly nanosecond: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly snaplen: number;
  /** LINKTYPE_ value (low 16 bits of the network field; the upper bits carry FCS hints). */
  readonly linkType: number;
}

/** One captured packet. `data` is a view into the file bytes (not a copy). */
export interface PcapRecord {
  readonly seconds: number;
  /** Sub-second part of the timestamp, always in nanoseconds. */
  readonly nanos: number;
  readonly capturedLength: number;
  /** Length of the packet on the wire (may exceed capturedLength when snaplen cut it). */
  readonly originalLength: number;
  readonly data: Uint8Array;
}

/** Why a file could not be read at all. */
export type PcapFailure = 'short-header' | 'bad-magic' | 'pcapng';

/** Result of {@link readPcapHeader}. */
export type PcapHeaderResult = { readonly ok: true; readonly header: PcapHeader } | { readonly ok: false; readonly reason: PcapFailure };

/**
 * How the record stream ended: 'clean' at the end of the bytes, 'truncated' when the last record is cut
 * short (a capture killed mid-write), 'corrupt' when a record header claims an impossible length.
 */
export type PcapTail = 'clean' | 'truncated' | 'corrupt';

/** Result of {@link readPcap}. */
export type PcapReadResult =
  | { readonly ok: true; readonly header: PcapHeader; readonly records: readonly PcapRecord[]; readonly tail: PcapTail }
  | { readonly ok: false; readonly reason: PcapFailure };

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const MAGIC_PCAPNG = 0x0a0d0d0a;
/** libpcap's own ceiling on a record (MAXIMUM_SNAPLEN) unless the file's snaplen is larger. */
const MAX_RECORD = 262144;

function readU32(b: Uint8Array, o: number, le: boolean): number {
  return le
    ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000
    : b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

function readU16(b: Uint8Array, o: number, le: boolean): number {
  return le ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!;
}

/** Reads and checks the 24-byte global header. */
export function readPcapHeader(bytes: Uint8Array): PcapHeaderResult {
  if (bytes.length < 4) return { ok: false, reason: 'short-header' };
  const be = readU32(bytes, 0, false);
  if (be === MAGIC_PCAPNG) return { ok: false, reason: 'pcapng' };
  const le = readU32(bytes, 0, true);
  let littleEndian: boolean;
  let nanosecond: boolean;
  if (be === MAGIC_US || be === MAGIC_NS) {
    littleEndian = false;
    nanosecond = be === MAGIC_NS;
  } else if (le === MAGIC_US || le === MAGIC_NS) {
    littleEndian = true;
    nanosecond = le === MAGIC_NS;
  } else {
    return { ok: false, reason: 'bad-magic' };
  }
  if (bytes.length < 24) return { ok: false, reason: 'short-header' };
  return {
    ok: true,
    header: {
      littleEndian,
      nanosecond,
      versionMajor: readU16(bytes, 4, littleEndian),
      versionMinor: readU16(bytes, 6, littleEndian),
      snaplen: readU32(bytes, 16, littleEndian),
      linkType: readU32(bytes, 20, littleEndian) & 0xffff,
    },
  };
}

/**
 * Yields the records after the global header in file order; returns how the stream ended. The
 * header must come from readPcapHeader on the same bytes.
 */
export function* pcapRecords(bytes: Uint8Array, header: PcapHeader): Generator<PcapRecord, PcapTail, void> {
  const le = header.littleEndian;
  const maxLen = Math.max(header.snaplen, MAX_RECORD);
  let o = 24;
  while (o < bytes.length) {
    if (o + 16 > bytes.length) return 'truncated';
    const seconds = readU32(bytes, o, le);
    const frac = readU32(bytes, o + 4, le);
    const capturedLength = readU32(bytes, o + 8, le);
    const originalLength = readU32(bytes, o + 12, le);
    if (capturedLength > maxLen || (!header.nanosecond && frac >= 1e6) || frac >= 1e9) return 'corrupt';
    const start = o + 16;
    if (start + capturedLength > bytes.length) return 'truncated';
    yield {
      seconds,
      nanos: header.nanosecond ? frac : frac * 1000,
      capturedLength,
      originalLength,
      data: bytes.subarray(start, start + capturedLength),
    };
    o = start + capturedLength;
  }
  return 'clean';
}

/** Reads a whole pcap file held in memory: header, every readable record, and how it ended. */
export function readPcap(bytes: Uint8Array): PcapReadResult {
  const h = readPcapHeader(bytes);
  if (!h.ok) return h;
  const records: PcapRecord[] = [];
  const it = pcapRecords(bytes, h.header);
  for (;;) {
    const step = it.next();
    if (step.done === true) return { ok: true, header: h.header, records, tail: step.value };
    records.push(step.value);
  }
}
