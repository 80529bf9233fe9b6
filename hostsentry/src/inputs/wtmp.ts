/**
 * Reading wtmp as it grows and rotates, and utmp once at start-up.
 *
 * Like logtail, the position is an (inode, offset) pair kept in a state file. A read starts there,
 * decodes whole records in bounded chunks, and returns them with a `commit()` that stores the new
 * position; nothing is stored until the caller has handled the records, so a crash re-reads instead
 * of losing records. Decoding is the pure core (`core/utmp.ts`); this file only does the I/O.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { readJsonState, writeJsonAtomic, FileStateError } from '@trisentry/shared';
import {
  GLIBC_X86_64,
  countBad,
  decodeRecords,
  toLoginRecord,
  type BadCount,
  type LoginOrigin,
  type LoginRecord,
  type UtmpLayout,
} from '../core/utmp.js';

/** The stored position in wtmp. */
export interface WtmpPosition {
  readonly inode: number;
  readonly offset: number;
  /**
   * SHA-256 (hex) of the file's first record, '' while it has none. Filesystems reuse a freed inode
   * at once, so a wtmp deleted and recreated often keeps its inode number; the first record tells the
   * two files apart.
   */
  readonly head: string;
}

/** Something about the file itself (not a record) a reader must report. */
export type WtmpNote =
  | { readonly kind: 'tamper'; readonly detail: string; readonly inode: number; readonly size: number; readonly offset: number }
  | { readonly kind: 'rotated'; readonly detail: string; readonly from: string }
  | { readonly kind: 'rotated-lost'; readonly detail: string; readonly inode: number; readonly offset: number }
  | { readonly kind: 'missing'; readonly detail: string };

/** Options for {@link readWtmp}. */
export interface ReadWtmpOptions {
  /** At most this many bytes are read per call (rounded down to whole records). Default 4 MiB. */
  readonly maxBytes?: number;
  readonly layout?: UtmpLayout;
}

/** The outcome of one {@link readWtmp} call. */
export interface WtmpRead {
  /** Login events in file order (the rotated file's tail first). */
  readonly records: LoginRecord[];
  /** Bad records per reason. */
  readonly bad: BadCount[];
  readonly notes: WtmpNote[];
  /** True when the byte cap stopped the read before the end: call again (after commit) for the rest. */
  readonly more: boolean;
  /** The position after this read; stored by `commit`. */
  readonly position: WtmpPosition;
  /** Stores `position` atomically in the state file (no-op without one). Throws FileStateError FS_WRITE. */
  commit(): void;
}

const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

function loadPosition(stateFile: string | undefined): WtmpPosition | undefined {
  if (stateFile === undefined) return undefined;
  const v = readJsonState(stateFile);
  if (v === undefined) return undefined;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const head = o['head'] ?? '';
    if (Number.isSafeInteger(o['inode']) && Number.isSafeInteger(o['offset']) && (o['offset'] as number) >= 0 && typeof head === 'string') {
      return { inode: o['inode'] as number, offset: o['offset'] as number, head };
    }
  }
  // A state file we cannot trust must not silently become "start over": that would replay history.
  throw new FileStateError('FS_READ', stateFile, 'not a wtmp position ({inode, offset})');
}

/** The inode of `path` and its {@link WtmpPosition.head}, or undefined when it does not exist. */
function identify(path: string, rs: number): { inode: number; head: string } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return { inode: fstatSync(fd).ino, head: headOf(fd, rs) };
  } finally {
    closeSync(fd);
  }
}

