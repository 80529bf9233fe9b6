/**
 * Reading what a log file gained since the last run, logtail2-compatible.
 *
 * State is Debian logtail2's offset file, byte for byte: `<inode>\n<offset>\n` in
 * `<stateDir>/offset<path with every / as .>` (logcheck's `offset$(echo "$file" | tr / .)`), so a host
 * switching from logcheck keeps its place and can switch back. Beside it, a sidecar
 * `fingerprint<same>` (JSON, ours only) holds a hash of the bytes just before the offset; it lets us
 * find a rotated file that was compressed (new inode) and notice a file rewritten in place, which
 * logtail2 cannot. A sidecar that does not describe the current offset file (logcheck wrote it since)
 * is ignored, and we then behave exactly like logtail2.
 *
 * Differences from logtail2, on purpose: only complete lines of the live file are returned (a line
 * being written is left, and its bytes not counted, until its newline arrives); after a rotation the
 * rotated file is found among `.0`, `.N`, `-YYYYMMDD` and their `.gz` forms, and every generation
 * rotated after it is read too; nothing is written until `commit()`.
 */
import { closeSync, createReadStream, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync, utimesSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { writeFileAtomic } from '../fs/atomic.js';

/** What one call of {@link readNew} found. */
export interface LogRead {
  /** The log file read. */
  readonly path: string;
  /**
   * New complete lines, oldest first, without their `\n`. Encoding `utf8` (default): decoded text,
   * bytes that are not UTF-8 become U+FFFD. Encoding `latin1`: byte strings, one char per byte, so
   * every byte of the file survives (`Buffer.from(line, 'latin1')` gives them back).
   */
  readonly lines: string[];
  /** Report-worthy findings (shrunk or rewritten file, rotated file not found, unreadable file); always Unicode text, whatever the encoding. */
  readonly warnings: string[];
  /** True when `maxBytes` stopped the read early: commit, then call again for the rest. */
  readonly more: boolean;
  /**
   * Stores the new place (offset file, then sidecar), atomically. Call it only once the lines were
   * delivered; not calling it (`-t`, or a failed delivery) leaves the state exactly as it was.
   */
  commit(): void;
}

/** Options of {@link readNew}. */
export interface ReadNewOptions {
  /** Most bytes of the live file consumed by one call (default 64 MiB); see {@link LogRead.more}. */
  readonly maxBytes?: number;
  /** Read buffer size (default 1 MiB); memory use is bounded by it plus the lines returned. */
  readonly chunkBytes?: number;
  /** Who speaks in our own warnings (`<tool>: ... was rotated but ...`). Default `logsentry`. */
  readonly tool?: string;
  /** How lines are decoded: `utf8` text (default) or `latin1` byte strings; see {@link LogRead.lines}. */
  readonly encoding?: LineEncoding;
}

/**
 * How a reader turns a log line's bytes into a JS string: `utf8` decodes text (invalid bytes become
 * U+FFFD), `latin1` keeps every byte as one char (a "byte string", what grep in the C locale sees).
 */
export type LineEncoding = 'utf8' | 'latin1';

/** A place in a log: logtail2's two numbers. The inode is kept as decimal text (exact, any size). */
export interface LogOffset {
  readonly inode: string;
  readonly offset: number;
}

/** Our sidecar: the hash of the `len` bytes that end at `offset` of the file with `inode`. */
interface Fingerprint {
  readonly inode: string;
  readonly offset: number;
  readonly len: number;
  readonly sha256: string;
}

/** A rotated generation of a log file (plain or gzip). */
interface Generation {
  readonly path: string;
  readonly gz: boolean;
  readonly inode: string;
}

const FINGERPRINT_BYTES = 1024;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const DEFAULT_CHUNK = 1024 * 1024;

/** logcheck's offset file name for a log path: `offset` + the path with every `/` replaced by `.`. */
export function offsetFileName(logPath: string): string {
  return `offset${logPath.replaceAll('/', '.')}`;
}

/** The name of our fingerprint sidecar for a log path (never an `offset...` name, so no clash). */
export function fingerprintFileName(logPath: string): string {
  return `fingerprint${logPath.replaceAll('/', '.')}`;
}

/**
 * Reads an offset file as logtail2 does: first line the inode, second the offset; a missing file,
 * missing line or non-number counts as 0 (Perl's numeric reading of the same text).
 */
export function readOffsetFile(file: string): LogOffset {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { inode: '0', offset: 0 };
  }
  const [a = '', b = ''] = text.split('\n');
  const num = (s: string): string => /^\s*\+?([0-9]+)/.exec(s)?.[1]?.replace(/^0+(?=[0-9])/, '') ?? '0';
  return { inode: num(a), offset: Number(num(b)) };
}

