/**
 * Decoding of binary login records (wtmp/utmp, glibc `struct utmp`) into {@link LoginRecord}s.
 *
 * Pure: no I/O, no clock, no logging. The binary layout is a table ({@link UtmpLayout}), so other
 * layouts (other ABIs, BSD utmpx) can be added without touching the decoder. Every byte here may be
 * attacker-written (a host name is whatever the client claimed; a user name is whatever was typed at
 * a login prompt): a torn, zeroed or garbage record becomes a {@link BadRecord} with a reason, never an
 * exception, and control characters are escaped before any string leaves this module.
 */
import { addressFromBytes, formatAddress } from '@trisentry/shared';

/** Where one fixed-size field sits inside a record. */
export interface FieldSpec {
  readonly offset: number;
  readonly size: number;
}

/** A binary utmp layout: the record size, byte order and where each field lives. */
export interface UtmpLayout {
  readonly name: string;
  readonly recordSize: number;
  readonly littleEndian: boolean;
  /** Signed integer of `size` 2 or 4 bytes. */
  readonly type: FieldSpec;
  readonly pid: FieldSpec;
  /** NUL-terminated (or full-width) character arrays. */
  readonly line: FieldSpec;
  readonly id: FieldSpec;
  readonly user: FieldSpec;
  readonly host: FieldSpec;
  /** Two int16: e_termination then e_exit. */
  readonly exit: FieldSpec;
  readonly session: FieldSpec;
  /** Seconds since the epoch, 4 bytes, read unsigned (see {@link decodeRecord}). */
  readonly tvSec: FieldSpec;
  readonly tvUsec: FieldSpec;
  /** 16 bytes: an IPv4 address in the first 4 (rest zero), or an IPv6 address. */
  readonly addr: FieldSpec;
}

/**
 * glibc `struct utmp` on x86_64 Linux, 384 bytes. Verified with offsetof() against
 * /usr/include/x86_64-linux-gnu/bits/utmp.h (glibc 2.36): ut_type is a `short` followed by 2 bytes
 * of padding, and ut_session/ut_tv are 32-bit (the __WORDSIZE_TIME64_COMPAT32 variant).
 */
export const GLIBC_X86_64: UtmpLayout = Object.freeze({
  name: 'glibc-x86_64',
  recordSize: 384,
  littleEndian: true,
  type: { offset: 0, size: 2 },
  pid: { offset: 4, size: 4 },
  line: { offset: 8, size: 32 },
  id: { offset: 40, size: 4 },
  user: { offset: 44, size: 32 },
  host: { offset: 76, size: 256 },
  exit: { offset: 332, size: 4 },
  session: { offset: 336, size: 4 },
  tvSec: { offset: 340, size: 4 },
  tvUsec: { offset: 344, size: 4 },
  addr: { offset: 348, size: 16 },
  // 364..383: __glibc_reserved, ignored
});

/** The known layouts by name. */
export const UTMP_LAYOUTS: Readonly<Record<string, UtmpLayout>> = Object.freeze({ [GLIBC_X86_64.name]: GLIBC_X86_64 });

/** Values of ut_type (utmp.h). */
export const UT_TYPE = Object.freeze({
  EMPTY: 0,
  RUN_LVL: 1,
  BOOT_TIME: 2,
  NEW_TIME: 3,
  OLD_TIME: 4,
  INIT_PROCESS: 5,
  LOGIN_PROCESS: 6,
  USER_PROCESS: 7,
  DEAD_PROCESS: 8,
  ACCOUNTING: 9,
});

/** One decoded record. Strings are already NUL-cut, UTF-8-decoded (invalid bytes as U+FFFD) and escaped. */
export interface UtmpRecord {
  readonly type: number;
  readonly pid: number;
  readonly line: string;
  readonly id: string;
  readonly user: string;
  readonly host: string;
  readonly exitTermination: number;
  readonly exitStatus: number;
  readonly session: number;
  readonly sec: number;
  readonly usec: number;
  /** Canonical address text, or '' when the address field is all zero. */
  readonly address: string;
  /** Byte offset of the record in its file. */
  readonly offset: number;
}

