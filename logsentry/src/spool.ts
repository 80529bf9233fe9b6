/**
 * The report spool: every report is written durably to `<state_dir>/spool/` before it is mailed and
 * removed only after the mail server accepted it, so a report is never lost to a mail outage, a crash
 * or a kill.
 *
 * Run order that gives exactly-once reading and at-least-once delivery (the caller holds the run lock):
 *  1. {@link pendingSpooled}: for every spooled entry, re-apply its `commit` (the log offsets after
 *     the lines it reports). Idempotent; it repairs a run killed between steps 3 and 4.
 *  2. Read the logs from the offsets, render the report.
 *  3. {@link spool} the report together with the new offsets as its `commit`. The atomic rename of
 *     the spool file is THE commit point of the run: before it nothing happened (the next run reads
 *     the same lines again), after it the lines are owned by the spool.
 *  4. Write the new offsets (the same `commit`).
 *  5. {@link deliverSpooled}: oldest first; each entry is removed only after the server's 250 for DATA.
 *     On the first failure it stops and throws (LS_SMTP_*): the run exits non-zero, the entries stay
 *     and the next run sends them first, in order.
 *
 * The one at-least-once window is in step 5, between the server accepting a message and the unlink
 * of its file (or a connection lost after the final `.` and before the 250): the next run sends that
 * report again. SMTP cannot close that window (RFC 1047), and erring there is the right side: a
 * duplicate security report costs a glance, a lost one can hide an intrusion. Each entry keeps one
 * Message-ID for all its attempts, so a duplicate is recognisable (and dropped by MTAs or MUAs that
 * deduplicate). Advancing offsets only after delivery would instead report lines twice (the spooled
 * report and a re-read) and lose lines rotated away during a long outage.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TriSentryError, writeFileAtomic } from '@trisentry/shared';

/** The report as mailed: subject and body (see renderReport). */
export interface OutgoingReport {
  readonly subject: string;
  /** Text, or a byte string when `bytes` is true. */
  readonly body: string;
  /** The body is a byte string, mailed as those bytes (see MailReport.bytes). Absent: text (entries spooled before this flag existed are text). */
  readonly bytes?: boolean;
}

/** A JSON value: what `commit` may hold. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [k: string]: JsonValue };

/** One report waiting in the spool. */
export interface SpooledReport extends OutgoingReport {
  /** File name in the spool directory; names sort oldest first. */
  readonly id: string;
  /** `<...@host>`: the same for every attempt to send this report. */
  readonly messageId: string;
  /** When it was spooled (ISO 8601). */
  readonly created: string;
  /** Caller data stored with the report (the log offsets it covers); null when none was given. */
  readonly commit: JsonValue;
}

/** A spool error (LS_SPOOL): the directory or an entry cannot be written, read or removed. */
export class SpoolError extends TriSentryError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('LS_SPOOL', `${path}: ${message}`, options);
    this.path = path;
  }
}

/** The spool directory inside a state directory. */
export function spoolDirOf(stateDir: string): string {
  return join(stateDir, 'spool');
}

// <12-digit sequence>-<16 hex>.json: the sequence orders, the random part keeps two writers apart.
const ENTRY = /^([0-9]{12})-[0-9a-f]{16}\.json$/;

/** Entry file names in the spool, oldest first. A missing directory is an empty spool. */
function entryNames(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new SpoolError(dir, `cannot list the spool: ${(e as Error).message}`, { cause: e });
  }
  // Temporary files of writeFileAtomic start with '.', quarantined ones end in .corrupt: neither matches.
  return names.filter((n) => ENTRY.test(n)).sort();
}

/**
 * Writes `report` (with `commit`, e.g. the offsets after the reported lines) to the spool atomically
 * and durably (fsync of file and directory) and returns the entry. When this returns, the report
 * survives a crash; when it throws (SpoolError LS_SPOOL), nothing was spooled. `host` goes into the
 * Message-ID.
 */
