/**
 * A MatchPool worker thread (see pool.ts): compiles the rule tree it is started with, then, for each
 * job, claims chunks of the shared lines until none are left, decides them with RuleSet.decide (flags
 * straight into shared memory) and sends back each chunk's raised lines.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { newDecisions } from './core/rules.js';
import { compileForWorker, type PoolChunkResult, type PoolJob, type PoolWorkerData } from './pool.js';

const data = workerData as PoolWorkerData;
const rules = compileForWorker(data);
const mark = data.index + 1;
let claims = 0;
parentPort!.postMessage({ t: 'ready' });

/** The lines of [from, to) as strings, from their UTF-8 bytes. */
function linesOf(bytes: Uint8Array, offs: Uint32Array, from: number, to: number): string[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset + offs[from]!, offs[to]! - offs[from]!);
  const out = buf.toString('utf8').split('\n');
  out.pop();
  if (out.length === to - from) return out;
  // A line holding a newline itself: decode line by line.
  const lines: string[] = [];
  for (let k = from; k < to; k++) lines.push(Buffer.from(bytes.buffer, bytes.byteOffset + offs[k]!, offs[k + 1]! - 1 - offs[k]!).toString('utf8'));
  return lines;
}

parentPort!.on('message', (job: PoolJob) => {
  if (job.t !== 'job') return;
  const bytes = new Uint8Array(job.bytes);
  const offs = new Uint32Array(job.offs);
  const flags = new Uint8Array(job.flags);
  const counter = new Int32Array(job.counter);
  const owner = new Int32Array(job.owner);
  const written = new Int32Array(job.written);
  const chunks = Math.ceil(job.lines / job.chunk);
  for (;;) {
    const c = Atomics.add(counter, 0, 1);
    if (c >= chunks) break;
    Atomics.store(owner, c, mark);
    if (data.exitAfterClaims !== undefined && ++claims >= data.exitAfterClaims) process.exit(70);
    const from = c * job.chunk;
    const to = Math.min(job.lines, from + job.chunk);
    // The main thread writes the lines a chunk at a time while the first chunks are decided (the
    // timeout only lets a terminate() through should the main thread stop writing).
    for (let w = Atomics.load(written, 0); w < to; w = Atomics.load(written, 0)) Atomics.wait(written, 0, w, 100);
    // Local indexes 0..to-from; flags go to the shared array at the line's own index.
    const local = linesOf(bytes, offs, from, to);
    const part = newDecisions(to - from, flags.subarray(from, to));
    rules.decide(local, 0, to - from, { bytes, offs, shift: from }, part);
    const result: PoolChunkResult = {
      t: 'chunk',
      id: job.id,
      chunk: c,
      attackAt: part.attackAt.map((k) => k + from),
      attackFiles: part.attackFiles,
      violationAt: part.violationAt.map((k) => k + from),
      violationFiles: part.violationFiles,
    };
    parentPort!.postMessage(result);
  }
});
