/**
 * The report text and subject of one run, laid out byte for byte as logcheck 1.4 (Debian's
 * /usr/sbin/logcheck) lays them out: optional notices, the intro (header.txt), each non-empty section
 * as its title, an underline of `=-=-` as long as the title, the lines and a blank line, then the
 * footer (footer.txt). The subject names the most severe level present. An empty run gives null
 * (logcheck sends nothing). Pure: no I/O, no clock; the caller reads header.txt/footer.txt and
 * formats the date.
 *
 * Two representations: text (default; lines and body are Unicode strings) and bytes (`bytes: true`;
 * lines, header, footer and the body are byte strings, one char per byte, as logcheck handles the
 * logs in the C locale: `Buffer.from(body, 'latin1')` is what logcheck would mail). Titles, notices
 * and errors are always Unicode text; in bytes mode they go into the body as their UTF-8 bytes.
 */
import { summarizeLines } from './core/summary.js';

/** The three report levels, most severe first: cracking.d alerts, violations.d events, everything left. */
export type SectionKind = 'attack' | 'violation' | 'unusual';

/** One titled block of log lines, in the order it appears in the report. */
export interface ReportSection {
  readonly kind: SectionKind;
  /** e.g. `Security Alerts for kernel`, `Security Events`, `System Events` (computed by the caller). */
  readonly title: string;
  /**
   * The log lines, without line terminators (byte strings in bytes mode). A section without lines is
   * left out, as logcheck does.
   */
  readonly lines: readonly string[];
}

/** The subject words per level (ATTACKSUBJECT, SECURITYSUBJECT, EVENTSSUBJECT). */
export interface SubjectWords {
  readonly attack: string;
  readonly security: string;
  readonly events: string;
}

/** Everything {@link renderReport} needs; all of it plain data. */
export interface ReportInput {
  readonly sections: readonly ReportSection[];
  /** Host name for the subject (config report.subject.hostname, else this host's name). */
  readonly host: string;
  /** Already formatted date for the subject (see {@link formatSubjectDate}). */
  readonly date: string;
  /** `-R`: prefix the subject with `Reboot: `. */
  readonly reboot: boolean;
  /** INTRO: put `header` before and `footer` after the sections. */
  readonly intro: boolean;
  /** Content of header.txt, verbatim (logcheck `cat`s it; a byte string in bytes mode); undefined when the file is absent. */
  readonly header?: string;
  /** Content of footer.txt, verbatim (a byte string in bytes mode); undefined when the file is absent. */
  readonly footer?: string;
  /** Largest body in bytes (report.max_size); a longer body is cut with a closing line saying so. */
  readonly maxSize: number;
  readonly subjectWords: SubjectWords;
  /** ADDTAG: this text and a space go in front of the subject (logcheck: `[logcheck]`); empty or absent: none. */
  readonly tag?: string;
  /**
   * Lines logcheck writes before the intro while reading its inputs (the journal's first-run notice:
   * "This is the first time logcheck has checked the systemd journal." and its two follow-up lines).
   */
  readonly notices?: readonly string[];
  /** `E: File could not be read: <path>` lines: logcheck puts them after the intro, between blank lines. */
  readonly errors?: readonly string[];
  /**
   * `-u` / SYSLOGSUMMARY=1 (config report.summary): each section's lines are replaced by what
   * syslog-summary prints for them (see {@link summarizeLines}); absent or false: the lines as they are.
   */
  readonly summary?: boolean;
  /**
   * Bytes mode: section lines, header and footer are byte strings and so is the returned body (see
   * the module comment). Absent or false: text, as before.
   */
  readonly bytes?: boolean;
}

/** A rendered report, ready to spool and mail. */
export interface RenderedReport {
  /** One line; no control characters (safe as a mail header value). */
  readonly subject: string;
  /** The report text, `\n` line ends, at most maxSize bytes (of UTF-8 text, or a byte string of at most maxSize chars in bytes mode). */
  readonly body: string;
  /** The most severe level present; it chose the subject word. */
  readonly level: SectionKind;
  /** What the max_size cut removed, when it cut. */
  readonly cut?: { readonly lines: number; readonly bytes: number };
}