/** Why a record could not be used. */
export type BadReason = 'zeroed' | 'torn' | 'bad-type' | 'bad-time';

/** A record that could not be decoded. */
export interface BadRecord {
  readonly bad: BadReason;
  readonly offset: number;
}

/** True when `x` is a {@link BadRecord}. */
export function isBad(x: UtmpRecord | BadRecord): x is BadRecord {
  return 'bad' in x;
}

// One decoder for every record: TextDecoder is allocation-light and replaces invalid sequences.
const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Escapes C0 controls, DEL and C1 controls as `#ooo` (three octal digits of the code point, as
 * rsyslog does), so nothing decoded from a record can start a new log line or drive a terminal.
 */
export function escapeControl(s: string): string {
  // Fast path: most names hold no control characters.
  if (!/[\x00-\x1f\x7f-\x9f]/.test(s)) return s;
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `#${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function cString(bytes: Uint8Array, start: number, f: FieldSpec): string {
  const from = start + f.offset;
  const to = from + f.size;
  let end = from;
  while (end < to && bytes[end] !== 0) end++;
  return escapeControl(utf8.decode(bytes.subarray(from, end)));
}

/**
 * Decodes the record at `offset` of `bytes` with `layout`. Never throws. Bad when: fewer than a
 * record's bytes remain (`torn`), every byte is zero (`zeroed`: a hole in a sparse file or a wiped
 * record), ut_type outside 0..9 (`bad-type`) or tv_usec outside 0..999999 (`bad-time`).
 * tv_sec is read unsigned: glibc writes a 32-bit field, and reading it unsigned keeps dates after
 * 2038 right while no login can predate 1970.
 */
export function decodeRecord(bytes: Uint8Array, offset: number, layout: UtmpLayout = GLIBC_X86_64): UtmpRecord | BadRecord {
  const size = layout.recordSize;
  if (offset < 0 || offset + size > bytes.length) return { bad: 'torn', offset };
  let zero = true;
  for (let i = offset; i < offset + size; i++) {
    if (bytes[i] !== 0) {
      zero = false;
      break;
    }
  }
  if (zero) return { bad: 'zeroed', offset };
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, size);
  const le = layout.littleEndian;
  const int = (f: FieldSpec): number => (f.size === 2 ? dv.getInt16(f.offset, le) : dv.getInt32(f.offset, le));
  const type = int(layout.type);
  if (type < UT_TYPE.EMPTY || type > UT_TYPE.ACCOUNTING) return { bad: 'bad-type', offset };
  const usec = dv.getInt32(layout.tvUsec.offset, le);
  if (usec < 0 || usec > 999_999) return { bad: 'bad-time', offset };
  return {
    type,
    pid: int(layout.pid),
    line: cString(bytes, offset, layout.line),
    id: cString(bytes, offset, layout.id),
    user: cString(bytes, offset, layout.user),
    host: cString(bytes, offset, layout.host),
    exitTermination: dv.getInt16(layout.exit.offset, le),
    exitStatus: dv.getInt16(layout.exit.offset + 2, le),
    session: int(layout.session),
    sec: dv.getUint32(layout.tvSec.offset, le),
    usec,
    address: addressText(bytes.subarray(offset + layout.addr.offset, offset + layout.addr.offset + 16)),
    offset,
  };
}

/**
 * glibc (and login, sshd) put an IPv4 address in the first word with the other three zero, an IPv6
 * address across all four; both in network byte order.
 */
function addressText(a: Uint8Array): string {
  let rest = 0;
  for (let i = 4; i < 16; i++) rest |= a[i] ?? 0;
  if (rest === 0) {
    if (((a[0] ?? 0) | (a[1] ?? 0) | (a[2] ?? 0) | (a[3] ?? 0)) === 0) return '';
    return formatAddress(addressFromBytes(a.subarray(0, 4)));
  }
  return formatAddress(addressFromBytes(a));
}

/** The outcome of {@link decodeRecords}: good records, bad ones, and how many bytes were whole records. */
export interface DecodedChunk {
  readonly records: UtmpRecord[];
  readonly bad: BadRecord[];
  /** Bytes covered by whole records (a multiple of the record size); a torn tail is not included. */
  readonly consumed: number;
}

/**
 * Decodes every whole record in `bytes`, whose first byte sits at file offset `base`. A partial
 * record at the end is reported as one `torn` BadRecord and not counted in `consumed`, so a caller
 * following a growing file can re-read it once the writer has finished it.
 */
export function decodeRecords(bytes: Uint8Array, base: number, layout: UtmpLayout = GLIBC_X86_64): DecodedChunk {
  const size = layout.recordSize;
  const records: UtmpRecord[] = [];
  const bad: BadRecord[] = [];
  let at = 0;
  for (; at + size <= bytes.length; at += size) {
    const r = decodeRecord(bytes, at, layout);
    if (isBad(r)) bad.push({ bad: r.bad, offset: base + at });
    else records.push({ ...r, offset: base + at });
  }
  if (at < bytes.length) bad.push({ bad: 'torn', offset: base + at });
  return { records, bad, consumed: at };
}

/** What a login record says happened. */
export type LoginKind = 'login' | 'logout' | 'boot' | 'shutdown';

/** Where a login record was read from. */
export type LoginOrigin = 'wtmp' | 'utmp' | 'wtmpdb' | 'sshd';

/**
 * One login event, the same whatever the input (wtmp, utmp, wtmpdb, sshd lines), so anomaly modules
 * never look at the input format. Strings are escaped (no control characters). A logout usually has
 * an empty user: pair it with its login by `tty` and `pid`. Plain JSON data.
 */
export interface LoginRecord {
  readonly kind: LoginKind;
  readonly user: string;
  readonly tty: string;
  /** The remote host as recorded (a name or address text); '' for a local login. */
  readonly host: string;
  /** Canonical address text (ut_addr_v6, the sshd line's address); undefined when none was recorded. */
  readonly address: string | undefined;
  /** Event time in ms since the epoch, from the record (never the wall clock). */
  readonly time: number;
  readonly pid: number;
  readonly session: number;
  /** The authentication method (sshd lines: password, publickey, keyboard-interactive, ...); binary records carry none. */
  readonly method?: string;
  /** The source port (sshd lines). */
  readonly port?: number;
  readonly origin: LoginOrigin;
  /** Byte offset of the record in its file (wtmp/utmp), or the row id (wtmpdb). */
  readonly offset?: number;
}

/**
 * Maps a decoded record to a login event: USER_PROCESS → login, DEAD_PROCESS → logout, BOOT_TIME →
 * boot, RUN_LVL written by shutdown (user "shutdown") → shutdown. Every other type (init, getty,
 * run-level changes, clock changes, accounting, empty slots) gives `undefined`.
 */
export function toLoginRecord(r: UtmpRecord, origin: LoginOrigin): LoginRecord | undefined {
  let kind: LoginKind;
  switch (r.type) {
    case UT_TYPE.USER_PROCESS:
      kind = 'login';
      break;
    case UT_TYPE.DEAD_PROCESS:
      kind = 'logout';
      break;
    case UT_TYPE.BOOT_TIME:
      kind = 'boot';
      break;
    case UT_TYPE.RUN_LVL:
      if (r.user !== 'shutdown') return undefined;
      kind = 'shutdown';
      break;
    default:
      return undefined;
  }
  return {
    kind,
    user: r.user,
    tty: r.line,
    host: r.host,
    address: r.address === '' ? undefined : r.address,
    time: r.sec * 1000 + Math.floor(r.usec / 1000),
    pid: r.pid,
    session: r.session,
    origin,
    offset: r.offset,
  };
}

/** Count of bad records of one reason, with the first offset seen (for the report). */
export interface BadCount {
  readonly reason: BadReason;
  count: number;
  readonly firstOffset: number;
}

/** Adds `bad` to the running per-reason counts in `into` (insertion order kept). */
export function countBad(into: BadCount[], bad: readonly BadRecord[]): void {
  for (const b of bad) {
    const c = into.find((x) => x.reason === b.bad);
    if (c) c.count++;
    else into.push({ reason: b.bad, count: 1, firstOffset: b.offset });
  }
}
