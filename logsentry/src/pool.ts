/**
 * Deciding a big run's lines on more than one core. Matching a line against the rule tree is one
 * native RE2.Set call (about a µs); a million lines keep one core busy for a second, while the
 * sort, the trimming and the report take another. A pool of worker threads, each with the same rule
 * tree compiled, decides chunks of the lines beside the main thread: the lines go to them once, as
 * UTF-8 bytes in shared memory (what RE2 reads anyway); each thread claims the next chunk from a
 * shared counter, writes the chunk's flags into shared memory and sends back the few raised lines;
 * the main thread sorts meanwhile, then claims chunks too. A worker still compiling when the chunks
 * run out simply gets none. A worker that dies leaves its unfinished chunks to the main thread.
 *
 * The decisions are the same code as RuleSet.buildReport's (RuleSet.decide on the same tree), so
 * the report is the same byte for byte; only who runs which chunk differs.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  compileRules,
  DEFAULT_TITLES,
  newDecisions,
  sortOrder,
  trimLines,
  prepareLines,
  type Decisions,
  type Report,
  type RuleOptions,
  type RuleSet,
  type RuleTreeInput,
  type Titles,
} from './core/rules.js';
import { writeLines } from './core/ere.js';

/** Lines per chunk a thread claims at a time. */
export const POOL_CHUNK = 16384;
/** Below this many lines a run is decided on the main thread alone: each worker first compiles the tree (about half a second from cold), which a smaller run does not win back (measured: 200,000 lines took 1.36 s with a cold worker, 0.85 s on one thread). */
export const POOL_MIN_LINES = 400_000;

/** What the main thread sends a worker for one run. */
export interface PoolJob {
  readonly t: 'job';
  readonly id: number;
  /** UTF-8 bytes of every line, each followed by `\n` (shared). */
  readonly bytes: SharedArrayBuffer;
  /** n + 1 offsets: line k is bytes [offs[k], offs[k + 1] - 1) (shared, Uint32). */
  readonly offs: SharedArrayBuffer;
  /** Int32 [lines written so far] (shared): a chunk is read only once its lines are written. */
  readonly written: SharedArrayBuffer;
  /** One flags byte per line (shared): RuleSet.decide's {@link Decisions.flags}. */
  readonly flags: SharedArrayBuffer;
  /** Int32 [next chunk to claim] (shared). */
  readonly counter: SharedArrayBuffer;
  /** Int32 per chunk: 1 + the index of the worker that claimed it (shared). */
  readonly owner: SharedArrayBuffer;
  readonly lines: number;
  readonly chunk: number;
}

/** A worker's answer for one chunk: its raised lines (its flags are already in shared memory). */
export interface PoolChunkResult {
  readonly t: 'chunk';
  readonly id: number;
  readonly chunk: number;
  readonly attackAt: number[];
  readonly attackFiles: (readonly string[])[];
  readonly violationAt: number[];
  readonly violationFiles: (readonly string[])[];
}

/** What a worker is started with. */
export interface PoolWorkerData {
  readonly tree: RuleTreeInput;
  readonly opts: RuleOptions;
  readonly titles: Titles;
  /** This worker's index (its claims are marked index + 1). */
  readonly index: number;
  /**
   * Fault injection for tests: the worker exits (status 70) right after claiming this many chunks,
   * leaving the last one claimed and undecided, as a worker crashing mid-run would.
   */
  readonly exitAfterClaims?: number;
}

/**
 * The UTF-8 bytes of lines in shared memory, each line followed by `\n`, with the offsets of the
 * lines, written a range at a time with the count of lines written so far in shared memory (a
 * worker starts on the first chunk while the rest are written), by {@link writeLines}.
 */
class SharedLines {
  readonly bytes: Buffer;
  readonly offs: Uint32Array;
  /** Int32 [lines written]. */
  readonly written: Int32Array;
  private pos = 0;
  private next = 0;

  private constructor(private readonly lines: readonly string[], bound: number) {
    this.bytes = Buffer.from(new SharedArrayBuffer(Math.max(bound, 1)));
    this.offs = new Uint32Array(new SharedArrayBuffer((lines.length + 1) * 4));
    this.written = new Int32Array(new SharedArrayBuffer(4));
  }

  /** Room for `lines`, or undefined when they might not fit 32-bit offsets. */
  static alloc(lines: readonly string[]): SharedLines | undefined {
    let chars = 0;
    for (const l of lines) chars += l.length + 1;
    // One UTF-16 unit takes at most 3 UTF-8 bytes; the bound is only address space until written.
    const bound = chars * 3;
    return bound > 0xffff_fff0 ? undefined : new SharedLines(lines, bound);
  }

  /** Writes the next lines up to `to` (exclusive), then publishes the count. */
  writeUpTo(to: number): void {
    this.pos = writeLines(this.lines, this.next, to, this.bytes, this.pos, this.offs, 0);
    this.next = to;
    Atomics.store(this.written, 0, to);
    Atomics.notify(this.written, 0);
  }
}