/** logtail2's offset file text for a place. */
export function formatOffsetFile(o: LogOffset): string {
  return `${o.inode}\n${o.offset}\n`;
}

function readFingerprint(file: string, state: LogOffset): Fingerprint | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null) return undefined;
    const r = v as Record<string, unknown>;
    if (typeof r.inode !== 'string' || typeof r.offset !== 'number' || typeof r.len !== 'number' || typeof r.sha256 !== 'string') return undefined;
    // Stale when the offset file was written by someone else (logcheck) after us.
    if (r.inode !== state.inode || r.offset !== state.offset || r.len > r.offset) return undefined;
    return { inode: r.inode, offset: r.offset, len: r.len, sha256: r.sha256 };
  } catch {
    return undefined;
  }
}

/** logtail2's warning for a file smaller than its stored offset, as the three lines it prints. */
export function shrinkWarning(logPath: string): string {
  return `***************\n*** WARNING ***: Log file ${logPath} is smaller than last time checked!\n*************** This could indicate tampering.`;
}

/** Our warning for a file whose bytes before the stored offset changed (truncated, then grew again). */
export function rewriteWarning(logPath: string): string {
  return `***************\n*** WARNING ***: Log file ${logPath} was rewritten since last time checked (its content before the stored offset changed)!\n*************** This could indicate tampering.`;
}

// Bytes [from, to) of an open file.
function pread(fd: number, from: number, to: number): Buffer {
  const buf = Buffer.alloc(Math.max(0, to - from));
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, from + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// Does the plain file's content end-at-offset match the fingerprint?
function plainMatches(path: string, fp: Fingerprint): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = pread(fd, fp.offset - fp.len, fp.offset);
    return b.length === fp.len && sha256(b) === fp.sha256;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// Decompresses just far enough to check the fingerprint window; memory stays at one chunk plus the window.
async function gzMatches(path: string, fp: Fingerprint): Promise<boolean> {
  const start = fp.offset - fp.len;
  const window = Buffer.alloc(fp.len);
  let pos = 0;
  let filled = 0;
  const src = createReadStream(path);
  const gunzip = createGunzip();
  src.pipe(gunzip);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const end = pos + chunk.length;
      if (end > start && pos < fp.offset) {
        const a = Math.max(start, pos) - pos;
        const b = Math.min(fp.offset, end) - pos;
        chunk.copy(window, Math.max(start, pos) - start, a, b);
        filled += b - a;
      }
      pos = end;
      if (pos >= fp.offset) break;
    }
  } catch {
    return false;
  } finally {
    src.destroy();
    gunzip.destroy();
  }
  return filled === fp.len && sha256(window) === fp.sha256;
}

/**
 * The rotated generations of `logPath` in its directory, oldest first: dateext names
 * (`name-YYYYMMDD`, 8 to 14 digits, optionally `.gz`) by date, then numbered ones (`name.N`, `.N.gz`)
 * from the highest N down to `.0` (savelog's newest). Only regular files.
 */
export function listGenerations(logPath: string): Generation[] {
  const dir = dirname(logPath);
  const base = basename(logPath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const dated: { key: string; g: Generation }[] = [];
  const numbered: { n: number; gz: boolean; g: Generation }[] = [];
  for (const name of names) {
    if (name.length <= base.length + 1 || !name.startsWith(base)) continue;
    const sep = name[base.length];
    let rest = name.slice(base.length + 1);
    const gz = rest.endsWith('.gz');
    if (gz) rest = rest.slice(0, -3);
    const isDate = sep === '-' && /^[0-9]{8,14}$/.test(rest);
    const isNum = sep === '.' && /^[0-9]{1,6}$/.test(rest);
    if (!isDate && !isNum) continue;
    const path = join(dir, name);
    let st: BigIntStats;
    try {
      st = statSync(path, { bigint: true });
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    const g: Generation = { path, gz, inode: st.ino.toString() };
    if (isDate) dated.push({ key: rest.padEnd(14, '0'), g });
    else numbered.push({ n: Number(rest), gz, g });
  }
  dated.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : Number(x.g.gz) - Number(y.g.gz)));
  // `.1` and `.1.gz` side by side happen only mid-compression; the plain one is the newer copy.
  numbered.sort((x, y) => y.n - x.n || Number(y.gz) - Number(x.gz));
  return [...dated.map((d) => d.g), ...numbered.map((d) => d.g)];
}

