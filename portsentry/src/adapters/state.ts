/**
 * The blocks that survive a restart: one JSON state file (STATE_FILE), replaced atomically (write,
 * fsync, rename) after every change. It holds the active blocks with their expiry and, per address,
 * how many times it has been blocked (for escalation). The kernel is reconciled with it at start.
 *
 * A state file that cannot be parsed is never treated as empty and overwritten: it is renamed aside
 * (`.corrupt-EPOCH`) so nothing is lost, and the caller logs that it started without it.
 */
import { renameSync } from 'node:fs';
import { readJsonState, tryParseAddress, writeJsonAtomic, FileStateError, MODES, type Mode } from '@trisentry/shared';

/** One active block. */
export interface BlockRecord {
  /** Canonical address text. */
  readonly address: string;
  /** ms since the epoch. */
  readonly since: number;
  /** ms since the epoch, or null: until unblocked. */
  readonly expiresAt: number | null;
  readonly port: number;
  readonly proto: 'tcp' | 'udp';
  readonly mode: Mode;
  /** What was seen (the 1.2 words, e.g. "TCP SYN/Normal scan", "Connect"). */
  readonly reason: string;
  /** The name logged with it (resolved or the address). */
  readonly name: string;
}

interface StateFile {
  readonly version: 1;
  readonly blocks: readonly BlockRecord[];
  readonly offences: Readonly<Record<string, number>>;
}

/** What {@link BlockStore.load} found. */
export interface LoadReport {
  readonly blocks: number;
  /** Entries that were not valid and were dropped (counted, never a crash). */
  readonly badEntries: number;
  /** Where an unreadable state file was moved, when it was. */
  readonly movedAside?: string;
}

function validRecord(x: unknown): x is BlockRecord {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return (
    typeof r.address === 'string' &&
    tryParseAddress(r.address)?.toString() === r.address &&
    typeof r.since === 'number' &&
    (r.expiresAt === null || typeof r.expiresAt === 'number') &&
    typeof r.port === 'number' &&
    (r.proto === 'tcp' || r.proto === 'udp') &&
    typeof r.mode === 'string' &&
    (MODES as readonly string[]).includes(r.mode) &&
    typeof r.reason === 'string' &&
    typeof r.name === 'string'
  );
}

/** The active blocks, in memory and in the state file (see the module comment). */
export class BlockStore {
  private readonly blocks = new Map<string, BlockRecord>();
  private readonly offenceCount = new Map<string, number>();

  /** `path` undefined: memory only (no STATE_FILE configured). */
  constructor(readonly path: string | undefined) {}

  /** Reads the state file. A missing file is an empty state. */
  load(now: number = Date.now()): LoadReport {
    this.blocks.clear();
    this.offenceCount.clear();
    if (this.path === undefined) return { blocks: 0, badEntries: 0 };
    let raw: unknown;
    try {
      raw = readJsonState(this.path);
    } catch (e) {
      if (!(e instanceof FileStateError)) throw e;
      const aside = `${this.path}.corrupt-${now}`;
      renameSync(this.path, aside);
      return { blocks: 0, badEntries: 0, movedAside: aside };
    }
    if (raw === undefined) return { blocks: 0, badEntries: 0 };
    let bad = 0;
    const f = raw as Partial<StateFile>;
    for (const b of Array.isArray(f.blocks) ? f.blocks : []) {
      if (validRecord(b)) this.blocks.set(b.address, b);
      else bad++;
    }
    if (typeof f.offences === 'object' && f.offences !== null) {
      for (const [a, n] of Object.entries(f.offences)) {
        if (typeof n === 'number' && Number.isInteger(n) && n > 0 && tryParseAddress(a)?.toString() === a) this.offenceCount.set(a, n);
        else bad++;
      }
    }
    return { blocks: this.blocks.size, badEntries: bad };
  }

  /** Writes the state file now (atomic). Throws FileStateError FS_WRITE. */
  save(): void {
    if (this.path === undefined) return;
    const data: StateFile = { version: 1, blocks: [...this.blocks.values()], offences: Object.fromEntries(this.offenceCount) };
    writeJsonAtomic(this.path, data);
  }

  get(address: string): BlockRecord | undefined {
    return this.blocks.get(address);
  }

  isBlocked(address: string): boolean {
    return this.blocks.has(address);
  }

  /** Blocks of this address so far. */
  offences(address: string): number {
    return this.offenceCount.get(address) ?? 0;
  }

  /** Records a new block (and counts the offence). */
  add(r: BlockRecord): void {
    this.blocks.set(r.address, r);
    this.offenceCount.set(r.address, (this.offenceCount.get(r.address) ?? 0) + 1);
  }

  /** Removes an active block; the offence count stays. */
  remove(address: string): BlockRecord | undefined {
    const r = this.blocks.get(address);
    this.blocks.delete(address);
    return r;
  }

  /** Every active block, oldest first. */
  all(): BlockRecord[] {
    return [...this.blocks.values()].sort((a, b) => a.since - b.since);
  }

  /** Blocks whose expiry is at or before `now`. */
  expired(now: number): BlockRecord[] {
    return this.all().filter((r) => r.expiresAt !== null && r.expiresAt <= now);
  }

  /** Forgets every block (offence counts stay). */
  clear(): BlockRecord[] {
    const all = this.all();
    this.blocks.clear();
    return all;
  }
}
