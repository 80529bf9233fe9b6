/**
 * logcheck's `-u` / SYSLOGSUMMARY=1: what `syslog-summary "$TMPDIR/checked" | grep -Ev "^Summarizing "`
 * prints for one report section, computed without running anything.
 *
 * The specification is Debian's syslog-summary 1.14-2.3 (Lars Wirzenius' script, ported to Python 3;
 * the version in trixie and bookworm-backports), run the way logcheck 1.4 runs it: one file, no
 * options, so no state file (-s), no "last message repeated" merging (-r), not quiet (-q), and the
 * shipped /etc/syslog-summary/ignore.rules, which holds only comments (0 ignore patterns). For each
 * line it strips a leading time stamp and the `[pid]` after the program name, counts equal remainders,
 * and prints each distinct remainder once, in order of first appearance, after a small header.
 *
 * Two deliberate differences, both where the real script fails rather than summarizes:
 * - A blank line (only white space) makes the real script loop for ever; here it is skipped.
 * - A line that is not valid UTF-8 makes the real script stop with UnicodeDecodeError (its `open()` is
 *   strict); in byte-string mode such a line is summarized byte for byte instead.
 * Not reproduced either: the "Using fallback detection..." line the script prints when python3-magic
 * (a Recommends) is missing, and grep's "binary file matches" cut-off when a line holds a NUL byte.
 *
 * Pure: no I/O, no clock. Every pattern here runs in linear time on attacker-written lines.
 */

/** How the lines passed to {@link summarizeLines} represent log text. */
export interface SummaryOptions {
  /**
   * true: each line is a byte string (one char per byte, a latin1-decoded file), and so is the result;
   * a line that is valid UTF-8 is treated as the text it encodes, as the Python 3 script does.
   * false or absent: lines are text (already decoded, as the report holds them).
   */
  readonly bytes?: boolean;
}

const MON = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const DOW = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';

// syslog-summary's datepats, tried in this order. Python's `\d` on str is any Unicode decimal digit
// (category Nd), so `\p{Nd}`; its `[0-9]` stays ASCII. The RFC 3339 one has no `^`, and the script uses
// re.search, so it matches anywhere in the line and everything up to it goes; it takes only a `+hh:mm`
// offset (`Z` and `-hh:mm` stamps are "bad dates").
const DATE_PATTERNS: readonly RegExp[] = [
  new RegExp(`^${MON} [ 0-9][0-9] [ 0-9][0-9]:[0-9][0-9]:[0-9][0-9] `, 'u'),
  new RegExp(`^${DOW} ${MON} [ 0-9][0-9][0-9][0-9]:[0-9][0-9] `, 'u'),
  new RegExp(`^${DOW} ${MON} [ 0-9][0-9][0-9][0-9]:[0-9][0-9]:[0-9][0-9] `, 'u'),
  /\p{Nd}{4}-\p{Nd}{2}-\p{Nd}{2}T\p{Nd}{2}:\p{Nd}{2}:[.0-9]+\+\p{Nd}{2}:\p{Nd}{2} /u,
  /^\[ *[0-9]+\.[0-9]+\] /u,
];

// Python 3 str.isspace() (Unicode 14), used by str.strip()/rstrip() on decoded text.
// eslint-disable-next-line no-control-regex
const TEXT_SPACE = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
// bytes.strip(): ASCII white space only, for lines kept as bytes.
const BYTE_SPACE = /^[\t\n\v\f\r ]$/;

/** Lines of output that do not depend on the input (0 lines skipped, 0 patterns, 0 ignored). */
const SKIPPED = '       0 Lines skipped (already processed)';
const PATTERNS = '       0 Patterns to ignore';
const IGNORED = '       0 Ignored lines';

/** Python's `"%8d" % n`. */
function pad8(n: number): string {
  return String(n).padStart(8, ' ');
}

/** True when every char of `s` is white space to `space` (Python's `not s.strip()`). */
function isBlank(s: string, space: RegExp): boolean {
  for (const c of s) if (!space.test(c)) return false;
  return true;
}

/** Python's `s.rstrip()` with the given white space. */
function rstrip(s: string, space: RegExp): string {
  let end = s.length;
  // All the white space characters are in the BMP, so one UTF-16 unit at a time is exact.
  while (end > 0 && space.test(s[end - 1]!)) end--;
  return s.slice(0, end);
}

