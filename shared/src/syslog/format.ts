/**
 * Syslog formatting: facility and severity names, PRI, timestamps, control-character escaping and the
 * three wire formats (glibc's local `/dev/log` form, RFC 3164, RFC 5424) plus a human form for stderr.
 *
 * Everything here is pure: time comes in as epoch milliseconds, the time zone as a parameter.
 */
import { ConfigError } from '../errors.js';

/** Facility codes by canonical name (syslog.h). */
export const FACILITIES = Object.freeze({
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const);

/** A canonical facility name. */
export type FacilityName = keyof typeof FACILITIES;

/** Severity codes by canonical name (syslog.h), most severe first. */
export const SEVERITIES = Object.freeze({
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
} as const);

/** A canonical severity name. */
export type SeverityName = keyof typeof SEVERITIES;

// Aliases accepted on input (syslog.conf and glibc's prioritynames); never produced on output.
const FACILITY_ALIASES: Readonly<Record<string, FacilityName>> = { security: 'auth' };
const SEVERITY_ALIASES: Readonly<Record<string, SeverityName>> = {
  panic: 'emerg',
  error: 'err',
  warn: 'warning',
  critical: 'crit',
};

const FACILITY_BY_CODE: readonly (FacilityName | undefined)[] = (() => {
  const a: (FacilityName | undefined)[] = [];
  for (const [k, v] of Object.entries(FACILITIES)) a[v] = k as FacilityName;
  return a;
})();
const SEVERITY_BY_CODE = Object.keys(SEVERITIES) as SeverityName[];

/**
 * The canonical facility name for a name or alias (case-insensitive: `daemon`, `LOCAL3`, `security`
 * gives `auth`). Throws ConfigError SYS_UNKNOWN_FACILITY listing the valid names.
 */
export function parseFacility(name: string): FacilityName {
  const n = name.trim().toLowerCase();
  if (Object.hasOwn(FACILITIES, n)) return n as FacilityName;
  const alias = FACILITY_ALIASES[n];
  if (alias !== undefined && Object.hasOwn(FACILITY_ALIASES, n)) return alias;
  throw new ConfigError(
    'SYS_UNKNOWN_FACILITY',
    `unknown syslog facility ${JSON.stringify(name)}; valid: ${[...Object.keys(FACILITIES), ...Object.keys(FACILITY_ALIASES)].join(', ')}`,
  );
}

/**
 * The canonical severity name for a name or alias (case-insensitive: `warn` gives `warning`, `error`
 * gives `err`, `panic` gives `emerg`). Throws ConfigError SYS_UNKNOWN_FACILITY listing the valid names.
 */
export function parseSeverity(name: string): SeverityName {
  const n = name.trim().toLowerCase();
  if (Object.hasOwn(SEVERITIES, n)) return n as SeverityName;
  const alias = SEVERITY_ALIASES[n];
  if (alias !== undefined && Object.hasOwn(SEVERITY_ALIASES, n)) return alias;
  throw new ConfigError(
    'SYS_UNKNOWN_FACILITY',
    `unknown syslog severity ${JSON.stringify(name)}; valid: ${[...Object.keys(SEVERITIES), ...Object.keys(SEVERITY_ALIASES)].join(', ')}`,
  );
}

/** The facility name for a code 0..23, or undefined for the codes without a Linux name (12..15). */
export function facilityName(code: number): FacilityName | undefined {
  return FACILITY_BY_CODE[code];
}

/** The severity name for a code 0..7, or undefined outside that range. */
export function severityName(code: number): SeverityName | undefined {
  return SEVERITY_BY_CODE[code];
}

/** The PRI value `facility * 8 + severity` (RFC 5424 section 6.2.1). */
export function pri(facility: FacilityName, severity: SeverityName): number {
  return FACILITIES[facility] * 8 + SEVERITIES[severity];
}

/**
 * A time zone for rendering and reading syslog timestamps: `'local'` is the process's zone (the TZ
 * environment variable, DST included), a number is a fixed offset in minutes east of UTC (60 for +01:00).
 */
export type TimeZone = 'local' | number;

/** A broken-down wall-clock time in some zone. `month` counts from 0. */
export interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly ms: number;
  /** Offset of the zone from UTC at that instant, minutes east. */
  readonly offsetMin: number;
}

