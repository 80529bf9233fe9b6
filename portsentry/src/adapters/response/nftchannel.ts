/**
 * A warm channel to one long-lived `nft -i` process, so a block costs one netlink transaction and
 * no fork/exec of nft (plus, in tests, of `ip netns exec`).
 *
 * Protocol. nft in interactive mode runs each input line as one transaction (commands separated by
 * `;` on the same line commit or fail together) and prints nothing on success. After each batch line
 * we send a marker line that always fails in a known way: a lone unique word, `psmark_<pid>_<n>`,
 * which is a syntax error, so it never reaches the kernel (a marker the kernel rejects, such as
 * deleting a missing table, costs an aborted transaction: about 13 ms, measured). nft reports it on
 * stderr as `Error: ...` followed by the marker line itself and a caret line. Both errors travel the
 * same pipe in order, so everything on stderr before the marker's `Error:` belongs to the batch: an
 * `Error:` there means the batch failed (and, being one transaction, changed nothing); none means it
 * committed.
 *
 * When the channel breaks (the process dies, the marker does not come back in time) the outcome of
 * the batch in flight is unknown; the caller then replays it through `nft -f -`, which is safe because
 * every batch the nftables backend builds is idempotent.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

/** The batch ran and nft rejected it; nothing was changed. `stderr` is nft's error text. */
export class NftBatchRejected extends Error {
  readonly stderr: string;
  constructor(stderr: string) {
    super(stderr);
    this.stderr = stderr;
  }
}

/** The channel is unusable (exited, timed out, could not start); the batch's outcome is unknown. */
export class NftChannelBroken extends Error {}

interface Pending {
  readonly markerLine: string;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const ENV: NodeJS.ProcessEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };

/** One `nft -i` child and the marker protocol over it. Callers must not overlap `run` calls. */
export class NftChannel {
  private child: ChildProcess | undefined;
  private stderr = '';
  private pending: Pending | undefined;
  private seq = 0;
  private broken: Error | undefined;

  /** `argv` runs nft in interactive mode, e.g. `['nft','-i']` or with an `ip netns exec` prefix. */
  constructor(
    private readonly argv: readonly string[],
    private readonly timeoutMs: number,
  ) {}

  /** The nft process id while it runs (for diagnostics and tests), else undefined. */
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** True once the channel has failed; a broken channel is never used again. */
  get isBroken(): boolean {
    return this.broken !== undefined;
  }

  /**
   * Runs one batch: `commands` are joined with `;` on one line, so they are one transaction.
   * Resolves when it committed; rejects with NftBatchRejected (nothing changed) or NftChannelBroken
   * (outcome unknown).
   */
  run(commands: readonly string[]): Promise<void> {
    if (this.broken) return Promise.reject(new NftChannelBroken(this.broken.message));
    if (this.pending) return Promise.reject(new NftChannelBroken('nft channel used concurrently'));
    for (const c of commands) {
      // A newline would split the batch into two transactions and desynchronise the marker.
      if (/[\r\n]/.test(c)) return Promise.reject(new NftBatchRejected('command contains a line break'));
    }
    const child = this.child ?? this.start();
    const stdin = child.stdin;
    if (!stdin) return Promise.reject(this.fail(new NftChannelBroken('nft -i has no stdin')));
    const markerLine = `psmark_${process.pid}_${++this.seq}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new NftChannelBroken(`nft -i gave no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.pending = { markerLine, resolve, reject, timer };
      stdin.write(`${commands.join('; ')}\n${markerLine}\n`);
    });
  }

  /** Ends the nft process. Idempotent; a pending batch rejects as broken. */
  close(): void {
    if (this.pending) {
      this.fail(new NftChannelBroken('nft channel closed'));
      return;
    }
    this.broken ??= new NftChannelBroken('nft channel closed');
    // EOF lets nft exit on its own; nothing is in flight, so there is nothing to cut short.
    this.child?.stdin?.end();
  }

  private start(): ChildProcess {
    const [file, ...args] = this.argv;
    const child = spawn(file ?? 'nft', args, { stdio: ['pipe', 'pipe', 'pipe'], env: ENV, detached: true });
    this.child = child;
    child.stdout?.resume(); // nft prints nothing for our commands; keep the pipe drained anyway
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.stderr += s;
      this.check();
    });
    child.stdin?.on('error', (e) => this.fail(new NftChannelBroken(`nft -i stdin: ${e.message}`)));
    child.on('error', (e) => this.fail(new NftChannelBroken(`nft -i: ${e.message}`)));
    child.on('exit', (code, signal) => this.fail(new NftChannelBroken(`nft -i exited (${signal ?? code})${this.stderr ? `: ${this.stderr.trim()}` : ''}`)));
    child.unref(); // a warm channel must not keep the daemon (or a test) alive
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    return child;
  }

  private check(): void {
    const p = this.pending;
    if (!p) return;
    const at = this.stderr.indexOf(`${p.markerLine}\n`);
    if (at < 0) return;
    const caretEnd = this.stderr.indexOf('\n', at + p.markerLine.length + 1);
    if (caretEnd < 0) return; // wait for the caret line so it is not mistaken for the next batch's output
    const markerError = this.stderr.lastIndexOf('Error:', at);
    const before = this.stderr.slice(0, markerError < 0 ? at : markerError).trim();
    this.stderr = this.stderr.slice(caretEnd + 1);
    this.pending = undefined;
    clearTimeout(p.timer);
    if (before.includes('Error:')) p.reject(new NftBatchRejected(before));
    else p.resolve();
  }

  private fail(e: Error): Error {
    if (!this.broken) this.broken = e;
    const p = this.pending;
    this.pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL'); // its own group: also ends `ip netns exec` wrappers
      } catch {
        /* already gone */
      }
    }
    return e;
  }
}