/** Where the leading time stamp ends (syslog-summary's split_date), or -1 for a "bad date". */
function dateEnd(line: string): number {
  for (const re of DATE_PATTERNS) {
    const m = re.exec(line);
    if (m !== null) return m.index + m[0].length;
  }
  return -1;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/**
 * syslog-summary's pidpat, `^([^ ]* ?[^ ]*)\[[0-9][0-9]*\]: `, replaced by group 1 and `: `. Written
 * out because the regex backtracks quadratically on a long word without a match. A backtracking
 * engine tries the end of group 1 from the end of the second space-free run downwards (group 1 holds
 * at most one space), so the match it reports is the one with the largest such end: scan down from
 * there for `[digits]: `. Each digit run is read once from the `[` before it, so this is linear.
 */
function stripPid(rest: string): string {
  const firstSpace = rest.indexOf(' ');
  let limit = rest.length;
  if (firstSpace >= 0) {
    const second = rest.indexOf(' ', firstSpace + 1);
    limit = second >= 0 ? second : rest.length;
  }
  for (let e = limit; e >= 0; e--) {
    if (rest.charCodeAt(e) !== 91 /* [ */) continue;
    let k = e + 1;
    while (k < rest.length && isDigit(rest.charCodeAt(k))) k++;
    if (k > e + 1 && rest.charCodeAt(k) === 93 /* ] */ && rest.charCodeAt(k + 1) === 58 /* : */ && rest.charCodeAt(k + 2) === 32) {
      return `${rest.slice(0, e)}: ${rest.slice(k + 3)}`;
    }
  }
  return rest;
}

/**
 * Python reads the file with universal newlines: `\r\n`, `\r` and `\n` all end a line. A report line
 * has no `\n`; a `\r` at its end joins the `\n` that logcheck writes after it, any other `\r` splits it.
 */
function physicalLines(line: string): string[] {
  const body = line.endsWith('\r') ? line.slice(0, -1) : line;
  return body.split('\r');
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** A byte string (one char per byte) to the text it encodes in UTF-8, or undefined when it is not UTF-8. */
function decodeBytes(s: string): string | undefined {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Text to its UTF-8 bytes as a byte string. */
function encodeBytes(s: string): string {
  const bytes = encoder.encode(s);
  let out = '';
  // Chunks keep String.fromCharCode's argument list short on very long lines.
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}

/** Only ASCII: text and byte string are the same. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * The lines logcheck puts in a report section instead of `lines` when SYSLOGSUMMARY=1: exactly what
 * `syslog-summary FILE | grep -Ev "^Summarizing "` prints when FILE holds `lines`, each followed by a
 * newline. Lines in and out carry no line terminator. The result, in order:
 * - `       0 Lines skipped (already processed)`;
 * - `line has bad date <LINE>` for each line without a recognised time stamp (LINE with trailing white
 *   space removed), in input order, repeats included;
 * - `       0 Patterns to ignore`, `       0 Ignored lines`;
 * - one line per distinct remainder, in order of first appearance: the count right-aligned in 8
 *   columns, a space, the remainder. A remainder is the line after its time stamp (`Mmm dd hh:mm:ss `,
 *   `Www Mmm hhmm:ss `-style stamps, an RFC 3339 stamp with a `+hh:mm` offset anywhere in the line, or
 *   a dmesg `[ secs.frac] `) with `[pid]` after `host prog` removed, or the whole line when there is
 *   no stamp. Host names are kept: the same message from two hosts counts twice. Every line of this
 *   part but the first starts with one extra space (Python's `print(..., end=' ')`);
 * - a last line holding one space, or an empty line when no line was counted.
 * Blank lines are skipped and undecodable byte strings summarized as bytes (see the module comment).
 * Pure.
 */
export function summarizeLines(lines: readonly string[], options: SummaryOptions = {}): string[] {
  const bytes = options.bytes === true;
  const out: string[] = [SKIPPED];
  const counts = new Map<string, number>();
  for (const line of lines) {
    for (const raw of physicalLines(line)) {
      // Work on the text Python would see; turn results back into the caller's representation.
      let text = raw;
      let space = TEXT_SPACE;
      let back = (s: string): string => s;
      if (bytes && !isAscii(raw)) {
        const decoded = decodeBytes(raw);
        if (decoded === undefined) space = BYTE_SPACE;
        else {
          text = decoded;
          back = encodeBytes;
        }
      }
      // The real script's `continue` here never reads the next line: it spins for ever.
      if (isBlank(text, space)) continue;
      const end = dateEnd(text);
      let rest: string;
      if (end < 0) {
        out.push(back(`line has bad date <${rstrip(text, space)}>`));
        rest = text;
      } else rest = stripPid(text.slice(end));
      const key = back(rest);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  out.push(PATTERNS, IGNORED);
  let first = true;
  for (const [rest, n] of counts) {
    out.push(`${first ? '' : ' '}${pad8(n)} ${rest}`);
    first = false;
  }
  out.push(counts.size > 0 ? ' ' : '');
  return out;
}