const SEVERITY: Readonly<Record<SectionKind, number>> = { attack: 0, violation: 1, unusual: 2 };

/**
 * Replaces C0 and C1 control characters and DEL (TAB excepted) by `#` and three octal digits, the form
 * rsyslog itself uses for control characters it receives. Log lines are written by attackers: a CR or
 * an escape sequence must neither break a mail header nor reach the reader's terminal. Printable text,
 * including any non-ASCII letter, passes unchanged.
 */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => `#${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

// C0 but TAB, DEL, and a C1 control encoded in UTF-8 (0xC2 then 0x80..0x9F: 0xC2 is never a
// continuation byte, so the pair is always a whole sequence). No other byte at or above 0x80.
// eslint-disable-next-line no-control-regex
const BYTE_CONTROLS = /[\x00-\x08\x0a-\x1f\x7f]|\xc2[\x80-\x9f]/g;

/**
 * {@link escapeControls} for a byte string (one char per byte): C0 controls but TAB and DEL become
 * `#` and the octal of the byte; a C1 control written in UTF-8 (bytes C2 80..C2 9F) becomes `#` and
 * the octal of its code point (`\xc2\x85` -> `#205`), as the text form writes it. Every other byte,
 * valid UTF-8 or not, passes unchanged, as logcheck passes it.
 */
export function escapeControlBytes(bytes: string): string {
  return bytes.replace(BYTE_CONTROLS, (c) => `#${c.charCodeAt(c.length - 1).toString(8).padStart(3, '0')}`);
}

/**
 * Lines (byte strings) each escaped as {@link escapeControlBytes} escapes it and followed by `\n`,
 * as one string. For a whole section at once: the lines are copied into one buffer and scanned
 * there, and only the few bytes to escape are rewritten (a regex call per line, and the per-line
 * concatenation flattened afterwards, took 0.7 s for a 48 MB report; this, about 0.15 s).
 */
export function escapeControlByteLines(lines: readonly string[]): string {
  let total = 0;
  for (const l of lines) total += l.length + 1;
  const buf = Buffer.allocUnsafe(total);
  // Buffer's own latin1Write (what write(s, pos, 'latin1') ends in, without its argument checks per
  // line), and the scan over a plain Uint8Array view (indexing the Buffer subclass was slower).
  const raw = buf as Buffer & { latin1Write(s: string, at: number): number };
  let pos = 0;
  for (const l of lines) {
    pos += raw.latin1Write(l, pos);
    buf[pos++] = 0x0a;
  }
  const u = new Uint8Array(buf.buffer, buf.byteOffset, total);
  // Where each escape goes: the byte offset, how many bytes it replaces, and the value it prints.
  const at: number[] = [];
  let newlines = 0;
  for (let i = 0; i < total; i++) {
    const c = u[i]!;
    if (c >= 0x20 ? c !== 0x7f && c !== 0xc2 : c === 0x09) continue;
    if (c === 0x0a) {
      newlines++;
      continue;
    }
    if (c === 0xc2) {
      const d = i + 1 < total ? u[i + 1]! : 0;
      if (d < 0x80 || d > 0x9f) continue;
      at.push(i, 2, d);
      i++;
    } else at.push(i, 1, c);
  }
  // A newline inside a line must become #012, which the scan cannot tell from the separators.
  if (newlines !== lines.length) return lines.map((x) => `${escapeControlBytes(x)}\n`).join('');
  if (at.length === 0) return buf.toString('latin1', 0, total);
  let size = total;
  for (let q = 0; q < at.length; q += 3) size += 4 - at[q + 1]!;
  const out = Buffer.allocUnsafe(size);
  let from = 0;
  let to = 0;
  for (let q = 0; q < at.length; q += 3) {
    const i = at[q]!;
    to += buf.copy(out, to, from, i);
    out[to++] = 0x23;
    const v = at[q + 2]!;
    out[to++] = 0x30 + (v >> 6);
    out[to++] = 0x30 + ((v >> 3) & 7);
    out[to++] = 0x30 + (v & 7);
    from = i + at[q + 1]!;
  }
  buf.copy(out, to, from, total);
  return out.toString('latin1', 0, size);
}

