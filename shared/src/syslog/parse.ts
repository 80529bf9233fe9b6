/**
 * Reading syslog lines: the traditional file format (RFC 3164 style), rsyslog's high-precision RFC 3339
 * file format, and RFC 5424, each with or without the `<PRI>` prefix seen on the network.
 *
 * Pure and total: {@link parseLogLine} never throws and runs in time linear in the line's length
 * (a hand-written scanner; the few regular expressions test short fixed-size slices only), because
 * log text is written by attackers.
 */
import { MONTHS, wallClock3164, wallClock } from './format.js';
import type { TimeZone } from './format.js';

/** Which grammar a line matched; `unparsed` lines carry only `raw` (as `message`). */
export type LogFormat = 'rfc3164' | 'rfc3339' | 'rfc5424' | 'unparsed';

/** One RFC 5424 structured-data element: its SD-ID and its parameters in order (names may repeat). */
export interface StructuredElement {
  readonly id: string;
  readonly params: readonly (readonly [name: string, value: string])[];
}

/** A parsed log line. Fields a format lacks are `''` (strings) or undefined. */
export interface LogLine {
  /** Epoch ms; undefined when unknown (unparsed, RFC 5424 nil time, or a 3164 line read without a year source). */
  readonly time: number | undefined;
  /** The timestamp exactly as written (`Nov  1 10:00:01`, `2026-11-21T10:00:01.123456+01:00`, `-`). */
  readonly timestamp: string;
  /** Offset from UTC written in the timestamp, minutes east (RFC 3339 and 5424 only). */
  readonly utcOffsetMin: number | undefined;
  readonly host: string;
  /** Program name (`postfix/smtpd`, `CRON`, `kernel`); '' when the line has no tag. */
  readonly program: string;
  /** The numeric process id of the tag, if it has one. */
  readonly pid: number | undefined;
  /** The tag as written including the colon (`sshd[12]:`); for RFC 5424, built as `APP[PROCID]:`. */
  readonly tag: string;
  readonly message: string;
  readonly raw: string;
  readonly format: LogFormat;
  /** Facility and severity codes, when the line starts with `<PRI>`. */
  readonly facility?: number;
  readonly severity?: number;
  /** RFC 5424 only: PROCID as written (may be non-numeric), MSGID, structured data. */
  readonly procid?: string;
  readonly msgid?: string;
  readonly structuredData?: readonly StructuredElement[];
}

/**
 * Infers the missing year of RFC 3164 timestamps relative to a reference time (a file's mtime, or
 * the start of the run): each line gets the latest year in which its date is not later than the
 * reference plus a tolerance (default one day, for clock skew). So a log spanning New Year gets
 * December lines in the old year and January lines in the new one, and a December line read in
 * January belongs to last year. Feb 29 goes back to the latest leap year.
 */
export class YearInferrer {
  readonly refTime: number;
  readonly tz: TimeZone;
  readonly toleranceMs: number;
  private readonly refYear: number;

  /**
   * @param opts.refTime the reference, epoch ms; @param opts.tz zone the timestamps were written in
   * (`'local'`, the process's TZ, by default; a number of minutes east of UTC otherwise).
   */
  constructor(opts: { refTime: number; tz?: TimeZone; toleranceMs?: number }) {
    this.refTime = opts.refTime;
    this.tz = opts.tz ?? 'local';
    this.toleranceMs = opts.toleranceMs ?? 86_400_000;
    this.refYear = wallClock(opts.refTime, this.tz).year;
  }

  /** Epoch ms of the wall-clock time (month from 0) in the inferred year, or undefined if no year fits. */
  infer(month: number, day: number, hour: number, minute: number, second: number, ms = 0): number | undefined {
    const limit = this.refTime + this.toleranceMs;
    // Up to 8 years back covers Feb 29 across the Gregorian century rule; anything else settles in 2.
    for (let y = this.refYear + 1; y >= this.refYear - 8; y--) {
      const t = epochOf(y, month, day, hour, minute, second, ms, this.tz);
      if (t !== undefined && t <= limit) return t;
    }
    return undefined;
  }
}

