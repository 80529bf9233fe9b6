/**
 * PortSentry 1.2's two record files, written byte-for-byte as 1.2's `WriteBlocked` wrote them:
 *
 *   EPOCH - MM/DD/YYYY HH:MM:SS Host: NAME/IP Port: N TCP|UDP Blocked\n
 *
 * (`%ld - %02d/%02d/%04d %02d:%02d:%02d Host: %s/%s Port: %d %s Blocked\n`, the date in local time.)
 * - HISTORY_FILE is append-only and kept forever; fail2ban's stock `portsentry` filter reads it.
 * - BLOCKED_FILE gets "." and the mode appended (`portsentry.blocked.atcp`), is emptied at start, and
 *   tells 1.2's `IsBlocked` which addresses were already dealt with.
 *
 * Every line is one write(2) on a descriptor opened with O_APPEND, so two writers (six modes may run at
 * once, each its own process) never interleave inside a line. New files are created mode 0600: they
 * name attackers and are nobody else's business.
 */
import { constants, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { FileStateError, parseAddress, tryParseAddress, writeFileAtomic, type Mode } from '@trisentry/shared';

/** The protocol word of a record line. */
export type RecordProto = 'TCP' | 'UDP';

/** 1.2 kept the resolved name in a 255-byte buffer (DNSMAXBUF) through snprintf: 254 characters at most. */
const MAX_NAME = 254;

/**
 * Control characters (C0, DEL, C1), Unicode format characters (bidi overrides), line and paragraph
 * separators, and lone surrogates: none of them may enter a record line, whose reader splits on lines.
 */
const UNSAFE_NAME_CHARS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/**
 * Makes a resolved host name safe for a record line: unsafe characters removed, cut to 254 characters
 * (never inside a surrogate pair). An empty result gives `fallback` (the address), as 1.2 printed the
 * address when a name could not be had.
 */
export function sanitizeHostName(name: string, fallback: string): string {
  let s = name.replace(UNSAFE_NAME_CHARS, '');
  if (s.length > MAX_NAME) {
    s = s.slice(0, MAX_NAME);
    // A high surrogate left at the end would be a lone surrogate once cut.
    if (/[\uD800-\uDBFF]$/.test(s)) s = s.slice(0, -1);
  }
  return s === '' ? fallback : s;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function tzParts(date: Date, tz: string): { mon: number; day: number; year: number; h: number; m: number; s: number } {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    formatters.set(tz, f);
  }
  const get = (parts: Intl.DateTimeFormatPart[], type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value ?? NaN);
  const parts = f.formatToParts(date);
  return { mon: get(parts, 'month'), day: get(parts, 'day'), year: get(parts, 'year'), h: get(parts, 'hour'), m: get(parts, 'minute'), s: get(parts, 'second') };
}

const p2 = (n: number): string => String(n).padStart(2, '0');

/**
 * One record line exactly as 1.2 printed it, newline included. Pure. `epochMs` is cut to whole seconds
 * (1.2 used time(0)); the date is in the process's local time zone (TZ), or in `tz` (an IANA name) when
 * given. `name` goes through {@link sanitizeHostName}; `ip` must be the printed form of a parsed address.
 */
export function formatBlockedLine(epochMs: number, name: string, ip: string, port: number, proto: RecordProto, tz?: string): string {
  const secs = Math.floor(epochMs / 1000);
  const date = new Date(secs * 1000);
  const t =
    tz === undefined
      ? { mon: date.getMonth() + 1, day: date.getDate(), year: date.getFullYear(), h: date.getHours(), m: date.getMinutes(), s: date.getSeconds() }
      : tzParts(date, tz);
  const when = `${p2(t.mon)}/${p2(t.day)}/${String(t.year).padStart(4, '0')} ${p2(t.h)}:${p2(t.m)}:${p2(t.s)}`;
  return `${secs} - ${when} Host: ${sanitizeHostName(name, ip)}/${ip} Port: ${Math.trunc(port)} ${proto} Blocked\n`;
}

/** A parsed record line. */
export interface BlockedRecord {
  readonly epoch: number;
  readonly name: string;
  /** The address, re-printed canonically. */
  readonly ip: string;
  readonly port: number;
  readonly proto: RecordProto;
}

const LINE_HEAD = /^(\d{1,15}) - \d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d Host: /;
const LINE_TAIL = / Port: (\d{1,5}) (TCP|UDP) Blocked$/;

/**
 * Parses one record line (without its newline). Returns undefined for anything else. The address is
 * the text after the last "/" of the host field, so a name holding "/" cannot hide it.
 */
export function parseBlockedLine(line: string): BlockedRecord | undefined {
  const head = LINE_HEAD.exec(line);
  const tail = LINE_TAIL.exec(line);
  if (!head || !tail || tail.index < head[0].length) return undefined;
  const host = line.slice(head[0].length, tail.index);
  const slash = host.lastIndexOf('/');
  if (slash < 0) return undefined;
  const addr = tryParseAddress(host.slice(slash + 1));
  const port = Number(tail[1]);
  if (!addr || port > 65535) return undefined;
  return { epoch: Number(head[1]), name: host.slice(0, slash), ip: addr.toString(), port, proto: tail[2] as RecordProto };
}

/** The addresses of a blocked file, with the number of lines that were not record lines. */
export class BlockedAddresses extends Set<string> {
  /** Non-empty lines that did not parse as record lines (skipped, as 1.2 skipped lines without the address). */
  garbageLines = 0;
}

/**
 * Reads a blocked (or history) file: the canonical address of every record line. A missing file is an
 * empty set (1.2: "Will create."); lines that are not records are skipped and counted in
 * `garbageLines`. Any other read failure is FileStateError `FS_READ`.
 */
export function readBlocked(path: string): BlockedAddresses {
  const out = new BlockedAddresses();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw new FileStateError('FS_READ', path, `cannot read blocked file: ${(e as Error).message}`, { cause: e });
  }
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const rec = parseBlockedLine(line);
    if (rec) out.add(rec.ip);
    else out.garbageLines++;
  }
  return out;
}