// Collects lines from a byte stream; `flushPartial` decides what happens to an unterminated tail.
class LineSplitter {
  readonly lines: string[] = [];
  constructor(private readonly encoding: LineEncoding) {}

  private carry: Buffer[] = [];
  private carryLen = 0;
  /** Bytes up to and including the last newline seen. */
  consumed = 0;

  push(chunk: Buffer): void {
    let start = 0;
    const last = chunk.lastIndexOf(0x0a);
    if (last >= 0 && this.carryLen > 0) {
      // The line begun in earlier chunks ends at this chunk's first newline.
      const nl = chunk.indexOf(0x0a);
      this.carry.push(chunk.subarray(0, nl));
      this.lines.push(Buffer.concat(this.carry).toString(this.encoding));
      this.consumed += this.carryLen + nl + 1;
      this.carry = [];
      this.carryLen = 0;
      start = nl + 1;
    }
    if (last >= start) {
      // The whole lines in between decoded at once and split (a decode per line cost a native call
      // each: a third of reading a big log). A newline byte is never part of a UTF-8 sequence, so
      // this decodes every line as alone, invalid bytes included.
      for (const l of chunk.toString(this.encoding, start, last).split('\n')) this.lines.push(l);
      this.consumed += last - start + 1;
      start = last + 1;
    }
    if (start < chunk.length) {
      // Copy: the caller reuses its read buffer.
      this.carry.push(Buffer.from(chunk.subarray(start)));
      this.carryLen += chunk.length - start;
    }
  }

  /** Emits an unterminated last line (a rotated file will never be completed); returns its length. */
  flushPartial(): number {
    if (this.carryLen === 0) return 0;
    this.lines.push(Buffer.concat(this.carry).toString(this.encoding));
    const n = this.carryLen;
    this.consumed += n;
    this.carry = [];
    this.carryLen = 0;
    return n;
  }
}

// Reads a rotated generation from `from` to its end, unterminated last line included.
async function readGeneration(g: Generation, from: number, out: string[], chunkBytes: number, encoding: LineEncoding): Promise<void> {
  const split = new LineSplitter(encoding);
  if (g.gz) {
    let pos = 0;
    const src = createReadStream(g.path);
    const gunzip = createGunzip();
    src.pipe(gunzip);
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        const end = pos + chunk.length;
        if (end > from) split.push(chunk.subarray(Math.max(0, from - pos)));
        pos = end;
      }
    } finally {
      src.destroy();
      gunzip.destroy();
    }
  } else {
    const fd = openSync(g.path, 'r');
    try {
      const buf = Buffer.alloc(chunkBytes);
      let pos = from;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        split.push(buf.subarray(0, n));
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
  }
  split.flushPartial();
  for (const l of split.lines) out.push(l);
}

/**
 * Finds where the rest of an old inode went: the generation holding `state.inode` (a plain rename:
 * logrotate `create`, savelog, dateext), or else, with a fingerprint, the generation whose content at
 * `state.offset` matches it (compressed after rotation, or a `copytruncate` copy). Newest first, so
 * the most recent match wins. Returns its index in `gens`, or -1.
 */
async function findRotated(gens: readonly Generation[], state: LogOffset, fp: Fingerprint | undefined, byInode: boolean): Promise<number> {
  for (let i = gens.length - 1; i >= 0 && byInode; i--) {
    const g = gens[i]!;
    if (!g.gz && g.inode === state.inode && (fp === undefined || plainMatches(g.path, fp))) return i;
  }
  if (fp === undefined) return -1;
  for (let i = gens.length - 1; i >= 0; i--) {
    const g = gens[i]!;
    if (g.gz ? await gzMatches(g.path, fp) : plainMatches(g.path, fp)) return i;
  }
  return -1;
}

/**
 * About how many bytes the next {@link readNew} of `path` will read: the file's size past the stored
 * offset, or all of it when the inode changed (the rotated rest is not counted). 0 for a file that
 * cannot be read. An estimate for sizing work before reading (a run starting worker threads).
 */
export function pendingBytes(path: string, stateDir: string): number {
  const st = statSync(path, { bigint: true, throwIfNoEntry: false });
  if (st === undefined) return 0;
  const state = readOffsetFile(join(stateDir, offsetFileName(path)));
  const size = Number(st.size);
  return state.inode === st.ino.toString() && state.offset <= size ? size - state.offset : size;
}

