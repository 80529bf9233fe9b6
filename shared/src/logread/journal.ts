/**
 * Reading the systemd journal by cursor.
 *
 * logcheck 1.4 reads the journal with `journalctl --since=@<mtime of offset.journal>` (first run:
 * `--since=-5h` plus a notice in the report) and then touches `offset.journal`; that one-second
 * window repeats or loses entries around every run. We ask `journalctl --after-cursor=<cursor> -o json`
 * and store the cursor of the last entry read (`journal-cursor` in the state dir), so every entry is
 * read exactly once. Without a cursor we start where logcheck stopped (the mtime of its
 * `offset.journal`, if the state dir has one) or else one hour back, with a notice. On commit we
 * also touch `offset.journal`, so switching back to logcheck keeps the place too.
 *
 * Entries are rendered as the syslog file line rules expect: `Mmm dd hh:mm:ss host ident[pid]: msg`,
 * in local time (as `journalctl -o short` and rsyslog do), control characters escaped rsyslog's way.
 *
 * Two encodings (see {@link LineEncoding}): `utf8` (default) gives decoded text, escaped by the shared
 * `escapeControl` (C0, DEL, C1, invalid UTF-8 bytes); `latin1` gives byte strings (one char per
 * byte): a MESSAGE journalctl hands over as a byte array (not UTF-8) keeps those bytes, a string
 * field becomes its UTF-8 bytes, and escaping is exactly rsyslog's default (every byte below 0x20,
 * TAB included, as `#ooo`; DEL and bytes from 0x80 up untouched, as rsyslog leaves them with
 * Escape8BitCharactersOnReceive off), so a line reads byte for byte as rsyslog wrote it to a file.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ExecError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { escapeControl, timestamp3164 } from '../syslog/format.js';
import type { TimeZone } from '../syslog/format.js';
import { touchFile } from './logfile.js';
import type { LineEncoding } from './logfile.js';

/** One journal entry, reduced to what a syslog line shows. */
export interface JournalEntry {
  readonly cursor: string;
  /** `__REALTIME_TIMESTAMP`, epoch milliseconds (microseconds truncated). */
  readonly time: number;
  readonly host: string;
  /** SYSLOG_IDENTIFIER, else _COMM; '' when neither. */
  readonly ident: string;
  /** _PID, else SYSLOG_PID. */
  readonly pid: number | undefined;
  /**
   * MESSAGE with control characters escaped (`#012`), as rsyslog writes it. `host`, `ident` and
   * `message` are text, or byte strings when parsed with encoding `latin1`.
   */
  readonly message: string;
}

/** Options of {@link readJournal}. */
export interface JournalOptions {
  /** The journalctl binary (default `journalctl`, found on PATH). */
  readonly journalctl?: string;
  /** Read a journal namespace (`--namespace`), e.g. a test's private journald. */
  readonly namespace?: string;
  /** Read journal files from a directory (`--directory`) instead of the system journal. */
  readonly directory?: string;
  /** `--since` value when there is no cursor and no logcheck `offset.journal` (default `-1h`). */
  readonly firstRunSince?: string;
  /** Zone of rendered timestamps (default the process's). */
  readonly tz?: TimeZone;
  /** Kill journalctl after this long (default 300 s). */
  readonly timeoutMs?: number;
  /**
   * journalctl matches (`FIELD=value`; the same field given twice matches either), so a reader that
   * wants one program's entries is not handed the whole journal. Default none.
   */
  readonly matches?: readonly string[];
  /** The first-run notice, given the `--since` used. Default logsentry's (logcheck 1.4.1's words). */
  readonly firstRunNotice?: (since: string) => string[];
  /** Entries and lines as `utf8` text (default) or `latin1` byte strings; see the module comment. Warnings are always text. */
  readonly encoding?: LineEncoding;
}

/** What {@link readJournal} found. */
export interface JournalRead {
  readonly entries: JournalEntry[];
  /** The entries rendered as syslog file lines, same order. */
  readonly lines: string[];
  /** Notices for the report (first run) and journalctl's stderr, if any. */
  readonly warnings: string[];
  /** Stores the last entry's cursor (atomically) and touches `offset.journal`; not calling it changes nothing. */
  commit(): void;
}

