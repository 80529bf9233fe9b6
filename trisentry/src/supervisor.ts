/**
 * The suite's supervisor: starts every enabled sentry as a child process, restarts one that crashes
 * (with backoff and a limit), never restarts one that reports it is unavailable (69), misconfigured
 * (78) or misused (64), forwards SIGHUP, stops them all on SIGTERM, and keeps a status file that
 * `trisentry status` reads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeJsonAtomic } from '@trisentry/shared';

/** The names of the sentries, in start order. */
export const SENTRIES = ['portsentry', 'logsentry', 'hostsentry'] as const;
/** One of {@link SENTRIES}. */
export type SentryName = (typeof SENTRIES)[number];

/** How to run one sentry. */
export interface SentrySpec {
  readonly name: SentryName;
  readonly enabled: boolean;
  /** Executable and its arguments (the sentry's bin under node, or a PATH command). */
  readonly argv: readonly string[];
}

/** Restart policy. */
export interface RestartPolicy {
  readonly maxRestarts: number;
  readonly windowSec: number;
  readonly backoffSec: number;
}

/** What the status file says about one sentry. */
export type SentryState = 'disabled' | 'starting' | 'running' | 'restarting' | 'stopped' | 'unavailable' | 'config-error' | 'failed';

/** One sentry's entry in the status file. */
export interface SentryStatus {
  state: SentryState;
  pid?: number;
  since: string;
  restarts: number;
  exitCode?: number | null;
  signal?: string | null;
  /** The last lines it wrote to stderr before it ended, for the administrator. */
  lastMessage?: string;
}

/** The status file written by the supervisor (JSON). */
export interface SuiteStatus {
  pid: number;
  started: string;
  updated: string;
  config: string;
  state: 'running' | 'stopping' | 'stopped';
  sentries: Record<string, SentryStatus>;
}

/** Where the supervisor reports. */
export interface SupervisorIO {
  /** One line for the administrator (the daemon log). */
  readonly log: (severity: 'notice' | 'warning' | 'err', line: string) => void;
  /** Each line a child writes to stderr, prefixed by the caller. */
  readonly childLine: (name: SentryName, line: string) => void;
}

const NO_RESTART: Record<number, SentryState> = { 64: 'config-error', 69: 'unavailable', 77: 'unavailable', 78: 'config-error' };

interface Running {
  spec: SentrySpec;
  child?: ChildProcess;
  status: SentryStatus;
  restartTimes: number[];
  timer?: NodeJS.Timeout;
  tail: string[];
}

/** Runs the sentries; see the module comment. */
export class Supervisor {
  private readonly running = new Map<SentryName, Running>();
  private readonly status: SuiteStatus;
  private stopping = false;

  constructor(
    private specs: readonly SentrySpec[],
    private policy: RestartPolicy,
    private readonly statusPath: string,
    configPath: string,
    private readonly io: SupervisorIO,
  ) {
    const now = new Date().toISOString();
    this.status = { pid: process.pid, started: now, updated: now, config: configPath, state: 'running', sentries: {} };
  }

  /** Starts every enabled sentry. */
  start(): void {
    for (const spec of this.specs) this.launch(spec);
    this.save();
  }

  /** The current status (a copy). */
  snapshot(): SuiteStatus {
    return structuredClone(this.status);
  }

  /** True while at least one sentry runs or is about to be restarted. */
  anyAlive(): boolean {
    return [...this.running.values()].some((r) => r.status.state === 'running' || r.status.state === 'starting' || r.status.state === 'restarting');
  }

  /**
   * Applies a reloaded configuration: sentries newly enabled start, newly disabled stop, those whose
   * command changed restart, and the rest get SIGHUP so they reload their own configs.
   */
  async reload(specs: readonly SentrySpec[], policy: RestartPolicy): Promise<void> {
    this.policy = policy;
    const old = new Map(this.specs.map((s) => [s.name, s]));
    this.specs = specs;
    for (const spec of specs) {
      const prev = old.get(spec.name);
      const r = this.running.get(spec.name);
      const same = prev && prev.enabled === spec.enabled && prev.argv.join('\0') === spec.argv.join('\0');
      if (same && r?.child && r.status.state === 'running') {
        r.child.kill('SIGHUP');
        continue;
      }
      if (same && spec.enabled && r?.status.state === 'running') continue;
      if (r?.child) await this.stopOne(r);
      if (r?.timer) clearTimeout(r.timer);
      this.launch(spec);
    }
    this.save();
  }

