/**
 * Bounded command running for the scan lab: argv arrays only (never a shell), a hard timeout on every
 * call, and each child in its own process group so a timeout or a cleanup ends its children too.
 */
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { TriSentryError } from '@trisentry/shared';

/** What one finished command gave. `status` is null when a signal (or the timeout) ended it. */
export interface RunResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the timeout fired and the process group was killed. */
  readonly timedOut: boolean;
}

/** Options of {@link runArgv}. `timeoutMs` is required: nothing in the lab waits without a bound. */
export interface RunOptions {
  readonly timeoutMs: number;
  /** Written to stdin, which is then closed; stdin is closed at once when absent. */
  readonly input?: string | Buffer;
  /** When true a non-zero status or a timeout is returned instead of thrown. */
  readonly allowFail?: boolean;
  /** Environment of the child; defaults to this process's, with the sbin directories on PATH. */
  readonly env?: NodeJS.ProcessEnv;
}

// Output beyond this is dropped (and the command killed) so a runaway tool cannot exhaust memory.
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;
// After the leader exits, stdio may stay open in a grandchild that escaped the group; stop waiting.
const CLOSE_GRACE_MS = 500;
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * PATH with the sbin directories appended when missing: `ip`, `hping3`, `nft` live there and a test
 * runner started from a user shell may not have them on PATH.
 */
export function pathWithSbin(path: string | undefined): string {
  const parts = (path ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter).filter((p) => p !== '');
  for (const d of SBIN_DIRS) if (!parts.includes(d)) parts.push(d);
  return parts.join(delimiter);
}

/** The default child environment: this process's, with {@link pathWithSbin}. */
export function labEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: pathWithSbin(process.env.PATH) };
}

/**
 * Names from `tools` that are not executable files on PATH (plus the sbin directories), in the given
 * order; empty when all are present. Lets a test skip with a reason naming what to install.
 */
export function missingTools(tools: readonly string[]): string[] {
  const dirs = pathWithSbin(process.env.PATH).split(delimiter);
  return tools.filter((tool) => !dirs.some((d) => isExecutable(join(d, tool))));
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Sends `signal` to the child's whole process group; a group that is already gone is not an error. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group has ended already, which is what we wanted.
  }
}

/** True while the child has not exited. */
export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function checkTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  }
}

function describe(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/**
 * Runs `argv` (argv[0] is the program, looked up on PATH; no shell) and resolves when it ends.
 * The child leads its own process group; on timeout the whole group gets SIGKILL. Unless `allowFail`,
 * a non-zero status, a signal or a timeout rejects with a `LAB_COMMAND` error carrying stderr.
 * `track` (when given) holds the child while it runs, so a lab cleanup can kill it.
 */
export function runArgv(argv: readonly string[], opts: RunOptions, track?: Set<ChildProcess>): Promise<RunResult> {
  checkTimeout(opts.timeoutMs);
  const [file, ...args] = argv;
  if (file === undefined || file === '') return Promise.reject(new RangeError('runArgv: empty argv'));
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(file, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? labEnv() });
    track?.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    let overflow = false;
    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;

    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) {
        overflow = true;
        killGroup(child, 'SIGKILL');
        return;
      }
      into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    // The program may exit without reading its input; EPIPE on stdin is not a failure of the run.
    child.stdin.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();

    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, opts.timeoutMs);

    const finish = (status: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (graceTimer !== undefined) clearTimeout(graceTimer);
      track?.delete(child);
      child.stdout.destroy();
      child.stderr.destroy();
      const result: RunResult = {
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      };
      if (!opts.allowFail && (timedOut || status !== 0)) {
        const why = timedOut
          ? `timed out after ${opts.timeoutMs} ms`
          : overflow
            ? `killed: more than ${MAX_OUTPUT_BYTES} bytes of output`
            : status === null
            ? `ended by ${signal ?? 'a signal'}`
            : `exited with status ${status}`;
        const detail = result.stderr.trim();
        reject(new TriSentryError('LAB_COMMAND', `${describe(argv)}: ${why}${detail ? `: ${detail}` : ''}`));
        return;
      }
      resolve(result);
    };

    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      track?.delete(child);
      reject(new TriSentryError('LAB_COMMAND', `${describe(argv)}: cannot start: ${e.message}`, { cause: e }));
    });
    child.on('exit', (status, signal) => {
      graceTimer = setTimeout(() => finish(status, signal), CLOSE_GRACE_MS);
    });
    child.on('close', (status: number | null, signal: NodeJS.Signals | null) => finish(status, signal));
  });
}

/**
 * Synchronous, never-throwing run for paths that cannot wait (a process `exit` handler) or that run
 * once at load time (the capability probe). Returns stdout, or undefined when the command failed.
 */
export function runSync(argv: readonly string[], timeoutMs: number): string | undefined {
  const [file, ...args] = argv;
  if (file === undefined) return undefined;
  try {
    return execFileSync(file, args, {
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: labEnv(),
    });
  } catch {
    return undefined;
  }
}