/** Name of the cursor file in the state dir. */
export const CURSOR_FILE = 'journal-cursor';
/** logcheck's journal state file (only its mtime matters to logcheck). */
export const LOGCHECK_JOURNAL_OFFSET = 'offset.journal';

// A journal field in JSON output: a string, an array of bytes (not valid UTF-8), an array of those
// (the field repeats), or null (too large without --all).
function fieldBytes(v: unknown): string | Uint8Array | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((x) => typeof x === 'number')) return Uint8Array.from(v as number[]);
    // A repeated field: journalctl -o short shows the first value.
    return v.length > 0 ? fieldBytes(v[0]) : undefined;
  }
  return undefined;
}

function fieldText(v: unknown): string {
  const b = fieldBytes(v);
  if (b === undefined) return '';
  return typeof b === 'string' ? b : Buffer.from(b).toString('utf8');
}

// A field as a byte string: a string field is text (journalctl decoded valid UTF-8), so its UTF-8
// bytes; a byte array stays those bytes.
function fieldByteString(v: unknown): string {
  const b = fieldBytes(v);
  if (b === undefined) return '';
  return typeof b === 'string' ? Buffer.from(b, 'utf8').toString('latin1') : Buffer.from(b).toString('latin1');
}

/**
 * rsyslog's default escaping on receive (EscapeControlCharactersOnReceive on, EscapeControlCharacterTab
 * on, Escape8BitCharactersOnReceive off), on a byte string: every byte below 0x20 becomes `#` and three
 * octal digits; everything else, DEL and bytes from 0x80 up included, is left as it is. Pure.
 */