  /** Stops every sentry: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    this.status.state = 'stopping';
    this.save();
    await Promise.all([...this.running.values()].map((r) => this.stopOne(r, graceMs)));
    this.status.state = 'stopped';
    this.save();
  }

  private stopOne(r: Running, graceMs = 10_000): Promise<void> {
    if (r.timer) clearTimeout(r.timer);
    const child = r.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      r.status.state = 'stopped';
      child.kill('SIGTERM');
    });
  }

  private launch(spec: SentrySpec): void {
    const prev = this.running.get(spec.name);
    const r: Running = prev ?? { spec, status: { state: 'starting', since: new Date().toISOString(), restarts: 0 }, restartTimes: [], tail: [] };
    r.spec = spec;
    this.running.set(spec.name, r);
    this.status.sentries[spec.name] = r.status;
    if (!spec.enabled) {
      this.setState(r, 'disabled');
      return;
    }
    const [file, ...args] = spec.argv;
    if (file === undefined) return;
    this.setState(r, 'starting');
    r.tail = [];
    const child = spawn(file, args, { stdio: ['ignore', 'inherit', 'pipe'] });
    r.child = child;
    r.status.pid = child.pid;
    let buf = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        r.tail.push(line);
        if (r.tail.length > 5) r.tail.shift();
        this.io.childLine(spec.name, line);
      }
    });
    child.on('error', (e) => {
      r.tail.push(String(e.message));
    });
    child.on('spawn', () => {
      if (r.child === child && r.status.state === 'starting') this.setState(r, 'running');
    });
    child.on('exit', (code, signal) => {
      if (buf) {
        r.tail.push(buf);
        this.io.childLine(spec.name, buf);
        buf = '';
      }
      if (r.child !== child) return;
      r.child = undefined;
      r.status.pid = undefined;
      r.status.exitCode = code;
      r.status.signal = signal;
      r.status.lastMessage = r.tail.slice(-3).join(' | ') || undefined;
      if (this.stopping || r.status.state === 'stopped') {
        this.setState(r, 'stopped');
        return;
      }
      const fixed = code !== null ? NO_RESTART[code] : undefined;
      if (fixed) {
        this.setState(r, fixed);
        this.io.log(code === 69 || code === 77 ? 'warning' : 'err', `${spec.name} is not running: ${fixed} (exit ${code})${r.status.lastMessage ? `: ${r.status.lastMessage}` : ''}`);
        return;
      }
      const now = Date.now();
      r.restartTimes = r.restartTimes.filter((t) => now - t < this.policy.windowSec * 1000);
      if (r.restartTimes.length >= this.policy.maxRestarts) {
        this.setState(r, 'failed');
        this.io.log('err', `${spec.name} exited (${signal ?? `status ${code}`}) ${r.restartTimes.length} times within ${this.policy.windowSec}s; not restarting`);
        return;
      }
      r.restartTimes.push(now);
      r.status.restarts++;
      this.setState(r, 'restarting');
      this.io.log('warning', `${spec.name} exited (${signal ?? `status ${code}`}); restarting in ${this.policy.backoffSec}s`);
      r.timer = setTimeout(() => this.launch(r.spec), this.policy.backoffSec * 1000);
    });
  }

  private setState(r: Running, s: SentryState): void {
    r.status.state = s;
    r.status.since = new Date().toISOString();
    this.save();
  }

  private save(): void {
    this.status.updated = new Date().toISOString();
    try {
      writeJsonAtomic(this.statusPath, this.status, { mode: 0o644 });
    } catch (e) {
      this.io.log('warning', `cannot write status file: ${(e as Error).message}`);
    }
  }
}