/** The wall-clock time of epoch milliseconds `ms` in zone `tz`. */
export function wallClock(ms: number, tz: TimeZone): WallClock {
  if (tz === 'local') {
    const d = new Date(ms);
    return {
      year: d.getFullYear(),
      month: d.getMonth(),
      day: d.getDate(),
      hour: d.getHours(),
      minute: d.getMinutes(),
      second: d.getSeconds(),
      ms: d.getMilliseconds(),
      offsetMin: -d.getTimezoneOffset(),
    };
  }
  const d = new Date(ms + tz * 60_000);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth(),
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    ms: d.getUTCMilliseconds(),
    offsetMin: tz,
  };
}

/** Month abbreviations as syslog writes them. */
export const MONTHS = Object.freeze(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const);

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * The RFC 3164 timestamp `Mmm dd hh:mm:ss` as glibc's strftime("%h %e %T") writes it: the day is
 * padded with a space (`Nov  1`), not a zero.
 */
export function timestamp3164(ms: number, tz: TimeZone): string {
  const w = wallClock(ms, tz);
  return wallClock3164(w);
}

/** {@link timestamp3164} for an already broken-down time. */
export function wallClock3164(w: WallClock): string {
  const day = w.day < 10 ? ` ${w.day}` : String(w.day);
  return `${MONTHS[w.month] ?? '???'} ${day} ${pad2(w.hour)}:${pad2(w.minute)}:${pad2(w.second)}`;
}

/** `+hh:mm` / `-hh:mm` for an offset in minutes east of UTC. */
export function formatOffset(offsetMin: number): string {
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  return `${sign}${pad2(Math.floor(a / 60))}:${pad2(a % 60)}`;
}

/**
 * An RFC 3339 timestamp with millisecond precision and a numeric offset (never `Z`), as RFC 5424
 * requires: `2026-11-21T10:00:01.123+01:00`.
 */
export function timestamp3339(ms: number, tz: TimeZone): string {
  const w = wallClock(ms, tz);
  const y = String(w.year).padStart(4, '0');
  return `${y}-${pad2(w.month + 1)}-${pad2(w.day)}T${pad2(w.hour)}:${pad2(w.minute)}:${pad2(w.second)}.${String(w.ms).padStart(3, '0')}${formatOffset(w.offsetMin)}`;
}

function octal(byte: number): string {
  return `#${byte.toString(8).padStart(3, '0')}`;
}

// Fast test: C0, DEL, C1 and any surrogate code unit (lone ones are dealt with in the slow path).
const NEEDS_ESCAPE = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/;

/**
 * Makes text safe for one syslog line, using rsyslog's EscapeControlCharactersOnReceive convention:
 * every C0 control character (tab and newline included) and DEL become `#` plus three octal digits
 * (newline is `#012`), so a line reads the same whether rsyslog or we escaped it. Beyond rsyslog, C1
 * controls (U+0080..U+009F, which some terminals obey) are escaped as the octal of their UTF-8 bytes,
 * lone UTF-16 surrogates become U+FFFD, and in byte input every byte that is not part of valid UTF-8
 * is escaped as `#ooo`. A literal `#` is left alone (as rsyslog does), so escaping is not reversible.
 */
export function escapeControl(input: string | Uint8Array): string {
  if (typeof input !== 'string') return escapeBytes(input);
  if (!NEEDS_ESCAPE.test(input)) return input;
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) out += octal(c);
    else if (c >= 0x80 && c <= 0x9f) out += octal(0xc2) + octal(c);
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = input.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += input[i]! + input[i + 1]!;
        i++;
      } else out += '\ufffd';
    } else if (c >= 0xdc00 && c <= 0xdfff) out += '\ufffd';
    else out += input[i]!;
  }
  return out;
}