export function spool(dir: string, report: OutgoingReport, opts: { commit?: JsonValue; host?: string; now?: Date } = {}): SpooledReport {
  const names = entryNames(dir);
  const last = names.length > 0 ? Number(ENTRY.exec(names[names.length - 1]!)![1]) : 0;
  const rand = randomBytes(8).toString('hex');
  const id = `${String(last + 1).padStart(12, '0')}-${rand}.json`;
  const host = (opts.host ?? 'localhost').replace(/[^A-Za-z0-9.-]/g, '') || 'localhost';
  const entry: SpooledReport = {
    id,
    subject: report.subject,
    body: report.body,
    // Written only when set, so a text entry reads exactly as before.
    ...(report.bytes === true ? { bytes: true } : {}),
    messageId: `<logsentry.${String(last + 1)}.${rand}@${host}>`,
    created: (opts.now ?? new Date()).toISOString(),
    commit: opts.commit ?? null,
  };
  try {
    writeFileAtomic(join(dir, id), `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  } catch (e) {
    throw new SpoolError(join(dir, id), `cannot spool the report: ${(e as Error).message}`, { cause: e });
  }
  return entry;
}

function isSpooled(v: unknown, id: string): v is SpooledReport {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    o['id'] === id &&
    typeof o['subject'] === 'string' &&
    typeof o['body'] === 'string' &&
    (o['bytes'] === undefined || typeof o['bytes'] === 'boolean') &&
    typeof o['messageId'] === 'string' &&
    typeof o['created'] === 'string' &&
    'commit' in o
  );
}

/** The result of reading the spool. */
export interface SpoolContents {
  /** Entries oldest first. */
  readonly entries: readonly SpooledReport[];
  /** Entries that could not be parsed, renamed to `<name>.corrupt` (kept for the administrator, never sent or deleted). */
  readonly quarantined: readonly string[];
}

/**
 * Reads every spooled report, oldest first. An entry that is not a valid report (only possible by
 * outside damage: entries are written atomically) is renamed to `.corrupt` and listed in
 * `quarantined`, so one bad file cannot block delivery forever. Throws SpoolError when the directory
 * or an entry cannot be read.
 */
export function pendingSpooled(dir: string): SpoolContents {
  const entries: SpooledReport[] = [];
  const quarantined: string[] = [];
  for (const name of entryNames(dir)) {
    const path = join(dir, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      // Removed by a concurrent delivery: nothing left to do with it.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new SpoolError(path, `cannot read: ${(e as Error).message}`, { cause: e });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (isSpooled(parsed, name)) {
      entries.push(parsed);
      continue;
    }
    try {
      renameSync(path, `${path}.corrupt`);
    } catch (e) {
      throw new SpoolError(path, `not a spooled report and cannot be set aside: ${(e as Error).message}`, { cause: e });
    }
    quarantined.push(`${path}.corrupt`);
  }
  return { entries, quarantined };
}

/** Removes a delivered entry durably (unlink, then fsync of the directory). Gone already is fine. */
export function removeSpooled(dir: string, entry: SpooledReport): void {
  const path = join(dir, entry.id);
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SpoolError(path, `cannot remove a delivered report: ${(e as Error).message}`, { cause: e });
  }
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; a resurrected entry only means one duplicate.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** What {@link deliverSpooled} did. */
export interface DeliveryResult {
  /** Ids sent and removed, in order. */
  readonly delivered: readonly string[];
  /** Entries set aside as corrupt (see {@link pendingSpooled}). */
  readonly quarantined: readonly string[];
}

/**
 * Sends every spooled report oldest first through `send`, removing each only after `send` resolved
 * (the server accepted it). On the first rejection it stops and rethrows that error (LS_SMTP_* from
 * the mailer): that entry and all newer ones stay, in order, for the next run. Returns what was sent.
 */
export async function deliverSpooled(dir: string, send: (report: SpooledReport) => Promise<unknown>): Promise<DeliveryResult> {
  const { entries, quarantined } = pendingSpooled(dir);
  const delivered: string[] = [];
  for (const entry of entries) {
    await send(entry);
    removeSpooled(dir, entry);
    delivered.push(entry.id);
  }
  return { delivered, quarantined };
}
