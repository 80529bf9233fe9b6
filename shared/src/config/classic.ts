/**
 * The classic `KEY="value"` config format of PortSentry 1.2 (portsentry.conf) and HostSentry
 * (hostsentry.conf), read with the original's meaning but with clear errors where it misread.
 *
 * How PortSentry 1.2 read it (ConfigTokenRetrieve in portsentry_io.c): for each key wanted, it
 * re-read the file from the top; a line counted as a comment only when its first byte was `#`; a
 * line matched a key when the key occurred ANYWHERE in the line (strstr) and the byte at offset
 * strlen(key) of the line was `=` or a space; the value was everything after the first `"` of the
 * line up to the next `"` or the first unprintable byte; the first matching line won.
 *
 * Its silent misreads, each an error (or a warning) here instead:
 *  1. A key indented by even one space never matched, so the setting was silently ignored
 *     (error: indented key).
 *  2. A line matched a key that appeared only later in the line, e.g. when looking up UDP_PORTS the
 *     line `TCP_PORTS="1,2" # was UDP_PORTS` matched (byte 9 is `=`), so UDP_PORTS got TCP's ports
 *     (here a key is only ever the text at column 1).
 *  3. A matching line without any `"` made the lookup give up, even if a later line set the key
 *     properly (error: value not quoted).
 *  4. The value began at the first `"` anywhere on the line, so `KEY=/bin/x "y"` read as `y`, and
 *     `KEY junk "v"` (a space after the key, no `=`) was accepted (error: expected `=` then a
 *     quoted value).
 *  5. A missing closing quote was accepted: the value ran to the end of the line (error).
 *  6. Text after the closing quote was ignored, so `KEY="a" "b"` read as `a` (error, except a
 *     `#` comment).
 *  7. A tab or other control character inside the value silently cut it short (error).
 *  8. A misspelt or unknown key was simply never looked up, so its setting was lost (error
 *     CFG_UNKNOWN_KEY with a "did you mean").
 *  9. A repeated key: the first one won and later ones were silently ignored (same rule here, but
 *     each repeat is reported in `warnings`).
 *  10. Values were silently cut at 1023 bytes (MAXBUF); here they are not cut.
 *
 * Kept as the original: key at column 1, `#` comments (here also indented ones, and a comment after
 * the closing quote), spaces allowed around `=` (Debian's file has `RESOLVE_HOST = "0"`), first
 * occurrence wins, the value is exactly the text between the quotes (no escapes), keys are
 * case-sensitive.
 */
import { ConfigError, ConfigErrors } from '../errors.js';
import { didYouMean } from './suggest.js';
import { readConfigText } from './read.js';

/** One `KEY="value"` setting. Being `{file, line, col}` it doubles as the SourcePos of its value. */
export interface ClassicEntry {
  readonly file: string;
  readonly key: string;
  /** The text between the quotes, exactly. */
  readonly value: string;
  /** Line of the setting, from 1. */
  readonly line: number;
  /** Column of the first character of the value (just after the opening quote), from 1. */
  readonly col: number;
}

/** A parsed classic file: the settings in file order (first occurrence of each key only). */
export interface ClassicConfig {
  readonly file: string;
  readonly entries: readonly ClassicEntry[];
  /** The same entries by key. */
  readonly values: ReadonlyMap<string, ClassicEntry>;
  /** Human-readable `file:line: ...` notes the caller should print (repeated keys). */
  readonly warnings: readonly string[];
}

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Parses the text of a classic config file. Pure. `file` names the file in messages. When
 * `knownKeys` is given, any other key is a CFG_UNKNOWN_KEY error. Every problem of the file is
 * collected and thrown together as one ConfigErrors (codes CFG_SYNTAX / CFG_UNKNOWN_KEY, each message
 * `file:line:col: KEY: ...`); repeated keys are warnings, not errors.
 */
export function parseClassic(text: string, file: string, knownKeys?: readonly string[]): ClassicConfig {
  const errors: ConfigError[] = [];
  const warnings: string[] = [];
  const entries: ClassicEntry[] = [];
  const values = new Map<string, ClassicEntry>();
  const known = knownKeys ? new Set(knownKeys) : undefined;
  const lines = text.split('\n');
  // A final newline does not start another line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();

  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const err = (code: 'CFG_SYNTAX' | 'CFG_UNKNOWN_KEY', col: number, detail: string, key?: string): void => {
      errors.push(new ConfigError(code, detail, { pos: { file, line: lineNo, col }, key }));
    };
    const trimmed = line.trimStart();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (trimmed.length !== line.length) {
      const k = KEY_RE.exec(trimmed)?.[0];
      err('CFG_SYNTAX', line.length - trimmed.length + 1, `indented ${k ? `key ${k}` : 'text'}: a setting must start in column 1 (PortSentry 1.2 silently ignored this line)`);
      return;
    }
    const key = KEY_RE.exec(line)?.[0];
    if (key === undefined) {
      err('CFG_SYNTAX', 1, `expected KEY="value" or a # comment, found ${JSON.stringify(line.slice(0, 20))}`);
      return;
    }
    let at = key.length;
    while (line[at] === ' ' || line[at] === '\t') at++;
    if (line[at] !== '=') {
      err('CFG_SYNTAX', at + 1, `expected "=" after the key, found ${line[at] === undefined ? 'end of line' : JSON.stringify(line[at])}`, key);
      return;
    }
    at++;
    while (line[at] === ' ' || line[at] === '\t') at++;
    if (line[at] !== '"') {
      err('CFG_SYNTAX', at + 1, 'the value must be in double quotes, e.g. KEY="value" (PortSentry 1.2 skipped an unquoted value)', key);
      return;
    }
    const start = at + 1;
    const end = line.indexOf('"', start);
    if (end < 0) {
      err('CFG_SYNTAX', at + 1, 'unterminated quote: the value has no closing "', key);
      return;
    }
    const value = line.slice(start, end);
    const ctl = /[\u0000-\u001f\u007f]/.exec(value);
    if (ctl) {
      err('CFG_SYNTAX', start + ctl.index + 1, `control character ${JSON.stringify(ctl[0])} in the value (PortSentry 1.2 cut the value there)`, key);
      return;
    }
    const after = line.slice(end + 1);
    const rest = after.trimStart();
    if (rest !== '' && !rest.startsWith('#')) {
      err('CFG_SYNTAX', end + 2 + (after.length - rest.length), `unexpected text after the closing quote: ${JSON.stringify(rest.slice(0, 20))} (only a # comment may follow)`, key);
      return;
    }
    if (known && !known.has(key)) {
      err('CFG_UNKNOWN_KEY', 1, `unknown key${didYouMean(key, known)}`, key);
      return;
    }
    const first = values.get(key);
    if (first) {
      warnings.push(`${file}:${lineNo}: ${key} is already set on line ${first.line}; this later setting is ignored (the first one wins, as in PortSentry 1.2)`);
      return;
    }
    const entry: ClassicEntry = Object.freeze({ file, key, value, line: lineNo, col: start + 1 });
    entries.push(entry);
    values.set(key, entry);
  });

  if (errors.length > 0) throw new ConfigErrors(errors);
  return Object.freeze({ file, entries: Object.freeze(entries), values, warnings: Object.freeze(warnings) });
}

/**
 * Reads and parses a classic config file (see {@link parseClassic}); only `knownKeys` are allowed.
 * Throws ConfigErrors (CFG_UNREADABLE when the file cannot be read).
 */
export function loadClassicFile(path: string, knownKeys: readonly string[]): ClassicConfig {
  return parseClassic(readConfigText(path), path, knownKeys);
}