// Epoch ms of a wall-clock time in a zone, or undefined if the date does not exist (Feb 30).
function epochOf(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number, tz: TimeZone): number | undefined {
  const check = new Date(Date.UTC(y, mo, d));
  if (check.getUTCMonth() !== mo || check.getUTCDate() !== d) return undefined;
  if (tz === 'local') return new Date(y, mo, d, h, mi, s, ms).getTime();
  return Date.UTC(y, mo, d, h, mi, s, ms) - tz * 60_000;
}

/**
 * Where years and zones come from when reading RFC 3164 lines: `years` (shared across a file) or
 * else `refTime` (+ `tz`) to build one. With neither, 3164 lines parse with `time` undefined.
 */
export interface LogParseContext {
  readonly years?: YearInferrer;
  readonly refTime?: number;
  readonly tz?: TimeZone;
}

const MONTH_INDEX: Readonly<Record<string, number>> = Object.fromEntries(MONTHS.map((m, i) => [m, i]));

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

// Reads n digits at s[i..]; NaN if any is not a digit.
function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(i + k);
    if (!isDigit(c)) return NaN;
    v = v * 10 + (c - 48);
  }
  return v;
}

interface Stamp {
  readonly end: number; // index after the timestamp
  readonly time: number | undefined;
  readonly offset?: number;
}

// `Mmm dd hh:mm:ss` (day ` d`, `dd` or `d`), optional `.fraction`, at s[i..].
function stamp3164(s: string, i: number, ctx: LogParseContext | undefined): Stamp | undefined {
  const month = MONTH_INDEX[s.slice(i, i + 3)];
  if (month === undefined || s[i + 3] !== ' ') return undefined;
  let j = i + 4;
  let day: number;
  if (s[j] === ' ') {
    day = digits(s, j + 1, 1);
    j += 2;
  } else if (isDigit(s.charCodeAt(j + 1))) {
    day = digits(s, j, 2);
    j += 2;
  } else {
    day = digits(s, j, 1);
    j += 1;
  }
  if (!(day >= 1 && day <= 31) || s[j] !== ' ') return undefined;
  j++;
  const h = digits(s, j, 2);
  const mi = digits(s, j + 3, 2);
  const sec = digits(s, j + 6, 2);
  if (s[j + 2] !== ':' || s[j + 5] !== ':' || !(h <= 23 && mi <= 59 && sec <= 60)) return undefined;
  j += 8;
  let ms = 0;
  if (s[j] === '.' && isDigit(s.charCodeAt(j + 1))) {
    const f = fraction(s, j + 1);
    ms = f.ms;
    j = f.end;
  }
  if (j < s.length && s[j] !== ' ') return undefined;
  const years = ctx?.years ?? (ctx?.refTime !== undefined ? new YearInferrer({ refTime: ctx.refTime, tz: ctx.tz ?? 'local' }) : undefined);
  return { end: j, time: years?.infer(month, day, h, mi, sec, ms) };
}

// Fractional seconds at s[i..] (digits); milliseconds from the first three, any further digits skipped.
function fraction(s: string, i: number): { ms: number; end: number } {
  let j = i;
  let ms = 0;
  let n = 0;
  while (isDigit(s.charCodeAt(j))) {
    if (n < 3) ms = ms * 10 + (s.charCodeAt(j) - 48);
    n++;
    j++;
  }
  for (; n < 3; n++) ms *= 10;
  return { ms, end: j };
}