export function rsyslogEscapeBytes(bytes: string): string {
  // eslint-disable-next-line no-control-regex
  return bytes.replace(/[\x00-\x1f]/g, (c) => `#${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/**
 * Parses one line of `journalctl -o json`; undefined when it is not an entry with a cursor and a time.
 * `encoding` chooses text (default) or byte-string fields (see the module comment). Pure.
 */
export function parseJournalJson(line: string, encoding: LineEncoding = 'utf8'): JournalEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const cursor = r.__CURSOR;
  const us = fieldText(r.__REALTIME_TIMESTAMP);
  if (typeof cursor !== 'string' || !/^[0-9]{1,20}$/.test(us)) return undefined;
  const pidText = fieldText(r._PID) || fieldText(r.SYSLOG_PID);
  const time = Math.floor(Number(us) / 1000);
  const pid = /^[0-9]{1,10}$/.test(pidText) ? Number(pidText) : undefined;
  if (encoding === 'latin1') {
    const ident = fieldByteString(r.SYSLOG_IDENTIFIER) || fieldByteString(r._COMM);
    return {
      cursor,
      time,
      host: rsyslogEscapeBytes(fieldByteString(r._HOSTNAME)).replaceAll(' ', '_'),
      ident: rsyslogEscapeBytes(ident).replaceAll(' ', '_'),
      pid,
      message: rsyslogEscapeBytes(fieldByteString(r.MESSAGE)),
    };
  }
  const msg = fieldBytes(r.MESSAGE);
  // Identifiers and host names come from the logging process too: one line, no controls.
  return {
    cursor,
    time,
    host: escapeControl(fieldText(r._HOSTNAME)).replaceAll(' ', '_'),
    ident: escapeControl(fieldText(r.SYSLOG_IDENTIFIER) || fieldText(r._COMM)).replaceAll(' ', '_'),
    pid,
    message: msg === undefined ? '' : escapeControl(msg),
  };
}

/**
 * Renders an entry as rsyslog writes it in a traditional-format file. Pure (given `tz`). The result
 * is a byte string when the entry's fields are (the time stamp and separators are ASCII).
 */
export function renderJournalEntry(e: JournalEntry, tz: TimeZone = 'local'): string {
  const stamp = timestamp3164(e.time, tz);
  const host = e.host === '' ? 'localhost' : e.host;
  if (e.ident === '') return `${stamp} ${host} ${e.message}`;
  return `${stamp} ${host} ${e.ident}${e.pid === undefined ? '' : `[${e.pid}]`}: ${e.message}`;
}

/** The stored cursor, or undefined when there is none yet. */
export function readCursor(stateDir: string): string | undefined {
  try {
    const c = readFileSync(join(stateDir, CURSOR_FILE), 'utf8').trim();
    return c === '' ? undefined : c;
  } catch {
    return undefined;
  }
}

/**
 * The journalctl arguments for a run: where to start (cursor, logcheck's place, or `firstRunSince`)
 * and a notice for the report on a first run. Pure apart from reading the state dir.
 */
export function journalArgs(stateDir: string, opts: JournalOptions = {}): { args: string[]; notice: string[] } {
  const args = ['--no-pager', '--quiet', '--all', '--output=json'];
  if (opts.namespace !== undefined) args.push(`--namespace=${opts.namespace}`);
  if (opts.directory !== undefined) args.push(`--directory=${opts.directory}`);
  // Matches are validated (FIELD=value, field names as journald allows them) before they reach argv.
  for (const m of opts.matches ?? []) {
    if (!/^[A-Z0-9_]+=[^\n]*$/.test(m)) throw new Error(`not a journal match: ${JSON.stringify(m)}`);
    args.push(m);
  }
  const notice: string[] = [];
  const cursor = readCursor(stateDir);
  if (cursor !== undefined) args.push(`--after-cursor=${cursor}`);
  else {
    let mtime: number | undefined;
    try {
      mtime = Math.floor(statSync(join(stateDir, LOGCHECK_JOURNAL_OFFSET)).mtimeMs / 1000);
    } catch {
      mtime = undefined;
    }
    if (mtime !== undefined) args.push(`--since=@${mtime}`);
    else {
      const since = opts.firstRunSince ?? '-1h';
      args.push(`--since=${since}`);
      notice.push(
        ...(opts.firstRunNotice?.(since) ?? [
          'This is the first time logsentry has checked the systemd journal.',
          `Only recent entries (since ${since}) will be checked.`,
          'If you do not wish to check the systemd journal, set inputs.journal: off or remove the `journal` line from the logfiles lists.',
        ]),
      );
    }
  }
  return { args, notice };
}

/**
 * Reads the journal entries after the stored cursor (see the module comment) by running journalctl
 * with an argv array; its output is streamed, not buffered whole. Throws ExecError `EXEC_NOT_FOUND`
 * (no journalctl), `EXEC_FAILED` (non-zero exit, with its stderr) or `EXEC_TIMEOUT`.
 */
export async function readJournal(stateDir: string, opts: JournalOptions = {}): Promise<JournalRead> {
  const bin = opts.journalctl ?? 'journalctl';
  const { args, notice } = journalArgs(stateDir, opts);
  const argv = [bin, ...args];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const entries: JournalEntry[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 300_000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  try {
    const rl = createInterface({ input: child.stdout, crlfDelay: Infinity });
    for await (const line of rl) {
      const e = parseJournalJson(line, opts.encoding);
      if (e !== undefined) entries.push(e);
    }
  } finally {
    clearTimeout(timer);
  }
  const r = await exited;
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new ExecError(code === 'ENOENT' || code === 'EACCES' ? 'EXEC_NOT_FOUND' : 'EXEC_FAILED', `cannot run ${bin}: ${r.error.message}`, { argv, cause: r.error });
  }
  if (timedOut) throw new ExecError('EXEC_TIMEOUT', `${bin} did not finish in time`, { argv, signal: 'SIGKILL', stderr });
  if (r.code !== 0) {
    throw new ExecError(r.signal !== null ? 'EXEC_SIGNALED' : 'EXEC_FAILED', `${bin} failed (${r.signal ?? `exit ${r.code}`}): ${stderr.trim()}`, { argv, status: r.code, signal: r.signal, stderr });
  }
  const tz = opts.tz ?? 'local';
  const warnings = [...notice];
  if (stderr.trim() !== '') warnings.push(`journalctl: ${stderr.trim()}`);
  const last = entries[entries.length - 1];
  let committed = false;
  return {
    entries,
    lines: entries.map((e) => renderJournalEntry(e, tz)),
    warnings,
    commit(): void {
      if (committed) return;
      committed = true;
      // No new entry: the stored cursor is still right; a first run with none still starts a place.
      if (last !== undefined) writeFileAtomic(join(stateDir, CURSOR_FILE), `${last.cursor}\n`, { mode: 0o640 });
      touchFile(join(stateDir, LOGCHECK_JOURNAL_OFFSET));
    },
  };
}
