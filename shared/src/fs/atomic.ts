/**
 * State that must survive a crash: offsets, cursors, blocks, histories. Files are replaced atomically
 * (write a temporary file in the same directory, fsync it, rename over the target, fsync the
 * directory), so a reader sees either the old content or the new, never a torn file. Lock files keep
 * two runs of one job apart, with stale locks (dead pid) taken over.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, constants } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { FileStateError } from '../errors.js';

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of the new file. Default 0o600: state may name attackers and users. */
  readonly mode?: number;
  /** Create missing parent directories (mode 0o750). Default true. */
  readonly mkdirs?: boolean;
}

let tmpCounter = 0;

/**
 * Replaces `path` with `data` atomically and durably. Throws FileStateError `FS_WRITE` (the target is
 * untouched then, and the temporary file removed).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${++tmpCounter}`);
  let fd: number | undefined;
  try {
    if (opts.mkdirs ?? true) mkdirSync(dir, { recursive: true, mode: 0o750 });
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 0o600);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    fsyncDir(dir);
  } catch (cause) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or already renamed */
    }
    throw new FileStateError('FS_WRITE', path, `cannot write atomically: ${(cause as Error).message}`, { cause });
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes `value` as pretty JSON atomically (see {@link writeFileAtomic}). */
export function writeJsonAtomic(path: string, value: unknown, opts?: AtomicWriteOptions): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, opts);
}

/**
 * Reads a JSON state file. A missing file gives `undefined`; a file that is not JSON is FS_READ
 * (never silently treated as empty: that would lose state).
 */
export function readJsonState(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FileStateError('FS_READ', path, (e as Error).message, { cause: e });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new FileStateError('FS_READ', path, `not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** A held lock; release it exactly once. */
export interface Lock {
  readonly path: string;
  release(): void;
}

/** True when a process with this pid exists (EPERM counts: it exists but is not ours). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock file `path` (O_EXCL create, our pid inside). A lock whose pid is no longer running is
 * stale and taken over. Throws FileStateError `FS_LOCKED` naming the holder's pid when it is held.
 */
export function acquireLock(path: string): Lock {
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return {
        path,
        release(): void {
          if (released) return;
          released = true;
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
          } catch {
            /* gone already */
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new FileStateError('FS_WRITE', path, `cannot create lock: ${(e as Error).message}`, { cause: e });
      }
      let holder = NaN;
      try {
        holder = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      } catch {
        /* removed meanwhile: try again */
      }
      if (Number.isInteger(holder) && holder > 0 && isProcessAlive(holder) && holder !== process.pid) {
        throw new FileStateError('FS_LOCKED', path, `held by running process ${holder}`);
      }
      try {
        unlinkSync(path); // stale: its owner died without releasing it
      } catch {
        /* someone else took it over first; the retry decides */
      }
    }
  }
  throw new FileStateError('FS_LOCKED', path, 'could not take over a stale lock');
}