// RFC 3339 `YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)` at s[i..].
function stamp3339(s: string, i: number): Stamp | undefined {
  const y = digits(s, i, 4);
  const mo = digits(s, i + 5, 2);
  const d = digits(s, i + 8, 2);
  const h = digits(s, i + 11, 2);
  const mi = digits(s, i + 14, 2);
  const sec = digits(s, i + 17, 2);
  if (s[i + 4] !== '-' || s[i + 7] !== '-' || (s[i + 10] !== 'T' && s[i + 10] !== 't') || s[i + 13] !== ':' || s[i + 16] !== ':') return undefined;
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 60)) return undefined;
  let j = i + 19;
  let ms = 0;
  if (s[j] === '.') {
    if (!isDigit(s.charCodeAt(j + 1))) return undefined;
    const f = fraction(s, j + 1);
    ms = f.ms;
    j = f.end;
  }
  let offset: number;
  const z = s[j];
  if (z === 'Z' || z === 'z') {
    offset = 0;
    j++;
  } else if (z === '+' || z === '-') {
    const oh = digits(s, j + 1, 2);
    const om = digits(s, j + 4, 2);
    if (s[j + 3] !== ':' || !(oh <= 23 && om <= 59)) return undefined;
    offset = (z === '-' ? -1 : 1) * (oh * 60 + om);
    j += 6;
  } else return undefined;
  if (j < s.length && s[j] !== ' ') return undefined;
  const t = epochOf(y, mo - 1, d, h, mi, Math.min(sec, 59), ms, offset);
  if (t === undefined) return undefined;
  return { end: j, time: t, offset };
}

// The next space-delimited token at s[i..]: [token, index after it].
function token(s: string, i: number): [string, number] {
  let j = s.indexOf(' ', i);
  if (j < 0) j = s.length;
  return [s.slice(i, j), j];
}

function isHostChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 45 || c === 95 || c === 58;
}

// A tag is `prog:` or `prog[pid]:` with prog non-empty and free of `[`, `]` and `:`.
function parseTag(tok: string): { program: string; pid: number | undefined } | undefined {
  if (tok.length < 2 || !tok.endsWith(':')) return undefined;
  const body = tok.slice(0, -1);
  const open = body.indexOf('[');
  if (open < 0) {
    if (body.includes(']') || body.includes(':')) return undefined;
    return { program: body, pid: undefined };
  }
  if (open === 0 || !body.endsWith(']')) return undefined;
  const program = body.slice(0, open);
  const inner = body.slice(open + 1, -1);
  if (program.includes(']') || program.includes(':') || inner.includes('[') || inner.includes(']')) return undefined;
  const pid = inner.length > 0 && inner.length <= 10 && /^[0-9]+$/.test(inner) ? Number(inner) : undefined;
  return { program, pid };
}

// Host, tag and message after a 3164 or 3339 timestamp. With a PRI (network form) the host is
// optional, so a first word that looks like a tag (has `[` or ends in `:`) is taken as the tag.
function hostTagMessage(s: string, i: number, hadPri: boolean): { host: string; tag: string; program: string; pid: number | undefined; message: string } {
  if (s[i] === ' ') i++;
  let host = '';
  const [first, afterFirst] = token(s, i);
  let hostLike = first.length > 0 && afterFirst < s.length;
  if (hadPri) {
    for (let k = 0; k < first.length && hostLike; k++) if (!isHostChar(first.charCodeAt(k))) hostLike = false;
    if (first.endsWith(':')) hostLike = false;
  } else hostLike = first.length > 0;
  if (hostLike) {
    host = first;
    i = afterFirst < s.length ? afterFirst + 1 : afterFirst;
  }
  const [tok, afterTok] = token(s, i);
  const t = parseTag(tok);
  if (!t) return { host, tag: '', program: '', pid: undefined, message: s.slice(i) };
  // One space separates tag and message; more belong to the message (rsyslog keeps them too).
  const message = afterTok < s.length ? s.slice(afterTok + 1) : '';
  return { host, tag: tok, program: t.program, pid: t.pid, message };
}

