/**
 * Reading sshd's lines: from log files (Debian's auth.log) through the shared `readNew` (logtail2
 * offset files, rotation-aware) or from the systemd journal through `readJournal` (by cursor), as
 * `inputs.sshd.source` says. Parsing is the pure core (`core/sshd.ts`); this file does the I/O.
 *
 * Like the wtmp reader, nothing is stored until the caller calls `commit()` after handling the
 * events, so a crash re-reads instead of losing logins. Bad lines never throw: they are counted.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { ExecError, YearInferrer, parseLogLine, readJournal, readNew } from '@trisentry/shared';
import type { JournalEntry, JournalOptions, JournalRead, LogLine, TimeZone } from '@trisentry/shared';
import { SSHD_PROGRAMS, sshdEvent, type SshdEvent } from '../core/sshd.js';

/** `inputs.sshd.source`: where sshd lines come from. */
export type SshdSource = 'auto' | 'files' | 'journal' | 'off';

/** Options of {@link readSshd}. */
export interface ReadSshdOptions {
  readonly source: SshdSource;
  /** Log files holding sshd lines (source `files`, and `auto`). */
  readonly files: readonly string[];
  /** Where offset files and the journal cursor are kept (e.g. `<database>.d/sshd/`); created (0750) if missing. */
  readonly stateDir: string;
  /** Passed to readJournal (journalctl binary, namespace, directory, first-run `--since`). */
  readonly journal?: JournalOptions;
  /** Zone of traditional (year-less, zone-less) timestamps in the files; default the process's. */
  readonly tz?: TimeZone;
  /**
   * Reference time (epoch ms) for the year of traditional timestamps; default each file's mtime,
   * which is never earlier than its lines, so a December line read in January gets last year.
   */
  readonly refTime?: number;
  /** Per file, most bytes read per call (readNew's maxBytes). */
  readonly maxBytes?: number;
}

/** Counts of lines read but not turned into events. */
export interface SshdCounts {
  /** All lines read. */
  lines: number;
  /** Lines of other programs (auth.log also holds sudo, cron, login, ...). */
  other: number;
  /** sshd lines not understood (unknown wording, no time, too long). */
  unparsed: number;
}

/** What one {@link readSshd} call found. */
export interface SshdRead {
  /** The source actually read (`auto` resolved). */
  readonly source: 'files' | 'journal' | 'off';
  /** Files read (source files); [] otherwise. */
  readonly files: readonly string[];
  /** Events in read order (per file, oldest first). */
  readonly events: SshdEvent[];
  readonly counts: SshdCounts;
  /** readNew's / readJournal's warnings (shrunk or rewritten log, lost rotation, first journal run). */
  readonly warnings: string[];
  /** True when a file had more than maxBytes of new lines: commit, then call again. */
  readonly more: boolean;
  /** Stores every file's new offset (or the journal cursor). Not calling it changes nothing. */
  commit(): void;
}

/**
 * The files `auto` would read: those of `files` that exist. Empty means `auto` uses the journal.
 */
export function existingFiles(files: readonly string[]): string[] {
  return files.filter((f) => existsSync(f));
}

function mtimeOf(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * A journal entry as a {@link LogLine}, built from its fields rather than re-parsing the rendered
 * line: the journal's own time (ms, with its zone) beats a year-less traditional timestamp.
 */
export function journalLogLine(e: JournalEntry, rendered: string): LogLine {
  return {
    time: e.time,
    timestamp: new Date(e.time).toISOString(),
    utcOffsetMin: 0,
    host: e.host,
    program: e.ident,
    pid: e.pid,
    tag: e.ident === '' ? '' : `${e.ident}${e.pid === undefined ? '' : `[${e.pid}]`}:`,
    message: e.message,
    raw: rendered,
    format: 'rfc3339',
  };
}

function count(lines: Iterable<LogLine>, events: SshdEvent[], counts: SshdCounts): void {
  for (const l of lines) {
    counts.lines++;
    if (!SSHD_PROGRAMS.includes(l.program)) {
      counts.other++;
      continue;
    }
    const e = sshdEvent(l);
    if (e === undefined) counts.unparsed++;
    else events.push(e);
  }
}

/**
 * Reads the sshd lines added since the last commit. Source `files`: every listed file with
 * `readNew` (a missing one gives readNew's warning); `auto`: the listed files that exist, or the
 * journal when none does (and no journalctl then means no events and a warning, not an error);
 * `journal`: journalctl from the stored cursor, matching SYSLOG_IDENTIFIER to sshd's programs, so
 * only sshd's entries are read (and kept again by program, as lines from files are). Never throws for line contents;
 * throws readNew's I/O errors and (source `journal`) ExecError from journalctl.
 */
export async function readSshd(opts: ReadSshdOptions): Promise<SshdRead> {
  const events: SshdEvent[] = [];
  const counts: SshdCounts = { lines: 0, other: 0, unparsed: 0 };
  const warnings: string[] = [];
  let source: SshdRead['source'];
  let files: string[] = [];
  switch (opts.source) {
    case 'off':
      source = 'off';
      break;
    case 'files':
      source = 'files';
      files = [...opts.files];
      break;
    case 'auto':
      files = existingFiles(opts.files);
      source = files.length > 0 ? 'files' : 'journal';
      break;
    case 'journal':
      source = 'journal';
      break;
    default: {
      const never: never = opts.source;
      throw new Error(`unreachable: ${String(never)}`);
    }
  }

  if (source === 'off') return { source, files, events, counts, warnings, more: false, commit: () => undefined };
  // The readers write their place here on commit, and neither creates the directory.
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o750 });

  if (source === 'journal') {
    let read: JournalRead;
    try {
      // Only sshd's entries leave journalctl (the program filter below stays, for entries without an identifier).
      read = await readJournal(opts.stateDir, {
        matches: SSHD_PROGRAMS.map((p) => `SYSLOG_IDENTIFIER=${p}`),
        firstRunNotice: (since) => [`hostsentry: first read of sshd's journal entries: only those since ${since} are read`],
        ...opts.journal,
      });
    } catch (e) {
      if (opts.source === 'auto' && e instanceof ExecError && e.code === 'EXEC_NOT_FOUND') {
        warnings.push(`hostsentry: no sshd log: none of ${opts.files.join(', ') || '(no files)'} exists and journalctl cannot be run`);
        return { source, files, events, counts, warnings, more: false, commit: () => undefined };
      }
      throw e;
    }
    warnings.push(...read.warnings);
    const lines: LogLine[] = [];
    read.entries.forEach((e, i) => lines.push(journalLogLine(e, read.lines[i] ?? '')));
    count(lines, events, counts);
    return { source, files, events, counts, warnings, more: false, commit: () => read.commit() };
  }

  const commits: (() => void)[] = [];
  let more = false;
  for (const path of files) {
    const r = await readNew(path, opts.stateDir, { tool: 'hostsentry', ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }) });
    warnings.push(...r.warnings);
    more ||= r.more;
    commits.push(() => r.commit());
    // One inferrer per file: its reference is the file's mtime, read after readNew, so not earlier than any line read.
    const ref = opts.refTime ?? mtimeOf(path) ?? Date.now();
    const years = new YearInferrer({ refTime: ref, tz: opts.tz ?? 'local' });
    count(
      r.lines.map((l) => parseLogLine(l, { years })),
      events,
      counts,
    );
  }
  return {
    source,
    files,
    events,
    counts,
    warnings,
    more,
    commit(): void {
      for (const c of commits) c();
    },
  };
}