function headOf(fd: number, rs: number): string {
  const b = Buffer.alloc(rs);
  let got = 0;
  while (got < rs) {
    const n = readSync(fd, b, got, rs - got, got);
    if (n === 0) return '';
    got += n;
  }
  return createHash('sha256').update(b).digest('hex');
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

let ZERO = Buffer.alloc(0);
/** `n` zero bytes (one shared buffer, grown on demand). */
function zeroes(n: number): Buffer {
  if (ZERO.length < n) ZERO = Buffer.alloc(n);
  return ZERO.subarray(0, n);
}

interface Segment {
  records: LoginRecord[];
  bad: BadCount[];
  /** The offset after the last whole record read. */
  end: number;
  /** Bytes left unread because of the cap. */
  more: boolean;
  inode: number;
  head: string;
}

/**
 * Reads whole records of `path` from `from`, at most `budget` bytes, stopping before a torn tail.
 */
function readSegment(path: string, from: number, budget: number, layout: UtmpLayout, origin: LoginOrigin): Segment {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    const size = st.size;
    const records: LoginRecord[] = [];
    const bad: BadCount[] = [];
    const rs = layout.recordSize;
    // One buffer per call, reused per chunk: a sparse 10 GB file never costs more than the cap.
    const chunk = Math.max(rs, Math.min(budget, 1024 * 1024) - (Math.min(budget, 1024 * 1024) % rs));
    const buf = Buffer.allocUnsafe(chunk);
    let pos = from;
    let left = budget;
    while (pos < size && left >= rs) {
      const want = Math.min(chunk, size - pos, left - (left % rs));
      let got = 0;
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, pos + got);
        if (n === 0) break; // truncated under us: decode what we have
        got += n;
      }
      // A run of zeroes (a hole in a sparse file, or a wiped stretch) is counted in bulk: one native
      // compare instead of a decode per record, so a 10 GB sparse wtmp takes seconds, not a minute.
      const whole = got - (got % rs);
      if (whole > 0 && buf.subarray(0, whole).equals(zeroes(whole))) {
        const c = bad.find((x) => x.reason === 'zeroed');
        if (c) c.count += whole / rs;
        else bad.push({ reason: 'zeroed', count: whole / rs, firstOffset: pos });
        pos += whole;
        left -= whole;
        if (whole < got || got < want) {
          if (whole < got) countBad(bad, [{ bad: 'torn', offset: pos }]);
          break;
        }
        continue;
      }
      const d = decodeRecords(buf.subarray(0, got), pos, layout);
      for (const r of d.records) {
        const lr = toLoginRecord(r, origin);
        if (lr) records.push(lr);
      }
      countBad(bad, d.bad);
      pos += d.consumed;
      left -= d.consumed;
      if (d.consumed < got || got < want) break; // torn tail (or short read): stop at the last whole record
    }
    return { records, bad, end: pos, more: size - pos >= rs && left < rs, inode: st.ino, head: headOf(fd, rs) };
  } finally {
    closeSync(fd);
  }
}

function merge(into: BadCount[], from: readonly BadCount[]): void {
  for (const b of from) {
    const c = into.find((x) => x.reason === b.reason);
    if (c) c.count += b.count;
    else into.push({ ...b });
  }
}

/**
 * Reads the wtmp records added since the position in `stateFile` (from the start without one).
 * Rotation (the inode changed): the rest of `path.1`, if it still is the old inode, is read from the
 * stored offset first, then the new file from 0; if the old file is gone, a `rotated-lost` note.
 * The same inode but smaller than the stored offset, or with another first record than when it was
 * read (truncated in place and rewritten, or recreated on a reused inode): a `tamper` note and a
 * read from 0. A torn tail
 * (a record being written, or a truncated file) is counted as `torn` and not passed: the position
 * stays before it. At most `maxBytes` are read per call; `more` says whether to call again.
 * A missing `path` gives a `missing` note and no records. Never throws for record contents; throws
 * FileStateError FS_READ for a corrupt state file, and the fs error for an unreadable wtmp.
 */
