/**
 * logsentry's inputs: one run's new lines from every listed log file and the journal, with one
 * commit for all of them (the caller commits only after the report was accepted; `-t` never does).
 *
 * Everything handed on is a byte string (one char per byte), as logcheck's grep/sed/sort see the
 * logs in the C locale: files are read as latin1, the journal with encoding `latin1`, and our own
 * warnings (Unicode text) are turned into their UTF-8 bytes.
 */
import { readJournal, readNew } from '@trisentry/shared';
import type { JournalOptions, JournalRead, LineEncoding, LogRead, ReadNewOptions } from '@trisentry/shared';
import { dropJournalDuplicates, normalizeTimestamp } from './lines.js';

export { readLogLists, parseLogList, type LogList } from './listfiles.js';
export {
  readNew,
  offsetFileName,
  fingerprintFileName,
  readOffsetFile,
  formatOffsetFile,
  listGenerations,
  shrinkWarning,
  rewriteWarning,
  type LogRead,
  type LogOffset,
  type ReadNewOptions,
  type LineEncoding,
} from '@trisentry/shared';
export {
  readJournal,
  journalArgs,
  readCursor,
  parseJournalJson,
  renderJournalEntry,
  rsyslogEscapeBytes,
  CURSOR_FILE,
  LOGCHECK_JOURNAL_OFFSET,
  type JournalEntry,
  type JournalOptions,
  type JournalRead,
} from '@trisentry/shared';
export { normalizeTimestamp, eventKey, dropJournalDuplicates } from './lines.js';

/** Where a stretch of {@link InputsRead.texts} came from: texts[from, to) of one source. */
export interface InputSource {
  /** The log file's path, or `journal`. */
  readonly source: string;
  readonly from: number;
  readonly to: number;
}

/** Unicode text as the byte string of its UTF-8 encoding (what a file holding that text reads as in latin1). */
export function toByteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** What to read in one run. */
export interface InputPlan {
  readonly files: readonly string[];
  readonly journal: boolean;
  /** Rewrite RFC 3339 timestamps to the traditional form (inputs.normalize_timestamps). */
  readonly normalizeTimestamps: boolean;
}

/** All new lines of one run. */
export interface InputsRead {
  /** Every new line for the rules, as byte strings (normalised when asked): files in plan order, then the journal. */
  readonly texts: string[];
  /** Which source each stretch of `texts` came from, in order. (Parallel data, not an object per line: a run can read millions.) */
  readonly sources: readonly InputSource[];
  /** Warnings for the report (tampering, unreadable files, first journal run), as byte strings. */
  readonly warnings: string[];
  /** Some file had more than `maxBytes` new: commit, then read again. */
  readonly more: boolean;
  /** Commits every file's offset and the journal cursor; a failure throws FileStateError FS_WRITE. */
  commit(): void;
}

/**
 * Reads every file of the plan (in order) and then the journal. Journal entries also present in a
 * file read in this run are dropped (see {@link dropJournalDuplicates}). `now` is the run's start,
 * giving traditional timestamps their year for that comparison. Journal failures propagate (the
 * caller decides whether a run without the journal is acceptable); file problems are warnings.
 * Lines and warnings are byte strings (see the module comment): `encoding` in `opts` is overridden.
 */
export async function readInputs(
  plan: InputPlan,
  stateDir: string,
  now: number,
  opts: { readonly file?: ReadNewOptions; readonly journal?: JournalOptions } = {},
): Promise<InputsRead> {
  const reads: LogRead[] = [];
  const encoding: LineEncoding = 'latin1';
  for (const f of plan.files) reads.push(await readNew(f, stateDir, { ...opts.file, encoding }));
  let journal: JournalRead | undefined;
  // Both sides byte strings, so dropJournalDuplicates compares a file line with an entry byte for byte.
  if (plan.journal) journal = await readJournal(stateDir, { ...opts.journal, encoding });
  const norm = plan.normalizeTimestamps ? normalizeTimestamp : (s: string): string => s;
  let texts: string[] = [];
  const sources: InputSource[] = [];
  const warnings: string[] = [];
  for (const r of reads) {
    warnings.push(...r.warnings.map(toByteString));
    const from = texts.length;
    // A single file (the usual big batch) is normalised in place, not copied.
    if (reads.length === 1 && journal === undefined) {
      for (let k = 0; k < r.lines.length; k++) r.lines[k] = norm(r.lines[k]!);
      texts = r.lines;
    } else for (const l of r.lines) texts.push(norm(l));
    if (texts.length > from) sources.push({ source: r.path, from, to: texts.length });
  }
  if (journal !== undefined) {
    warnings.push(...journal.warnings.map(toByteString));
    const fileLines = reads.flatMap((r) => r.lines);
    const keep = new Set(dropJournalDuplicates(fileLines, journal.entries, now));
    const from = texts.length;
    journal.entries.forEach((e, i) => {
      if (keep.has(e)) texts.push(journal.lines[i]!);
    });
    if (texts.length > from) sources.push({ source: 'journal', from, to: texts.length });
  }
  return {
    texts,
    sources,
    warnings,
    more: reads.some((r) => r.more),
    commit(): void {
      for (const r of reads) r.commit();
      journal?.commit();
    },
  };
}