// Length of the valid UTF-8 sequence starting at b[i], or 0 if the bytes there are not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid, as in the Unicode standard).
function utf8SeqLen(b: Uint8Array, i: number): number {
  const b0 = b[i]!;
  const cont = (j: number, lo = 0x80, hi = 0xbf): boolean => {
    const x = b[i + j];
    return x !== undefined && x >= lo && x <= hi;
  };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

const utf8 = new TextDecoder('utf-8');

function escapeBytes(b: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < b.length) {
    const n = utf8SeqLen(b, i);
    if (n === 0) {
      out += octal(b[i]!);
      i++;
    } else if (n === 1) {
      const c = b[i]!;
      out += c < 0x20 || c === 0x7f ? octal(c) : String.fromCharCode(c);
      i++;
    } else {
      // Valid multi-byte sequence: decode it, then let the string path escape C1 controls.
      out += escapeControl(utf8.decode(b.subarray(i, i + n)));
      i += n;
    }
  }
  return out;
}

/** What is appended to a message cut to fit the length cap. */
export const TRUNCATION_MARKER = '...[truncated]';

/** Default cap on one formatted message, in bytes (rsyslog's default maxMessageSize is 8k). */
export const DEFAULT_MAX_BYTES = 8192;

/** The smallest cap accepted: enough for a header, a few characters and the marker. */
export const MIN_MAX_BYTES = 256;

// Cuts `body` so that header+body fits in maxBytes (UTF-8), at a character boundary and never inside
// a `#ooo` escape, appending the marker. Linear in the body length.
function fit(header: string, body: string, maxBytes: number): string {
  const headerBytes = Buffer.byteLength(header);
  if (headerBytes + Buffer.byteLength(body) <= maxBytes) return header + body;
  const room = maxBytes - headerBytes - TRUNCATION_MARKER.length;
  if (room <= 0) {
    // A header this long only comes from an absurd ident or hostname: cut the whole line by bytes.
    return cutUtf8(header + body, maxBytes - TRUNCATION_MARKER.length) + TRUNCATION_MARKER;
  }
  let cut = cutUtf8(body, room);
  const hash = cut.lastIndexOf('#');
  if (hash >= 0 && hash >= cut.length - 3 && /^#[0-7]{0,2}$/.test(cut.slice(hash))) cut = cut.slice(0, hash);
  return header + cut + TRUNCATION_MARKER;
}

// The longest prefix of s whose UTF-8 encoding has at most n bytes, never splitting a character.
function cutUtf8(s: string, n: number): string {
  if (n <= 0) return '';
  let bytes = 0;
  let i = 0;
  while (i < s.length) {
    const c = s.codePointAt(i)!;
    const w = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (bytes + w > n) break;
    bytes += w;
    i += c >= 0x10000 ? 2 : 1;
  }
  return s.slice(0, i);
}

/** One message to be formatted: the logger builds it, the formatters render it. */
export interface SyslogMessage {
  /** Epoch milliseconds of the event. */
  readonly time: number;
  readonly facility: FacilityName;
  readonly severity: SeverityName;
  /** Program name (the syslog tag without `[pid]:`). */
  readonly ident: string;
  /** Process id shown as `ident[pid]`, or undefined for a bare `ident:`. */
  readonly pid: number | undefined;
  /** Sender host name; used by RFC 3164 remote and RFC 5424 formats only. */
  readonly hostname: string;
  /** RFC 5424 MSGID; undefined renders as the nil value `-`. */
  readonly msgid?: string | undefined;
  readonly message: string | Uint8Array;
}

/** How to render: time zone and the byte cap of one formatted message (framing not included). */
export interface FormatOptions {
  readonly tz: TimeZone;
  readonly maxBytes: number;
}

/** Default options: process time zone, 8 KiB cap. */
export const DEFAULT_FORMAT_OPTIONS: FormatOptions = Object.freeze({ tz: 'local', maxBytes: DEFAULT_MAX_BYTES });

// A space inside an ident or hostname would shift every later field of a 3164 line: escape it too.
function headerField(s: string): string {
  return escapeControl(s).replaceAll(' ', '#040');
}

function tag(m: SyslogMessage): string {
  const ident = headerField(m.ident);
  return m.pid === undefined ? `${ident}:` : `${ident}[${m.pid}]:`;
}

/**
 * The local form glibc's syslog(3) sends to `/dev/log`: `<PRI>Mmm dd hh:mm:ss ident[pid]: msg`, no
 * host name, no trailing newline; the day is space-padded.
 */
export function formatLocal(m: SyslogMessage, o: FormatOptions = DEFAULT_FORMAT_OPTIONS): string {
  const header = `<${pri(m.facility, m.severity)}>${timestamp3164(m.time, o.tz)} ${tag(m)} `;
  return fit(header, escapeControl(m.message), o.maxBytes);
}

/** RFC 3164 for remote receivers: `<PRI>Mmm dd hh:mm:ss HOST ident[pid]: msg`, no trailing newline. */
export function format3164(m: SyslogMessage, o: FormatOptions = DEFAULT_FORMAT_OPTIONS): string {
  const header = `<${pri(m.facility, m.severity)}>${timestamp3164(m.time, o.tz)} ${headerField(m.hostname) || '-'} ${tag(m)} `;
  return fit(header, escapeControl(m.message), o.maxBytes);
}

// RFC 5424 header fields are PRINTUSASCII (33..126) with a maximum length; anything else is escaped
// the same `#ooo` way (per UTF-8 byte) so the header stays parseable.
function field5424(s: string | undefined, max: number): string {
  if (s === undefined || s === '') return '-';
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) out += byte >= 33 && byte <= 126 ? String.fromCharCode(byte) : octal(byte);
  return out.length > max ? out.slice(0, max) : out;
}