/**
 * Reads the complete lines `path` gained since the place stored in `stateDir` (see the module
 * comment for the state format). Rotation (a new inode) reads the rest of the rotated file, then any
 * later generations, then the new file from its start; a file smaller than the stored offset is read
 * from the start with logtail2's tampering warning (unless a `copytruncate` copy holding the old
 * content is found, which is then read like a rotated file). A missing or unreadable file gives a
 * warning and no lines, and its commit keeps the old state. Never writes anything itself: see
 * {@link LogRead.commit}. Throws only for I/O errors while reading an opened file.
 */
export async function readNew(path: string, stateDir: string, opts: ReadNewOptions = {}): Promise<LogRead> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  // A batch smaller than a read is not overshot by a whole read.
  const chunkBytes = Math.min(opts.chunkBytes ?? DEFAULT_CHUNK, maxBytes);
  const encoding = opts.encoding ?? 'utf8';
  const offsetFile = join(stateDir, offsetFileName(path));
  const fpFile = join(stateDir, fingerprintFileName(path));
  const lines: string[] = [];
  const warnings: string[] = [];

  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    // logcheck's own words for a listed file it cannot read.
    warnings.push(`E: File could not be read: ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    return { path, lines, warnings, more: false, commit: () => undefined };
  }
  try {
    // fstat the descriptor we read, so a rotation between stat and read cannot mix two files.
    const st = fstatSync(fd, { bigint: true });
    const inode = st.ino.toString();
    const size = Number(st.size);
    const state = readOffsetFile(offsetFile);
    const fp = readFingerprint(fpFile, state);

    let from = 0;
    let recover: 'shrunk' | 'rewritten' | 'rotated' | undefined;
    if (state.inode === inode) {
      if (state.offset > size) recover = 'shrunk';
      else if (fp !== undefined && !plainMatches(path, fp)) recover = 'rewritten';
      else from = state.offset;
    } else if (state.inode !== '0') recover = 'rotated';

    if (recover !== undefined) {
      const gens = listGenerations(path);
      // After a rename the old inode is among the generations; after copytruncate only the
      // fingerprint can find the copy (its inode is new).
      const idx = await findRotated(gens, state, fp, recover === 'rotated');
      if (idx >= 0) {
        await readGeneration(gens[idx]!, state.offset, lines, chunkBytes, encoding);
        for (const g of gens.slice(idx + 1)) await readGeneration(g, 0, lines, chunkBytes, encoding);
      } else {
        switch (recover) {
          case 'shrunk':
            warnings.push(shrinkWarning(path));
            break;
          case 'rewritten':
            warnings.push(rewriteWarning(path));
            break;
          case 'rotated':
            if (state.offset > 0) {
              warnings.push(`${opts.tool ?? 'logsentry'}: ${path} was rotated but its old file (inode ${state.inode}) was not found; lines written after offset ${state.offset} and before the rotation were not read`);
            }
            break;
          default: {
            const never: never = recover;
            throw new Error(`unreachable: ${String(never)}`);
          }
        }
      }
    }

    const split = new LineSplitter(encoding);
    const buf = Buffer.alloc(chunkBytes);
    let pos = from;
    let more = false;
    while (pos < size) {
      if (split.consumed >= maxBytes) {
        more = true;
        break;
      }
      // Up to the size fstat saw: bytes appended meanwhile belong to the next run.
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n === 0) break;
      split.push(buf.subarray(0, n));
      pos += n;
    }
    for (const l of split.lines) lines.push(l);
    // The unterminated tail is not consumed: its offset is not passed, so it comes whole next run.
    const end = from + split.consumed;
    const len = Math.min(FINGERPRINT_BYTES, end);
    const next: Fingerprint = { inode, offset: end, len, sha256: sha256(pread(fd, end - len, end)) };
    let committed = false;
    return {
      path,
      lines,
      warnings,
      more,
      commit(): void {
        if (committed) return;
        committed = true;
        writeFileAtomic(offsetFile, formatOffsetFile({ inode, offset: end }), { mode: 0o640 });
        writeFileAtomic(fpFile, `${JSON.stringify(next)}\n`, { mode: 0o640 });
      },
    };
  } finally {
    closeSync(fd);
  }
}

/** Sets a file's times to now, creating it empty when missing (touch(1)); used for logcheck's `offset.journal`. */
export function touchFile(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    writeFileAtomic(path, '', { mode: 0o640 });
  }
}
