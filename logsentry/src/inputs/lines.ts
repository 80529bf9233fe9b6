/**
 * What happens to raw input lines before the rules see them: RFC 3339 timestamps rewritten to the
 * traditional form (Debian bug 1023755), and journal entries that rsyslog also wrote to a file
 * dropped, so each event is reported once. Pure.
 */
import { parseLogLine, toTraditional, YearInferrer } from '@trisentry/shared';
import type { LogLine } from '@trisentry/shared';
import type { JournalEntry } from '@trisentry/shared';

/**
 * Rewrites an rsyslog RFC 3339 file line (`2026-11-21T10:00:01.123456+01:00 host prog[1]: msg`) to
 * `Nov 21 10:00:01 host prog[1]: msg` (wall clock of the offset written in the line); any other line
 * comes back unchanged, so traditional lines keep their exact bytes.
 */
export function normalizeTimestamp(raw: string): string {
  // Cheap test first: only lines starting with a digit can be RFC 3339.
  const c = raw.charCodeAt(0);
  if (!(c >= 48 && c <= 57)) return raw;
  const p = parseLogLine(raw);
  return p.format === 'rfc3339' ? toTraditional(p) : raw;
}

// Short host name, lower case: rsyslog writes the short name, _HOSTNAME may be the FQDN. ASCII
// letters only: in a byte string a char above 0x7f is one byte of a longer sequence, not a letter.
const shortHost = (h: string): string => {
  const dot = h.indexOf('.');
  return (dot < 0 ? h : h.slice(0, dot)).replace(/[A-Z]+/g, (m) => m.toLowerCase());
};

// Drops trailing ASCII white space, as logcheck's `sed -e 's/[[:space:]]*$//'` does in the C locale;
// String#trimEnd would also take U+00A0, which in a byte string is the last byte of a UTF-8 sequence.
function trimAsciiEnd(s: string): string {
  let end = s.length;
  for (;;) {
    const c = s.charCodeAt(end - 1);
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) end--;
    else break;
  }
  return s.slice(0, end);
}

/**
 * The identity of an event apart from its time: short host, program, pid and message (trailing
 * white space dropped, as logcheck's `sed` does). Both sides escape control characters rsyslog's way,
 * and both must be in the same representation (logsentry: byte strings).
 */
export function eventKey(host: string, program: string, pid: number | undefined, message: string): string {
  return `${shortHost(host)}\u0000${program}\u0000${pid ?? ''}\u0000${trimAsciiEnd(message)}`;
}

/**
 * Drops the journal entries that also appear among the file lines of the same run (Debian 12 sends
 * every journal entry to rsyslog, which writes it to /var/log/syslog). Two are the same event when
 * their {@link eventKey}s are equal and their times differ by at most `toleranceMs` (default 2 s:
 * rsyslog stamps the time it received the message, to the second in the traditional format, while the
 * journal stamps when journald did). Each file line cancels at most one journal entry, so an event
 * logged twice is still reported twice. Traditional file lines get their year from `refTime`.
 * The file lines and the entries must be alike: both byte strings (a file read as latin1, entries
 * parsed with encoding `latin1`, as logsentry reads them) or both text. Returns the entries to keep, in order.
 */
export function dropJournalDuplicates(fileLines: readonly string[], entries: readonly JournalEntry[], refTime: number, toleranceMs = 2000): JournalEntry[] {
  if (entries.length === 0 || fileLines.length === 0) return [...entries];
  const byKey = new Map<string, number[]>();
  entries.forEach((e, i) => {
    const k = eventKey(e.host, e.ident, e.pid, e.message);
    const list = byKey.get(k);
    if (list) list.push(i);
    else byKey.set(k, [i]);
  });
  const drop = new Set<number>();
  const years = new YearInferrer({ refTime });
  for (const raw of fileLines) {
    const p: LogLine = parseLogLine(raw, { years });
    if (p.format === 'unparsed' || p.time === undefined) continue;
    const list = byKey.get(eventKey(p.host, p.program, p.pid, p.message));
    if (list === undefined) continue;
    // A traditional line has whole seconds: compare against the start of the entry's second too.
    const t = p.time;
    const hit = list.findIndex((i) => !drop.has(i) && Math.abs(Math.floor(entries[i]!.time / 1000) * 1000 - t) <= toleranceMs);
    if (hit >= 0) drop.add(list[hit]!);
  }
  return entries.filter((_, i) => !drop.has(i));
}