/**
 * RFC 5424: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG` with an RFC 3339 timestamp carrying the
 * zone offset, no structured data, no BOM, no trailing newline. Header fields are cut to the RFC's
 * lengths (host 255, app 48, procid 128, msgid 32).
 */
export function format5424(m: SyslogMessage, o: FormatOptions = DEFAULT_FORMAT_OPTIONS): string {
  const header =
    `<${pri(m.facility, m.severity)}>1 ${timestamp3339(m.time, o.tz)} ${field5424(m.hostname, 255)} ` +
    `${field5424(m.ident, 48)} ${m.pid === undefined ? '-' : String(m.pid)} ${field5424(m.msgid, 32)} - `;
  return fit(header, escapeControl(m.message), o.maxBytes);
}

/** The human form for a terminal: `Mmm dd hh:mm:ss ident[pid]: msg`, no PRI, no host, no newline. */
export function formatHuman(m: SyslogMessage, o: FormatOptions = DEFAULT_FORMAT_OPTIONS): string {
  const header = `${timestamp3164(m.time, o.tz)} ${tag(m)} `;
  return fit(header, escapeControl(m.message), o.maxBytes);
}

/** The message formats a sink can use. */
export type MessageFormat = 'local' | 'rfc3164' | 'rfc5424' | 'human';

/** Renders `m` in format `f`. */
export function formatMessage(f: MessageFormat, m: SyslogMessage, o: FormatOptions = DEFAULT_FORMAT_OPTIONS): string {
  switch (f) {
    case 'local':
      return formatLocal(m, o);
    case 'rfc3164':
      return format3164(m, o);
    case 'rfc5424':
      return format5424(m, o);
    case 'human':
      return formatHuman(m, o);
    default: {
      const never: never = f;
      throw new Error(`unknown format ${String(never)}`);
    }
  }
}
