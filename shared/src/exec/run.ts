/**
 * Running external commands: argv only (execFile semantics, no shell of ours), a timeout that kills the
 * whole process group, and failures as ExecError with a stable code, the exit status and stderr.
 */
import { spawn } from 'node:child_process';
import { ExecError } from '../errors.js';
import type { FilledCommand } from './template.js';

/** Options for {@link runCommand}. */
export interface RunOptions {
  /** Kill the command (and its process group) after this many ms. Default 10,000. */
  readonly timeoutMs?: number;
  /** Text written to the command's stdin (then closed). Default: stdin is /dev/null. */
  readonly input?: string | Buffer;
  /** Environment; default a minimal one (PATH, LANG=C) so a template behaves the same under cron and systemd. */
  readonly env?: NodeJS.ProcessEnv;
  /** Largest stdout/stderr kept, in bytes each. Default 1 MiB; the rest is dropped. */
  readonly maxOutput?: number;
}

/** The outcome of a command that exited 0. */
export interface RunResult {
  readonly status: 0;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

const DEFAULT_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C',
};

/**
 * Runs `file` with `args`. Resolves on exit status 0; otherwise rejects with ExecError:
 * `EXEC_NOT_FOUND` (no such file, not executable, or a shell reporting 126/127), `EXEC_FAILED`
 * (non-zero status), `EXEC_SIGNALED`, `EXEC_TIMEOUT`. Never throws synchronously.
 */
export function runCommand(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const argv = [file, ...args];
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const max = opts.maxOutput ?? 1 << 20;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(file, [...args], {
        env: opts.env ?? DEFAULT_ENV,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        detached: true, // own process group, so a timeout kills the whole pipeline of a shell template
        windowsHide: true,
      });
    } catch (cause) {
      reject(new ExecError('EXEC_NOT_FOUND', `cannot start ${file}: ${String(cause)}`, { argv, cause }));
      return;
    }
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout?.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b.subarray(0, max - outLen));
      outLen += b.length;
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (errLen < max) errb.push(b.subarray(0, max - errLen));
      errLen += b.length;
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // the command may exit without reading its input
      child.stdin.end(opts.input);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(errb).toString('utf8').trim();
      const durationMs = performance.now() - started;
      const tail = stderr ? `: ${stderr.split('\n').slice(-3).join(' | ')}` : '';
      if (spawnError) {
        const code = spawnError.code === 'ENOENT' || spawnError.code === 'EACCES' ? 'EXEC_NOT_FOUND' : 'EXEC_FAILED';
        reject(new ExecError(code, `cannot run ${file}: ${spawnError.message}`, { argv, stderr, cause: spawnError }));
      } else if (timedOut) {
        reject(new ExecError('EXEC_TIMEOUT', `${file} did not finish within ${timeoutMs} ms and was killed${tail}`, { argv, signal: 'SIGKILL', stderr }));
      } else if (signal) {
        reject(new ExecError('EXEC_SIGNALED', `${file} was ended by ${signal}${tail}`, { argv, signal, stderr }));
      } else if (status !== 0) {
        // sh reports 127 for a command it cannot find and 126 for one it cannot execute.
        const notFound = file === '/bin/sh' && (status === 127 || status === 126);
        reject(
          new ExecError(notFound ? 'EXEC_NOT_FOUND' : 'EXEC_FAILED', `${notFound ? 'command not found or not executable' : `${file} exited with status ${status}`}${tail}`, {
            argv,
            status,
            stderr,
          }),
        );
      } else {
        resolve({ status: 0, stdout, stderr, durationMs });
      }
    });
  });
}

/** Runs a command made by fillCommand. */
export function runFilled(cmd: FilledCommand, opts?: RunOptions): Promise<RunResult> {
  return runCommand(cmd.file, cmd.args, opts);
}