function writeError(path: string, e: unknown, what: string): FileStateError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOENT' ? 'its directory does not exist' : err.message;
  return new FileStateError('FS_WRITE', path, `cannot ${what}: ${why}`, { cause: e });
}

/**
 * Appends `data` to `path` with one write(2) on an O_APPEND descriptor (created 0600 when missing).
 * Throws FileStateError `FS_WRITE` naming the path.
 */
export async function appendOneWrite(path: string, data: string, mode = 0o600): Promise<void> {
  const buf = Buffer.from(data, 'utf8');
  let fh;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, mode);
  } catch (e) {
    throw writeError(path, e, 'open for appending');
  }
  try {
    const { bytesWritten } = await fh.write(buf, 0, buf.length);
    // A regular file takes a short line whole; a short write means the disk is full or a quota hit.
    if (bytesWritten !== buf.length) throw new Error(`short write (${bytesWritten} of ${buf.length} bytes)`);
  } catch (e) {
    throw writeError(path, e, 'append');
  } finally {
    await fh.close();
  }
}

/** Options for {@link BlockFiles}. */
export interface BlockFilesOptions {
  /** HISTORY_FILE; undefined = no history kept. */
  readonly historyFile?: string | undefined;
  /** BLOCKED_FILE without its mode suffix; undefined = no blocked file. */
  readonly blockedFile?: string | undefined;
  /** The detection mode, appended to the blocked file's name as 1.2 did. */
  readonly mode: Mode;
}

/** One detection to record. */
export interface BlockEntry {
  readonly epochMs: number;
  /** The resolved name, or the address when not resolved; sanitised before it is written. */
  readonly name: string;
  /** The printed form of a parsed address. */
  readonly ip: string;
  readonly port: number;
  readonly proto: RecordProto;
}

/** The history file and this mode's blocked file. */
export class BlockFiles {
  /** `BLOCKED_FILE.<mode>`, or undefined when no blocked file is configured. */
  readonly blockedPath: string | undefined;
  /** HISTORY_FILE, or undefined. */
  readonly historyPath: string | undefined;
  readonly #tz: string | undefined;

  /** `tz` is for tests only (see {@link formatBlockedLine}); the daemon uses local time as 1.2 did. */
  constructor(opts: BlockFilesOptions & { readonly tz?: string }) {
    this.blockedPath = opts.blockedFile === undefined ? undefined : `${opts.blockedFile}.${opts.mode}`;
    this.historyPath = opts.historyFile;
    this.#tz = opts.tz;
  }

  /** Empties `BLOCKED_FILE.<mode>` (1.2 did at start), creating it 0600. Throws FileStateError FS_WRITE. */
  async reset(): Promise<void> {
    if (this.blockedPath === undefined) return;
    let fh;
    try {
      fh = await open(this.blockedPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    } catch (e) {
      throw writeError(this.blockedPath, e, 'empty the blocked file');
    }
    await fh.close();
  }

  /**
   * Appends the record line to the blocked file and to the history file. Both are attempted even when
   * the first fails (as 1.2 did); then the first failure is thrown as FileStateError `FS_WRITE`, its
   * message naming the other failure too. Throws AddressError when `ip` is not an address.
   */
  async record(entry: BlockEntry): Promise<void> {
    // Re-parsed so that only an address's printed form can ever stand where the address goes.
    const ip = parseAddress(entry.ip).toString();
    const line = formatBlockedLine(entry.epochMs, entry.name, ip, entry.port, entry.proto, this.#tz);
    const failures: FileStateError[] = [];
    for (const path of [this.blockedPath, this.historyPath]) {
      if (path === undefined) continue;
      try {
        await appendOneWrite(path, line);
      } catch (e) {
        if (e instanceof FileStateError) failures.push(e);
        else throw e;
      }
    }
    const [first, second] = failures;
    if (first && second) throw new FileStateError('FS_WRITE', first.path, `${first.message.slice(first.path.length + 2)}; also ${second.message}`, { cause: first });
    if (first) throw first;
  }

  /**
   * Removes every line for `ip` (any spelling of the same address) from the blocked file by an atomic
   * rewrite; other lines, garbage included, are kept as they were. Returns how many lines went. A
   * missing file removes nothing. Throws AddressError for a bad `ip`, FileStateError on I/O failure.
   * An append racing the rewrite can be lost; `portsentry unblock` is an administrator's act.
   */
  async removeBlocked(ip: string): Promise<number> {
    const path = this.blockedPath;
    if (path === undefined) return 0;
    const want = parseAddress(ip).toString();
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw new FileStateError('FS_READ', path, `cannot read blocked file: ${(e as Error).message}`, { cause: e });
    }
    const lines = text.split('\n');
    const last = lines.pop(); // '' when the file ends with a newline
    const kept: string[] = [];
    let removed = 0;
    for (const line of last === '' || last === undefined ? lines : [...lines, last]) {
      if (parseBlockedLine(line)?.ip === want) removed++;
      else kept.push(line);
    }
    if (removed > 0) writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''), { mode: 0o600, mkdirs: false });
    return removed;
  }
}