/** Unicode text as the byte string of its UTF-8 encoding. */
function utf8Bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** How one report's parts become body text: text mode, or bytes mode (see the module comment). */
interface BodyForm {
  /** A title, notice or error (Unicode text), escaped, as it goes into the body. */
  text(s: string): string;
  /** Log lines, each escaped and followed by `\n`, as they go into the body. */
  lines(ls: readonly string[]): string;
  /** The size of a piece of body in bytes. */
  size(s: string): number;
}

const TEXT_FORM: BodyForm = {
  text: escapeControls,
  lines: (ls) => ls.map((l) => `${escapeControls(l)}\n`).join(''),
  size: (s) => Buffer.byteLength(s, 'utf8'),
};

const BYTES_FORM: BodyForm = {
  text: (s) => utf8Bytes(escapeControls(s)),
  lines: escapeControlByteLines,
  size: (s) => s.length,
};

/** Like {@link escapeControls} but TAB too: a header value is a single line of printable text. */
export function sanitizeHeaderValue(text: string): string {
  // U+2028/U+2029 are line breaks to some readers; they never belong in a header either.
  return escapeControls(text).replace(/\t/g, '#011').replace(/[\u2028\u2029]/g, (c) => `#u${c.charCodeAt(0).toString(16)}`);
}

/**
 * logcheck's printheader underline: `=` and `-` alternating, starting with `=`, one per character of
 * the title (bash `${#header}` counts characters in a UTF-8 locale, so code points, not bytes).
 */
export function underline(title: string): string {
  const n = [...title].length;
  let out = '';
  for (let i = 0; i < n; i++) out += i % 2 === 0 ? '=' : '-';
  return out;
}

/** The subject word of a level. */
function wordFor(kind: SectionKind, words: SubjectWords): string {
  switch (kind) {
    case 'attack':
      return words.attack;
    case 'violation':
      return words.security;
    case 'unusual':
      return words.events;
    default: {
      const never: never = kind;
      throw new Error(`unknown section kind ${String(never)}`);
    }
  }
}

/** The closing line of a cut report. Counts are what was left out. */
function cutNotice(maxSize: number, lines: number, bytes: number): string {
  return `[logsentry: report cut to report.max_size (${maxSize} bytes): ${lines} more lines (${bytes} bytes) left out]\n`;
}

/**
 * Cuts `body` at a line boundary so that it, with the closing notice, fits in `maxSize` bytes
 * (measured by `size`). Whole lines only: no line (and no UTF-8 sequence) is ever broken.
 */
function capBody(body: string, maxSize: number, size: (s: string) => number): { body: string; cut?: { lines: number; bytes: number } } {
  const total = size(body);
  if (total <= maxSize) return { body };
  const lines = body.split('\n');
  // The body ends with '\n', so the last element is '' and not a line.
  if (lines[lines.length - 1] === '') lines.pop();
  // The notice with the largest possible counts is at least as long as the real one, so reserving its
  // length keeps the final body within maxSize.
  const room = maxSize - size(cutNotice(maxSize, lines.length, total));
  let used = 0;
  let kept = 0;
  for (const line of lines) {
    const n = size(line) + 1;
    if (used + n > room) break;
    used += n;
    kept++;
  }
  const head = lines.slice(0, kept).join('\n') + (kept > 0 ? '\n' : '');
  const cut = { lines: lines.length - kept, bytes: total - used };
  return { body: head + cutNotice(maxSize, cut.lines, cut.bytes), cut };
}

/** The most severe kind among `sections` (unusual when there are none). */
function mostSevere(sections: readonly { readonly kind: SectionKind }[]): SectionKind {
  let level: SectionKind = 'unusual';
  for (const s of sections) if (SEVERITY[s.kind] < SEVERITY[level]) level = s.kind;
  return level;
}

