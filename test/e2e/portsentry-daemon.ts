/**
 * A harness for end-to-end tests of the real `portsentry` CLI in a scan lab: start it in the target
 * namespace with --foreground --syslog stderr, read the MESSAGE part of every syslog line it writes,
 * wait (bounded) for lines, and make sure it is gone in `finally`.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { waitFor } from '../lab/lab.js';
import type { Lab } from '../lab/lab.js';

/** The CLI entry point, and the build it needs. */
export const CLI = fileURLToPath(new URL('../../../portsentry/bin/portsentry.js', import.meta.url));
export const BUILT = fileURLToPath(new URL('../../../portsentry/dist/src/cli.js', import.meta.url));

export const ACTIVE = 'adminalert: PortSentry is now active and listening.';
export const SHUTDOWN = 'securityalert: PortSentry is shutting down';
export const IGNORING_TCP = 'attackalert: Ignoring TCP response per configuration file setting.';
export const IGNORING_UDP = 'attackalert: Ignoring UDP response per configuration file setting.';
// Generous for one local step (node start-up, a reload), and still far below the file's budget.
export const STEP_MS = 5_000;

// `Mmm dd hh:mm:ss portsentry[PID]: MESSAGE`, the --foreground / stderr sink form.
export const LINE_RE = /^[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d portsentry\[(\d+)\]: (.*)$/;

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The distinct items of `xs`, in order of first appearance. */
export function distinct(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/** Writes a classic portsentry.conf from `KEY -> value` pairs (or raw lines) and returns its path. */
export function writeConf(dir: string, name: string, lines: readonly (readonly [string, string] | string)[]): string {
  const path = join(dir, name);
  const text = lines.map((l) => (typeof l === 'string' ? l : `${l[0]}="${l[1]}"`));
  // Blocks, their lock and control socket stay in the test's own directory, never /var/lib.
  if (!text.some((l) => l.trim().startsWith('STATE_FILE='))) text.push(`STATE_FILE="${join(dir, 'portsentry.state.json')}"`);
  writeFileSync(path, text.join('\n') + '\n');
  return path;
}

/** How a daemon process ended. */
export interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running portsentry and what it has written so far. */
export class Daemon {
  private err = '';
  readonly ended: Promise<Ended>;

  constructor(readonly child: ChildProcess, readonly conf: string) {
    child.stdout?.resume();
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.err += s;
    });
    // 'close', not 'exit': by then all of stderr has been read, so the last lines are there.
    this.ended = new Promise((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
    });
  }

  /** Every complete stderr line. */
  lines(): string[] {
    const all = this.err.split('\n');
    all.pop(); // the part after the last newline is not a complete line yet
    return all;
  }

  /** The MESSAGE part of every syslog line on stderr, in order. */
  messages(): string[] {
    return this.lines().flatMap((l) => {
      const m = LINE_RE.exec(l);
      return m?.[2] !== undefined ? [m[2]] : [];
    });
  }

  /**
   * Waits (bounded) until `pred` holds for the messages so far; on timeout the error shows what the
   * daemon had written by then.
   */
  async waitUntil(pred: (msgs: string[]) => boolean, what: string): Promise<void> {
    try {
      await waitFor(() => pred(this.messages()), { timeoutMs: STEP_MS, intervalMs: 20, what });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- portsentry stderr ---\n${this.err}`, { cause: e });
    }
  }

  /** Waits until `msg` has been logged. */
  async waitMessage(msg: string, what: string): Promise<void> {
    await this.waitUntil((msgs) => msgs.includes(msg), `${what}: ${JSON.stringify(msg)}`);
  }

  /** Waits until some message matches `re`. */
  async waitMatch(re: RegExp, what: string): Promise<void> {
    await this.waitUntil((msgs) => msgs.some((m) => re.test(m)), `${what}: ${re}`);
  }

  /** Resolves with how it ended, or undefined when it is still running after `ms`. */
  async exitWithin(ms: number): Promise<Ended | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    try {
      return await Promise.race([this.ended, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Makes sure the process is gone (for `finally`): SIGKILL if it is still there. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exitWithin(STEP_MS);
  }
}

/** Starts portsentry with `conf` and `modes` inside the target namespace and waits until it says it is active. */
export async function startDaemon<H extends string>(lab: Lab<H>, conf: string, modes: readonly string[] = ['-tcp', '-udp']): Promise<Daemon> {
  const child = lab.spawn('target', [process.execPath, CLI, '-c', conf, '--foreground', '--syslog', 'stderr', ...modes], {
    timeoutMs: 30_000,
  });
  const d = new Daemon(child, conf);
  await Promise.race([
    (async () => {
      await d.waitMessage(ACTIVE, 'portsentry active');
      // The handlers are installed before "active" is logged; checking SIGHUP's bit in SigCgt as well
      // keeps the signal cases about behaviour, not timing.
      await waitFor(() => catchesSighup(child.pid), { timeoutMs: STEP_MS, intervalMs: 5, what: 'portsentry signal handlers installed' });
    })(),
    d.ended.then((e) => {
      throw new Error(`portsentry exited at start-up (${e.code ?? e.signal}):\n${d.lines().join('\n')}`);
    }),
  ]);
  return d;
}

/** True when process `pid` has a handler for SIGHUP (bit 0 of SigCgt in /proc/PID/status). */
export function catchesSighup(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] !== undefined && (BigInt(`0x${m[1]}`) & 1n) === 1n;
}

/** Runs `body` with a daemon for `conf`, always killing the daemon and removing `dir` afterwards. */
export async function withDaemon<H extends string>(
  lab: Lab<H>,
  dir: string,
  conf: string,
  body: (d: Daemon) => Promise<void>,
  modes: readonly string[] = ['-tcp', '-udp'],
): Promise<void> {
  let d: Daemon | undefined;
  try {
    d = await startDaemon(lab, conf, modes);
    await body(d);
  } finally {
    await d?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