/** The UTF-8 bytes of `lines` in shared memory, each followed by `\n`, with the offsets of the lines. */
export function encodeShared(lines: readonly string[]): { readonly bytes: Uint8Array; readonly offs: Uint32Array } | undefined {
  const sl = SharedLines.alloc(lines);
  sl?.writeUpTo(lines.length);
  return sl;
}

/** How many workers `workers: auto` means on this machine: one fewer than the cores, at most 3. */
export function autoWorkers(): number {
  return Math.max(0, Math.min(3, availableParallelism() - 1));
}

interface PoolWorker {
  readonly worker: Worker;
  alive: boolean;
  /** Compiled (it said so). */
  ready: boolean;
  /** Why it stopped, when it did. */
  failure: string | undefined;
}

/**
 * Worker threads with a rule tree compiled, for {@link MatchPool.buildReport}. The workers start
 * compiling at once; close() stops them. Idle workers do not keep the process alive.
 */
export class MatchPool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 1;
  private onMessage: ((w: number, m: PoolChunkResult) => void) | undefined;
  private onGone: ((w: number) => void) | undefined;
  private onReady: (() => void) | undefined;

  /** Problems the workers ran into (a worker that failed; the main thread did its part). */
  readonly problems: string[] = [];

  /**
   * `tree`, `opts` and `titles` must be what the main thread's RuleSet was compiled from, or the
   * parts will not agree. `count` workers (0: none, everything on the main thread). `faults` is
   * for tests only (see {@link PoolWorkerData.exitAfterClaims}).
   */
  constructor(tree: RuleTreeInput, opts: RuleOptions, titles: Titles = DEFAULT_TITLES, count = autoWorkers(), faults: { readonly exitAfterClaims?: number } = {}) {
    if (tree.layout !== 'debian') return;
    for (let index = 0; index < count; index++) {
      const data: PoolWorkerData = { tree, opts, titles, index, ...faults };
      // A young generation larger than V8's default: a worker allocates a string and a match array
      // per line, most of them short-lived (measured on the main thread with the same setting: a
      // fifth less time in garbage collection).
      const worker = new Worker(new URL('./match-worker.js', import.meta.url), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 96 } });
      const w: PoolWorker = { worker, alive: true, ready: false, failure: undefined };
      worker.on('message', (m: PoolChunkResult | { readonly t: 'ready' }) => {
        if (m.t === 'ready') {
          w.ready = true;
          this.onReady?.();
        } else this.onMessage?.(index, m);
      });
      worker.on('error', (e) => {
        w.failure ??= e instanceof Error ? e.message : String(e);
      });
      worker.on('exit', (code) => {
        w.alive = false;
        w.failure ??= `exited with status ${code}`;
        this.onGone?.(index);
        this.onReady?.();
      });
      worker.unref();
      this.workers.push(w);
    }
  }

  /** Resolves once every worker still running has compiled the tree (for measuring a warm pool, and tests). */
  async ready(): Promise<void> {
    while (this.workers.some((w) => w.alive && !w.ready)) {
      for (const w of this.workers) if (w.alive) w.worker.ref();
      await new Promise<void>((resolve) => (this.onReady = resolve));
      this.onReady = undefined;
    }
    for (const w of this.workers) if (w.alive) w.worker.unref();
  }

  /** Workers still running. */
  get size(): number {
    return this.workers.filter((w) => w.alive).length;
  }

  /**
   * The same report as rules.buildReport(input, sortUnique, presorted), with the deciding shared
   * among the workers and this thread. Small inputs, the Psionic layout and a pool without workers
   * take the plain path.
   */
  async buildReport(rules: RuleSet, input: readonly string[], sortUnique: boolean, minLines = POOL_MIN_LINES, presorted = false): Promise<Report> {
    if (this.onMessage !== undefined) throw new Error('MatchPool.buildReport: one run at a time');
    const live = this.workers.filter((w) => w.alive);
    if (!rules.decides || live.length === 0 || input.length < minLines) return rules.buildReport(input, sortUnique, presorted);
    // (In a UTF-8 locale the shared memory holds the lines' own bytes: each thread decodes them and
    // writes the matching text for its matcher itself, RuleSet.decide.)
    const lines = sortUnique && !presorted ? prepareLines(input, true, rules.trimLine) : trimLines(input, rules.trimLine);
    const n = lines.length;
    const shared = SharedLines.alloc(lines);
    if (shared === undefined) return rules.buildReport(input, sortUnique, presorted);
    const { bytes, offs } = shared;
    const chunk = POOL_CHUNK;
    const chunks = Math.ceil(n / chunk);
    const flagsBuf = new SharedArrayBuffer(Math.max(n, 1));
    const counterBuf = new SharedArrayBuffer(4);
    const ownerBuf = new SharedArrayBuffer(Math.max(chunks, 1) * 4);
    const counter = new Int32Array(counterBuf);
    const owner = new Int32Array(ownerBuf);
    const d = newDecisions(n, new Uint8Array(flagsBuf));
    const id = this.nextId++;
    const resulted = new Uint8Array(chunks);
    let results = 0;
    const take = (r: { attackAt: readonly number[]; attackFiles: readonly (readonly string[])[]; violationAt: readonly number[]; violationFiles: readonly (readonly string[])[] }): void => {
      d.attackAt.push(...r.attackAt);
      d.attackFiles.push(...r.attackFiles);
      d.violationAt.push(...r.violationAt);
      d.violationFiles.push(...r.violationFiles);
    };
    // A plain Uint8Array: a Buffer's subarray builds a Buffer object per line (when node-re2 is
    // handed a view per line; measured: a tenth of the main thread's time).
    const enc = { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), offs, shift: 0 };
    const decideChunk = (c: number): void => {
      // Its own Decisions, so a chunk redone after a worker died adds its hits exactly once.
      const part = newDecisions(n, d.flags);
      rules.decide(lines, c * chunk, Math.min(n, (c + 1) * chunk), enc, part);
      take(part);
      resulted[c] = 1;
      results++;
    };
    let wake: (() => void) | undefined;
    this.onMessage = (_w, m) => {
      if (m.t !== 'chunk' || m.id !== id || resulted[m.chunk] === 1) return;
      take(m);
      resulted[m.chunk] = 1;
      results++;
      wake?.();
    };
    this.onGone = () => wake?.();
    const job: PoolJob = {
      t: 'job',
      id,
      bytes: bytes.buffer as SharedArrayBuffer,
      offs: offs.buffer as SharedArrayBuffer,
      written: shared.written.buffer as SharedArrayBuffer,
      flags: flagsBuf,
      counter: counterBuf,
      owner: ownerBuf,
      lines: n,
      chunk,
    };
    for (const w of live) {
      w.worker.ref();
      w.worker.postMessage(job);
    }
    try {
      // The workers start on the first chunks while the rest are written.
      for (let to = Math.min(n, chunk); ; to = Math.min(n, to + chunk)) {
        shared.writeUpTo(to);
        if (to === n) break;
      }
      // The sort runs while the workers decide (its permutation is all assemble needs of it).
      const order = sortUnique || presorted ? undefined : sortOrder(input);
      for (;;) {
        const c = Atomics.add(counter, 0, 1);
        if (c >= chunks) break;
        Atomics.store(owner, c, -1);
        decideChunk(c);
      }
      // Wait for the workers' chunks. A chunk whose worker died is decided here; so is one claimed
      // but never marked (a worker dying between its claim and its mark) once it stays unmarked
      // over two looks with a worker gone.
      const unmarked = new Uint8Array(chunks);
      while (results < chunks) {
        const someGone = this.workers.some((w) => !w.alive);
        const claimed = Math.min(chunks, Atomics.load(counter, 0));
        let redone = false;
        for (let c = 0; c < claimed; c++) {
          if (resulted[c] === 1) continue;
          const o = Atomics.load(owner, c);
          let orphan = false;
          if (o > 0) orphan = !this.workers[o - 1]!.alive;
          else if (o === 0 && someGone) {
            orphan = unmarked[c] === 1;
            unmarked[c] = 1;
          }
          if (orphan) {
            Atomics.store(owner, c, -1);
            decideChunk(c);
            redone = true;
          }
        }
        if (results >= chunks) break;
        if (!redone) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            // With a worker gone, look again soon (an unmarked claim resolves only by looking).
            if (someGone) setTimeout(resolve, 20);
          });
        }
        wake = undefined;
      }
      for (const w of this.workers) if (!w.alive && w.failure !== undefined && !this.problems.includes(w.failure)) this.problems.push(w.failure);
      return rules.assemble(lines, order, d);
    } finally {
      this.onMessage = undefined;
      this.onGone = undefined;
      for (const w of this.workers) if (w.alive) w.worker.unref();
    }
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.filter((w) => w.alive).map((w) => w.worker.terminate()));
  }
}

/** A pool for `tree` if this run is big enough to gain from one and the machine has cores to spare. */
export function poolFor(tree: RuleTreeInput, opts: RuleOptions, titles: Titles, lines: number, workers: number | 'auto'): MatchPool | undefined {
  const count = workers === 'auto' ? autoWorkers() : workers;
  if (count <= 0 || lines < POOL_MIN_LINES || tree.layout !== 'debian') return undefined;
  return new MatchPool(tree, opts, titles, count);
}

/** Compiles `tree` in a worker (the worker thread's side of {@link MatchPool}). */
export function compileForWorker(data: PoolWorkerData): RuleSet {
  // The main thread compiled this tree already: no pattern needs its solo check again.
  return compileRules(data.tree, data.opts, data.titles, true);
}

export type { Decisions };
