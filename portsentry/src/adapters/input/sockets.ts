/**
 * Keeps a current {@link SocketTable} of this host for the advanced stealth modes by reading
 * /proc/net/{tcp,tcp6,udp,udp6}: on demand ({@link SocketWatcher.refresh}), when a packet hits a port
 * not known as listening ({@link SocketWatcher.refreshIfStale}, throttled), and on a timer
 * ({@link SocketWatcher.start}) that reports listening ports opened and closed.
 *
 * The files are read synchronously: they are small (one line per socket, about 150 bytes), reading
 * them is a kernel walk of the socket hashes with no disk behind it, and the packet path needs the
 * answer before it classifies the packet. /proc/net is the reading process's network namespace.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileStateError } from '@trisentry/shared';
import { buildSocketTable, diffListening, EMPTY_SOCKET_TABLE, parseProcNet } from '../../core/sockets.js';
import type { ListeningDiff, ParsedProcNet, SockFamily, SockProto, SocketTable } from '../../core/sockets.js';

/** Options of {@link SocketWatcher}. */
export interface SocketWatcherOptions {
  /** Where `net/tcp` etc. are read from. Default '/proc'. */
  readonly procRoot?: string;
  /** A monotonic clock in ms for snapshot age. Default `performance.now()`. */
  readonly now?: () => number;
  /**
   * Called after any refresh (timer, {@link SocketWatcher.refresh} or
   * {@link SocketWatcher.refreshIfStale}) with each protocol whose listening ports changed, so a
   * change is reported exactly once whoever noticed it. Not called for the first read.
   */
  readonly onChange?: (diff: ListeningDiff) => void;
  /**
   * Called when a timer refresh fails (a file exists but cannot be read); the previous snapshot is
   * kept. Without it such failures are only counted in {@link SocketWatcher.stats}.
   */
  readonly onError?: (err: Error) => void;
  /** Byte order of the kernel's address words. Default: this host's (`os.endianness()`). */
  readonly littleEndian?: boolean;
}

/** Counters for diagnostics. */
export interface SocketWatcherStats {
  /** Completed reads of the four files. */
  readonly refreshes: number;
  /** Malformed lines in the last read (all files). */
  readonly badLines: number;
  /** Timer refreshes that failed. */
  readonly errors: number;
  /** How long the last read took (ms, by the watcher's clock). */
  readonly lastReadMs: number;
}

/**
 * The lowest age (ms) at which {@link SocketWatcher.refreshIfStale} re-reads, whatever it is asked:
 * a flood of packets to unlisted ports then costs at most 100 reads a second.
 */
export const MIN_STALE_MS = 10;

/**
 * {@link SocketWatcher.refreshIfStale} also waits this many times as long as the last read took
 * before reading again, so a flood can spend at most about 1/STALE_COST_FACTOR of a core on reads.
 * This matters: reading /proc/net/tcp walks every bucket of the kernel's connection hash, which costs
 * milliseconds of system time even with few sockets (about 4 ms per file on a 2-core, 24 GiB test VM).
 */
export const STALE_COST_FACTOR = 10;

const FILES: readonly { readonly name: string; readonly proto: SockProto; readonly family: SockFamily }[] = [
  { name: 'tcp', proto: 'tcp', family: 4 },
  { name: 'tcp6', proto: 'tcp', family: 6 },
  { name: 'udp', proto: 'udp', family: 4 },
  { name: 'udp6', proto: 'udp', family: 6 },
];

/** Reads the host's socket table and keeps it current; see the module comment. */
export class SocketWatcher {
  private current: SocketTable = EMPTY_SOCKET_TABLE;
  private readAt = Number.NEGATIVE_INFINITY;
  private lastReadMs = 0;
  // When the last read began, successful or not: throttles refreshIfStale even while reads fail.
  private attemptAt = Number.NEGATIVE_INFINITY;
  private haveRead = false;
  private timer: NodeJS.Timeout | undefined;
  private refreshCount = 0;
  private lastBadLines = 0;
  private errorCount = 0;
  private readonly procRoot: string;
  private readonly now: () => number;
  private readonly littleEndian: boolean;

  constructor(private readonly options: SocketWatcherOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.now = options.now ?? ((): number => performance.now());
    this.littleEndian = options.littleEndian ?? endianness() === 'LE';
  }

  /** The latest snapshot (empty until the first refresh). */
  get table(): SocketTable {
    return this.current;
  }

  /** Age in ms of the latest snapshot by the watcher's clock (Infinity before the first read). */
  get age(): number {
    return this.now() - this.readAt;
  }

  /** Counters for diagnostics. */
  get stats(): SocketWatcherStats {
    return { refreshes: this.refreshCount, badLines: this.lastBadLines, errors: this.errorCount, lastReadMs: this.lastReadMs };
  }

  /**
   * Re-reads the four files now, replaces the snapshot, reports listening changes to `onChange`, and
   * returns the new snapshot. A missing file (no IPv6, no UDP) counts as empty. Throws
   * FileStateError (FS_READ) when a file exists but cannot be read; the old snapshot is then kept.
   */
  refresh(): SocketTable {
    const startedAt = this.now();
    this.attemptAt = startedAt;
    const parts: ParsedProcNet[] = [];
    for (const f of FILES) {
      const path = join(this.procRoot, 'net', f.name);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new FileStateError('FS_READ', path, `cannot read the socket table: ${(e as Error).message}`, { cause: e });
      }
      parts.push(parseProcNet(text, f.proto, f.family, { littleEndian: this.littleEndian }));
    }
    const before = this.current;
    const after = buildSocketTable(parts);
    const first = !this.haveRead;
    this.current = after;
    this.readAt = this.now();
    this.lastReadMs = this.readAt - startedAt;
    this.haveRead = true;
    this.refreshCount++;
    this.lastBadLines = parts.reduce((n, p) => n + p.badLines, 0);
    const onChange = this.options.onChange;
    if (!first && onChange !== undefined) {
      for (const proto of ['tcp', 'udp'] as const) {
        const d = diffListening(before, after, proto);
        if (d !== undefined) onChange(d);
      }
    }
    return after;
  }

  /**
   * Re-reads only when the snapshot is older than `maxAgeMs`, and never sooner than
   * {@link MIN_STALE_MS} nor {@link STALE_COST_FACTOR} times the last read's duration after the last
   * read, so the packet path can ask on every packet to an unlisted port without a flood turning into
   * a flood of reads. Returns true when it re-read. Throws as {@link refresh}; a failed read counts
   * as a read for the throttle, so a broken file is not retried on every packet.
   */
  refreshIfStale(maxAgeMs: number): boolean {
    const minAge = Math.max(maxAgeMs, MIN_STALE_MS, this.lastReadMs * STALE_COST_FACTOR);
    const now = this.now();
    // Both: the snapshot must be old, and the last attempt (which may have failed) too.
    if (now - this.readAt < minAge || now - this.attemptAt < minAge) return false;
    this.refresh();
    return true;
  }

  /**
   * Reads once now (throwing as {@link refresh} does, so start-up sees a broken /proc), then every
   * `intervalMs`. The timer does not keep the process alive. Calling start again restarts the timer.
   */
  start(intervalMs = 500): void {
    this.stop();
    this.refresh();
    this.timer = setInterval(() => {
      try {
        this.refresh();
      } catch (e) {
        this.errorCount++;
        this.options.onError?.(e as Error);
      }
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer; the last snapshot stays readable. Idempotent. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