function unparsed(raw: string): LogLine {
  return { time: undefined, timestamp: '', utcOffsetMin: undefined, host: '', program: '', pid: undefined, tag: '', message: raw, raw, format: 'unparsed' };
}

// `[id p="v" ...][id2 ...]` at s[i..]: the elements and the index after them, or undefined.
function structuredData(s: string, i: number): { sd: StructuredElement[]; end: number } | undefined {
  const sd: StructuredElement[] = [];
  let j = i;
  while (s[j] === '[') {
    j++;
    const idStart = j;
    while (j < s.length && s[j] !== ' ' && s[j] !== ']' && s[j] !== '=' && s[j] !== '"') j++;
    if (j === idStart) return undefined;
    const id = s.slice(idStart, j);
    const params: [string, string][] = [];
    while (s[j] === ' ') {
      j++;
      const nameStart = j;
      while (j < s.length && s[j] !== '=' && s[j] !== ' ' && s[j] !== ']' && s[j] !== '"') j++;
      if (j === nameStart || s[j] !== '=' || s[j + 1] !== '"') return undefined;
      const name = s.slice(nameStart, j);
      j += 2;
      let value = '';
      for (;;) {
        if (j >= s.length) return undefined;
        const c = s[j]!;
        if (c === '\\' && (s[j + 1] === '"' || s[j + 1] === '\\' || s[j + 1] === ']')) {
          value += s[j + 1];
          j += 2;
        } else if (c === '"') {
          j++;
          break;
        } else {
          value += c;
          j++;
        }
      }
      params.push([name, value]);
    }
    if (s[j] !== ']') return undefined;
    j++;
    sd.push({ id, params });
  }
  return sd.length ? { sd, end: j } : undefined;
}

function parse5424(raw: string, s: string, i: number, priv: { facility?: number; severity?: number }): LogLine | undefined {
  let stamp: Stamp | undefined;
  let timestamp: string;
  if (s[i] === '-') {
    stamp = { end: i + 1, time: undefined };
    timestamp = '-';
  } else {
    stamp = stamp3339(s, i);
    if (!stamp) return undefined;
    timestamp = s.slice(i, stamp.end);
  }
  let j = stamp.end;
  const fields: string[] = [];
  for (let k = 0; k < 4; k++) {
    if (s[j] !== ' ') return undefined;
    const [tok, end] = token(s, j + 1);
    if (tok === '') return undefined;
    fields.push(tok);
    j = end;
  }
  if (s[j] !== ' ') return undefined;
  j++;
  let sd: StructuredElement[] = [];
  if (s[j] === '-') j++;
  else {
    const r = structuredData(s, j);
    if (!r) return undefined;
    sd = r.sd;
    j = r.end;
  }
  let message = '';
  if (j < s.length) {
    if (s[j] !== ' ') return undefined;
    message = s.slice(j + 1);
    if (message.startsWith('\ufeff')) message = message.slice(1);
  }
  const [hostF, appF, procF, msgidF] = fields as [string, string, string, string];
  const nil = (v: string): string => (v === '-' ? '' : v);
  const app = nil(appF);
  const procid = nil(procF);
  const pid = /^[0-9]{1,10}$/.test(procid) ? Number(procid) : undefined;
  return {
    time: stamp.time,
    timestamp,
    utcOffsetMin: stamp.offset,
    host: nil(hostF),
    program: app,
    pid,
    tag: app === '' ? '' : procid === '' ? `${app}:` : `${app}[${procid}]:`,
    message,
    raw,
    format: 'rfc5424',
    ...priv,
    procid,
    ...(msgidF === '-' ? {} : { msgid: msgidF }),
    structuredData: sd,
  };
}