/**
 * Renders one run's report as logcheck 1.4 would: returns null when no section has a line (logcheck
 * sends no mail then), else the subject `[tag ][Reboot: ]<host> <date> <word of the most severe level>`
 * and the body. With `summary`, each section's lines are first replaced by their syslog-summary
 * output ({@link summarizeLines}), as `logcheck -u` does. Section titles and lines are passed through
 * {@link escapeControls} (lines in bytes mode through {@link escapeControlBytes}); the subject through
 * {@link sanitizeHeaderValue}. header/footer are the administrator's files and are copied verbatim.
 * The body is cut at `maxSize` bytes (see {@link RenderedReport.cut}). With `bytes`, see the module
 * comment: the underline still counts the title's characters. Pure.
 */
export function renderReport(input: ReportInput): RenderedReport | null {
  const form = input.bytes === true ? BYTES_FORM : TEXT_FORM;
  const present = input.sections.filter((s) => s.lines.length > 0);
  if (present.length === 0) return null;
  const level = mostSevere(present);

  let body = '';
  for (const n of input.notices ?? []) body += `${form.text(n)}\n`;
  if (input.intro && input.header !== undefined) body += input.header;
  const errors = input.errors ?? [];
  // logcheck: a here-document of an empty line, $(< errors) (trailing newlines stripped), an empty line.
  if (errors.length > 0) body += `\n${errors.map((e) => form.text(e)).join('\n')}\n\n`;
  for (const s of present) {
    // The underline counts characters of the text title, whatever form its bytes take in the body.
    const title = escapeControls(s.title);
    body += `${form.text(s.title)}\n${underline(title)}\n`;
    // logcheck runs syslog-summary on the raw section file; our control escaping comes after it.
    const lines = input.summary === true ? summarizeLines(s.lines, { bytes: input.bytes === true }) : s.lines;
    body += form.lines(lines);
    body += '\n';
  }
  if (input.intro && input.footer !== undefined) body += input.footer;

  return finish(input, `${input.host} ${input.date} ${wordFor(level, input.subjectWords)}`, body, level, form);
}