export function readWtmp(path: string, stateFile?: string, opts: ReadWtmpOptions = {}): WtmpRead {
  const layout = opts.layout ?? GLIBC_X86_64;
  const rs = layout.recordSize;
  let budget = Math.max(rs, opts.maxBytes ?? DEFAULT_MAX_BYTES);
  budget -= budget % rs;
  const stored = loadPosition(stateFile);
  const records: LoginRecord[] = [];
  const bad: BadCount[] = [];
  const notes: WtmpNote[] = [];
  let more = false;
  let position: WtmpPosition;

  const cur = identify(path, rs);
  const ino = cur?.inode;
  let startOffset = stored?.offset ?? 0;
  const sameFile = (id: { inode: number; head: string } | undefined): boolean =>
    stored !== undefined && id !== undefined && id.inode === stored.inode && (stored.head === '' || id.head === stored.head);
  if (stored && stored.inode !== ino) {
    const rotated = `${path}.1`;
    if (sameFile(identify(rotated, rs))) {
      const seg = readSegment(rotated, stored.offset, budget, layout, 'wtmp');
      records.push(...seg.records);
      merge(bad, seg.bad);
      budget -= seg.end - stored.offset;
      // Until a new wtmp appears (or while the cap holds us in the old file) the position stays there.
      if (seg.more || ino === undefined) {
        if (ino === undefined) notes.push({ kind: 'missing', detail: `${path} does not exist` });
        return result(records, bad, notes, seg.more, { inode: stored.inode, offset: seg.end, head: seg.head }, stateFile);
      }
      notes.push({ kind: 'rotated', detail: `finished ${rotated} from offset ${stored.offset}`, from: rotated });
    } else if (ino !== undefined) {
      notes.push({
        kind: 'rotated-lost',
        detail: `${path} was replaced and the old file (inode ${stored.inode}) is not ${rotated}; records after offset ${stored.offset} of it are not read`,
        inode: stored.inode,
        offset: stored.offset,
      });
    }
    startOffset = 0;
  }
  if (ino === undefined) {
    notes.push({ kind: 'missing', detail: `${path} does not exist` });
    return result(records, bad, notes, false, stored ?? { inode: 0, offset: 0, head: '' }, stateFile);
  }
  const size = statSync(path).size;
  const shrank = stored !== undefined && stored.inode === ino && size < stored.offset;
  // Same inode but another first record: truncated in place (copytruncate) and rewritten, or deleted
  // and recreated on a reused inode. Either way the stored offset means nothing in this file.
  const rewritten = stored !== undefined && stored.inode === ino && !sameFile(cur);
  if (stored && (shrank || rewritten)) {
    notes.push({
      kind: 'tamper',
      detail: shrank
        ? `${path} shrank to ${size} bytes below the stored offset ${stored.offset} without rotation`
        : `${path} has another first record than when read up to offset ${stored.offset} (rewritten, or truncated in place)`,
      inode: ino,
      size,
      offset: stored.offset,
    });
    startOffset = 0;
  }
  if (budget >= rs) {
    const seg = readSegment(path, startOffset, budget, layout, 'wtmp');
    records.push(...seg.records);
    merge(bad, seg.bad);
    more = seg.more;
    position = { inode: seg.inode, offset: seg.end, head: seg.head };
  } else {
    // The rotated file used the whole budget exactly: the new file starts on the next call.
    more = size > 0;
    position = { inode: ino, offset: 0, head: cur?.head ?? '' };
  }
  return result(records, bad, notes, more, position, stateFile);
}

function result(
  records: LoginRecord[],
  bad: BadCount[],
  notes: WtmpNote[],
  more: boolean,
  position: WtmpPosition,
  stateFile: string | undefined,
): WtmpRead {
  return {
    records,
    bad,
    notes,
    more,
    position,
    commit(): void {
      if (stateFile !== undefined) writeJsonAtomic(stateFile, { inode: position.inode, offset: position.offset, head: position.head });
    },
  };
}

/** The outcome of {@link readUtmp}. */
export interface UtmpRead {
  /** The sessions open now (logins) and the last boot, as recorded. */
  readonly records: LoginRecord[];
  readonly bad: BadCount[];
}

/**
 * Reads utmp once (the sessions open right now, for start-up). utmp is small (one slot per tty), so
 * it is read whole up to `maxBytes` (default 4 MiB; a larger utmp is itself suspicious and is cut,
 * with the rest not read). A missing file gives no records.
 */
export function readUtmp(path: string, opts: ReadWtmpOptions = {}): UtmpRead {
  const layout = opts.layout ?? GLIBC_X86_64;
  if (inodeOf(path) === undefined) return { records: [], bad: [] };
  const seg = readSegment(path, 0, Math.max(layout.recordSize, opts.maxBytes ?? DEFAULT_MAX_BYTES), layout, 'utmp');
  return { records: seg.records, bad: seg.bad };
}