/**
 * Parses one log line (a trailing `\n` or `\r\n` is ignored). Recognises, with an optional `<PRI>`:
 * RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`), rsyslog's RFC 3339 file format
 * (`2026-11-21T10:00:01.123456+01:00 host prog[pid]: msg`) and the traditional format
 * (`Nov 21 10:00:01 host prog[pid]: msg`, or no tag at all as in `-- MARK --`). Years of traditional
 * timestamps come from `ctx` (see {@link LogParseContext}). Anything else gives format `unparsed`.
 * Never throws; linear time.
 */
export function parseLogLine(raw: string, ctx?: LogParseContext): LogLine {
  try {
    let s = raw;
    if (s.endsWith('\n')) s = s.slice(0, s.endsWith('\r\n') ? -2 : -1);
    let i = 0;
    const priv: { facility?: number; severity?: number } = {};
    let hadPri = false;
    if (s[0] === '<') {
      const close = s.indexOf('>', 1);
      if (close >= 2 && close <= 4 && /^[0-9]+$/.test(s.slice(1, close))) {
        const p = Number(s.slice(1, close));
        if (p <= 191) {
          priv.facility = p >> 3;
          priv.severity = p & 7;
          hadPri = true;
          i = close + 1;
        }
      }
    }
    if (s[i] === '1' && s[i + 1] === ' ') {
      const r = parse5424(raw, s, i + 2, priv);
      if (r) return r;
    }
    if (isDigit(s.charCodeAt(i)) && s[i + 4] === '-') {
      const st = stamp3339(s, i);
      if (st) {
        const rest = hostTagMessage(s, st.end, hadPri);
        return { time: st.time, timestamp: s.slice(i, st.end), utcOffsetMin: st.offset, ...rest, raw, format: 'rfc3339', ...priv };
      }
    }
    const st = stamp3164(s, i, ctx);
    if (st) {
      const rest = hostTagMessage(s, st.end, hadPri);
      return { time: st.time, timestamp: s.slice(i, st.end), utcOffsetMin: undefined, ...rest, raw, format: 'rfc3164', ...priv };
    }
    return unparsed(raw);
  } catch {
    // Defensive: a parser bug must not stop a log reader; the line is still reported, unparsed.
    return unparsed(raw);
  }
}

/**
 * Renders a parsed line in the traditional form `Mmm dd hh:mm:ss host tag message`, so rules written
 * for `^\w{3} [ :0-9]{11} [._[:alnum:]-]+ ...` also match RFC 3339 and RFC 5424 lines (as logcheck
 * needs since Debian 12). RFC 3339/5424 times are shown in the offset they were written in, unless
 * `opts.tz` says otherwise; a traditional line keeps its own timestamp (day space-padded); a missing
 * host shows as `opts.host` (default `-`). Unparsed lines and lines without a time come back raw.
 */
export function toTraditional(line: LogLine, opts?: { tz?: TimeZone; host?: string }): string {
  let stamp: string;
  switch (line.format) {
    case 'unparsed':
      return line.raw;
    case 'rfc3164': {
      // Normalise `Nov 01` and `Nov 1` to glibc's `Nov  1` and drop any fraction; the timestamp was
      // validated by the parser, so the first colon is the one after the hour.
      const t = line.timestamp;
      const c = t.indexOf(':');
      const day = Number(t.slice(4, c - 3).trim());
      stamp = `${t.slice(0, 3)} ${day < 10 ? ` ${day}` : String(day)} ${t.slice(c - 2, c + 6)}`;
      break;
    }
    case 'rfc3339':
    case 'rfc5424': {
      if (line.time === undefined) return line.raw;
      const tz = opts?.tz ?? line.utcOffsetMin ?? 'local';
      stamp = wallClock3164(wallClock(line.time, tz));
      break;
    }
    default: {
      const never: never = line.format;
      return String(never);
    }
  }
  const host = line.host === '' ? (opts?.host ?? '-') : line.host;
  return line.tag === '' ? `${stamp} ${host} ${line.message}` : `${stamp} ${host} ${line.tag} ${line.message}`;
}