/** The subject (`[tag ][Reboot: ]` before `core`, sanitized) and the body cut at maxSize: the last step of both layouts. */
function finish(input: Pick<ReportInput, 'reboot' | 'tag' | 'maxSize'>, core: string, body: string, level: SectionKind, form: { readonly size: (s: string) => number }): RenderedReport {
  let subject = core;
  if (input.reboot) subject = `Reboot: ${subject}`;
  if (input.tag !== undefined && input.tag !== '') subject = `${input.tag} ${subject}`;
  const capped = capBody(body, input.maxSize, form.size);
  return {
    subject: sanitizeHeaderValue(subject),
    body: capped.body,
    level,
    ...(capped.cut ? { cut: capped.cut } : {}),
  };
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'] as const;
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'] as const;

/**
 * Formats `when` with a strftime(3) format in the C locale, as `date +FORMAT` does for logcheck's DATE
 * (default `%Y-%m-%d %H:%M %z`). `utcOffsetMinutes` is the zone's offset east of UTC at `when`
 * (`-when.getTimezoneOffset()` for local time). Supported: %Y %y %C %m %d %e %H %I %M %S %p %j %z %Z
 * (as the numeric offset) %a %A %b %h %B %F %T %R %D %s %u %w %n %t %%; any other %x is kept literally.
 * Pure.
 */
export function formatSubjectDate(when: Date, format: string, utcOffsetMinutes: number): string {
  // Shift the instant so the UTC getters read the wall clock of the wanted zone.
  const t = new Date(when.getTime() + utcOffsetMinutes * 60_000);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const off = (): string => {
    const a = Math.abs(utcOffsetMinutes);
    return `${utcOffsetMinutes < 0 ? '-' : '+'}${p2(Math.floor(a / 60))}${p2(a % 60)}`;
  };
  return format.replace(/%(.)/gs, (whole, c: string) => {
    switch (c) {
      case 'Y': return String(t.getUTCFullYear());
      case 'y': return p2(t.getUTCFullYear() % 100);
      case 'C': return p2(Math.floor(t.getUTCFullYear() / 100));
      case 'm': return p2(t.getUTCMonth() + 1);
      case 'd': return p2(t.getUTCDate());
      case 'e': return String(t.getUTCDate()).padStart(2, ' ');
      case 'H': return p2(t.getUTCHours());
      case 'I': return p2(((t.getUTCHours() + 11) % 12) + 1);
      case 'M': return p2(t.getUTCMinutes());
      case 'S': return p2(t.getUTCSeconds());
      case 'p': return t.getUTCHours() < 12 ? 'AM' : 'PM';
      case 'j': return String(Math.floor((t.getTime() - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000) + 1).padStart(3, '0');
      case 'z': case 'Z': return off();
      case 'a': return DAYS[t.getUTCDay()]!.slice(0, 3);
      case 'A': return DAYS[t.getUTCDay()]!;
      case 'b': case 'h': return MONTHS[t.getUTCMonth()]!.slice(0, 3);
      case 'B': return MONTHS[t.getUTCMonth()]!;
      case 'F': return `${t.getUTCFullYear()}-${p2(t.getUTCMonth() + 1)}-${p2(t.getUTCDate())}`;
      case 'T': return `${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())}`;
      case 'R': return `${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}`;
      case 'D': return `${p2(t.getUTCMonth() + 1)}/${p2(t.getUTCDate())}/${p2(t.getUTCFullYear() % 100)}`;
      case 's': return String(Math.floor(when.getTime() / 1000));
      case 'u': return String(t.getUTCDay() === 0 ? 7 : t.getUTCDay());
      case 'w': return String(t.getUTCDay());
      case 'n': return '\n';
      case 't': return '\t';
      case '%': return '%';
      default: return whole;
    }
  });
}

// --- Psionic Logcheck 1.1 ---------------------------------------------------------------------

/** The date in 1.1's subject: logcheck.sh's `DATE=\`date +%m/%d/%y:%H.%M\`` (for {@link formatSubjectDate}). */
export const PSIONIC_DATE_FORMAT = '%m/%d/%y:%H.%M';

/** 1.1's subject words: any "Active System Attack Alerts" section makes the whole mail an attack. */
export const PSIONIC_SUBJECT = { attack: 'ACTIVE SYSTEM ATTACK!', other: 'system check' } as const;

/** What {@link renderPsionicReport} needs: {@link ReportInput} without what 1.1 never printed. */
export type PsionicReportInput = Pick<ReportInput, 'sections' | 'host' | 'date' | 'reboot' | 'maxSize' | 'tag' | 'notices' | 'errors' | 'bytes'>;

/**
 * Renders one run's report as Psionic Logcheck 1.1.1's logcheck.sh wrote it: no header or footer;
 * each non-empty section as an empty line, its title, an underline of `=-=-` as long as the title
 * and its lines (no blank line after the last section). The subject is `<host> <date> ACTIVE SYSTEM
 * ATTACK!` when an attack section is present, else `<host> <date> system check`; 1.1 had no -R and
 * no tag, so `Reboot: ` and the tag are put in front only when asked for. Returns null when no
 * section has a line (1.1 mailed nothing). As {@link renderReport}, and unlike 1.1, control
 * characters in titles and lines are escaped, the subject is sanitized and the body cut at
 * `maxSize`; logsentry's notices and `E:` lines (1.1 had none) come first, each group after an
 * empty line like a section. `bytes` as for {@link renderReport}. Pure.
 */
export function renderPsionicReport(input: PsionicReportInput): RenderedReport | null {
  const form = input.bytes === true ? BYTES_FORM : TEXT_FORM;
  const present = input.sections.filter((s) => s.lines.length > 0);
  if (present.length === 0) return null;
  const level = mostSevere(present);

  let body = '';
  const notices = input.notices ?? [];
  if (notices.length > 0) body += `\n${notices.map((n) => form.text(n)).join('\n')}\n`;
  const errors = input.errors ?? [];
  if (errors.length > 0) body += `\n${errors.map((e) => form.text(e)).join('\n')}\n`;
  for (const s of present) {
    // logcheck.sh: `echo >> report; echo TITLE; echo UNDERLINE; cat matches`, per section.
    const title = escapeControls(s.title);
    body += `\n${form.text(s.title)}\n${underline(title)}\n`;
    body += form.lines(s.lines);
  }

  return finish(input, `${input.host} ${input.date} ${level === 'attack' ? PSIONIC_SUBJECT.attack : PSIONIC_SUBJECT.other}`, body, level, form);
}
