/**
 * The scan lab: a small network of Linux network namespaces that end-to-end tests send real packets
 * through, and nothing else (see /work/shared/LAB.md for the rules).
 *
 * Shape: one namespace per host, `${prefix}-${host}`. The target namespace holds a bridge
 * (`${prefix}-br`, carrying the target's addresses); every other host is one veth pair, its end
 * `${prefix}-e${k}` in the host's namespace and its peer `${prefix}-p${k}` enslaved to the bridge.
 * The same shape is used with two hosts or with many, so every test sees the same interface names.
 * Host k has 198.18.N.k/24 and 2001:db8:N::k/64 (target k=1, scan k=2, extra hosts 3, 4, ...).
 * No link ever exists in the root namespace, so the lab cannot route anything to the real network.
 */
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { spawn as spawnChild } from 'node:child_process';
import { TriSentryError, UnavailableError } from '@trisentry/shared';
import { isRunning, killGroup, labEnv, runArgv, runSync } from './exec.js';
import type { RunResult } from './exec.js';

export { missingTools } from './exec.js';
export type { RunResult } from './exec.js';

/** The two hosts every lab has, plus the extra names a test asked for. */
export type HostName<H extends string> = 'scan' | 'target' | H;

/** One host of the lab. */
export interface LabHost {
  readonly name: string;
  /** The network namespace, `${prefix}-${name}`. */
  readonly ns: string;
  /** 198.18.N.k */
  readonly ipv4: string;
  /** 2001:db8:N::k (N and k written with their decimal digits, so 250 gives 2001:db8:250::) */
  readonly ipv6: string;
  /** The host's interface carrying those addresses (the bridge for the target). */
  readonly ifname: string;
  /** k, the last octet of ipv4. */
  readonly index: number;
}

/** What {@link createLab} builds. */
export interface LabOptions<H extends string = never> {
  /** Prefix of every namespace and link name: 2..8 of [a-z0-9-], starting with a letter, e.g. 'ts-ab'. */
  readonly prefix: string;
  /** N of 198.18.N.0/24 and 2001:db8:N::/64, 1..254; distinct per test file. */
  readonly subnet: number;
  /** Extra host names ([a-z][a-z0-9]{0,14}), beyond 'scan' and 'target' which are always there. */
  readonly hosts?: readonly H[];
}

/** Options of {@link Lab.run}. */
export interface LabRunOptions {
  /** Hard bound; the command's process group is killed when it passes. */
  readonly timeoutMs: number;
  /** Written to stdin, then stdin is closed (it is closed at once when absent). */
  readonly input?: string | Buffer;
  /** Return a non-zero status or a timeout instead of throwing `LAB_COMMAND`. */
  readonly allowFail?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

/** Options of {@link Lab.spawn}. */
export interface LabSpawnOptions {
  /** Longest the process may live; then its process group gets SIGTERM, and SIGKILL 1 s later. */
  readonly timeoutMs: number;
  /** Defaults to ['ignore', 'pipe', 'pipe']: read stdout/stderr or they fill up and block the child. */
  readonly stdio?: StdioOptions;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** A built lab. Every method is bounded in time; `cleanup` may be called any number of times. */
export interface Lab<H extends string = never> {
  readonly prefix: string;
  readonly subnet: number;
  /** Every host by name: scan, target and the extra ones. */
  readonly hosts: Readonly<Record<HostName<H>, LabHost>>;
  /**
   * Runs `argv` inside the host's namespace (`ip netns exec NS argv...`, no shell) and resolves with
   * its result. Throws `LAB_COMMAND` on a non-zero status or timeout unless `allowFail`.
   */
  run(host: HostName<H>, argv: readonly string[], opts: LabRunOptions): Promise<RunResult>;
  /**
   * Starts a long-running process (a daemon, a listener) inside the host's namespace, in its own
   * process group. It is killed at `timeoutMs` or at cleanup, whichever comes first.
   */
  spawn(host: HostName<H>, argv: readonly string[], opts: LabSpawnOptions): ChildProcess;
  /**
   * Kills every process started through the lab (and any other process left in its namespaces),
   * then deletes the namespaces, which removes their links. Resolves once nothing with the lab's
   * prefix is left, rejects with `LAB_COMMAND` when something could not be removed.
   */
  cleanup(): Promise<void>;
}

const PREFIX_RE = /^[a-z][a-z0-9-]{1,7}$/;
const HOST_RE = /^[a-z][a-z0-9]{0,14}$/;
const IP_TIMEOUT_MS = 5_000;
const SETTLE_TIMEOUT_MS = 5_000;
const TERM_GRACE_MS = 1_000;

// ---------------------------------------------------------------------------------------------------
// Capability probe

let skipReason: string | null | undefined;

/**
 * Undefined when the lab can run here (root, and `ip netns add`/`del` of a throwaway namespace
 * works); otherwise a sentence for `t.skip`. The probe runs once per process and is cached.
 */
export function labSkipReason(): string | undefined {
  if (skipReason === undefined) skipReason = probe() ?? null;
  return skipReason ?? undefined;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux network namespaces (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root: the scan lab creates network namespaces';
  if (runSync(['ip', '-V'], IP_TIMEOUT_MS) === undefined) return 'needs iproute2: `ip` was not found or did not run';
  // An underscore keeps this name outside every lab prefix's pattern, so no lab cleanup can take it.
  const ns = `ts_probe_${process.pid}`;
  const added = runSync(['ip', 'netns', 'add', ns], IP_TIMEOUT_MS) !== undefined;
  const del = runSync(['ip', 'netns', 'del', ns], IP_TIMEOUT_MS) !== undefined;
  if (!added) return 'needs network namespaces: `ip netns add` failed (no CAP_SYS_ADMIN, or no /run/netns)';
  if (!del) return `needs network namespaces: \`ip netns del ${ns}\` failed`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Names owned by a prefix

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Matches exactly the names a lab with this prefix makes: the prefix, a dash, then one word with no
 * dash. So prefix 'ts-a' never matches 'ts-ab-scan' nor 'ts-a-b-scan' (which belong to other labs).
 */
function ownedName(prefix: string): RegExp {
  return new RegExp(`^${escapeRe(prefix)}-[a-z0-9]+$`);
}

function checkPrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix)) {
    throw new RangeError(`lab prefix must be 2..8 of [a-z0-9-] starting with a letter, got ${JSON.stringify(prefix)}`);
  }
}

async function ip(args: readonly string[]): Promise<string> {
  return (await runArgv(['ip', ...args], { timeoutMs: IP_TIMEOUT_MS })).stdout;
}

async function listNamespaces(): Promise<string[]> {
  // Lines look like "ts-ab-scan (id: 3)" or just "ts-ab-scan".
  return (await ip(['netns', 'list']))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

async function listRootLinks(): Promise<string[]> {
  // `ip -o link` lines: "7: name@peer: <FLAGS> ..." ; the name ends at '@' or ':'.
  const names: string[] = [];
  for (const line of (await ip(['-o', 'link', 'show'])).split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m?.[1] !== undefined) names.push(m[1]);
  }
  return names;
}

/** What is left with this prefix: namespaces, and links in the root namespace. Empty lists mean clean. */
export async function labLeftovers(prefix: string): Promise<{ namespaces: string[]; links: string[] }> {
  checkPrefix(prefix);
  const owned = ownedName(prefix);
  return {
    namespaces: (await listNamespaces()).filter((n) => owned.test(n)),
    links: (await listRootLinks()).filter((n) => owned.test(n)),
  };
}

async function nsPids(ns: string): Promise<number[]> {
  const r = await runArgv(['ip', 'netns', 'pids', ns], { timeoutMs: IP_TIMEOUT_MS, allowFail: true });
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/**
 * Kills every process inside the namespace and waits for them to go: a namespace (and its veths)
 * lives on after `ip netns del` for as long as any process is still in it.
 */
async function emptyNamespace(ns: string): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const pids = (await nsPids(ns)).filter((p) => p !== process.pid);
    if (pids.length === 0) return;
    if (Date.now() > deadline) {
      throw new TriSentryError('LAB_COMMAND', `processes ${pids.join(', ')} in namespace ${ns} did not end`);
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone between the listing and the kill.
      }
    }
    await sleep(50);
  }
}

async function deleteNamespace(ns: string): Promise<void> {
  await emptyNamespace(ns);
  const r = await runArgv(['ip', 'netns', 'del', ns], { timeoutMs: IP_TIMEOUT_MS, allowFail: true });
  if (r.status !== 0 && (await listNamespaces()).includes(ns)) {
    throw new TriSentryError('LAB_COMMAND', `ip netns del ${ns}: ${r.stderr.trim()}`);
  }
}

/** Removes what a crashed earlier run with this prefix left: its namespaces and root-namespace links. */
async function removeLeftovers(prefix: string): Promise<void> {
  const left = await labLeftovers(prefix);
  for (const ns of left.namespaces) await deleteNamespace(ns);
  for (const link of left.links) {
    await runArgv(['ip', 'link', 'del', link], { timeoutMs: IP_TIMEOUT_MS, allowFail: true });
  }
  const still = await labLeftovers(prefix);
  if (still.namespaces.length > 0 || still.links.length > 0) {
    throw new TriSentryError('LAB_COMMAND', `cannot remove leftovers of prefix ${prefix}: ${[...still.namespaces, ...still.links].join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Exit safety net: labs still alive when the process ends are torn down synchronously.

// Structural type: labs of any host-name set share the one registry.
const liveLabs = new Set<{ cleanupSync(): void }>();
let netInstalled = false;

function onProcessExit(): void {
  for (const lab of liveLabs) lab.cleanupSync();
}

function onSignal(signal: NodeJS.Signals): void {
  onProcessExit();
  uninstallNet();
  // Re-raise so the process ends the way it would have without our handler.
  process.kill(process.pid, signal);
}
const onSigint = (): void => onSignal('SIGINT');
const onSigterm = (): void => onSignal('SIGTERM');

function installNet(): void {
  if (netInstalled) return;
  netInstalled = true;
  process.on('exit', onProcessExit);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
}

function uninstallNet(): void {
  if (!netInstalled) return;
  netInstalled = false;
  process.off('exit', onProcessExit);
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
}

// ---------------------------------------------------------------------------------------------------
// The lab

class LabImpl<H extends string> implements Lab<H> {
  readonly prefix: string;
  readonly subnet: number;
  readonly hosts: Readonly<Record<HostName<H>, LabHost>>;
  private readonly children = new Set<ChildProcess>();
  private readonly madeNamespaces: string[] = [];
  private cleaning: Promise<void> | undefined;
  private done = false;

  constructor(prefix: string, subnet: number, hosts: Record<HostName<H>, LabHost>) {
    this.prefix = prefix;
    this.subnet = subnet;
    this.hosts = Object.freeze(hosts);
  }

  host(name: string): LabHost {
    const h = (this.hosts as Readonly<Record<string, LabHost | undefined>>)[name];
    if (h === undefined) throw new RangeError(`lab ${this.prefix} has no host ${JSON.stringify(name)}`);
    return h;
  }

  private checkOpen(): void {
    if (this.cleaning !== undefined) throw new TriSentryError('LAB_COMMAND', `lab ${this.prefix} is cleaned up`);
  }

  async build(): Promise<void> {
    const all = Object.values<LabHost>(this.hosts).sort((a, b) => a.index - b.index);
    const target = this.host('target');
    for (const h of all) {
      // Recorded before the add, so a failure half-way still deletes it.
      this.madeNamespaces.push(h.ns);
      await ip(['netns', 'add', h.ns]);
      await ip(['-n', h.ns, 'link', 'set', 'lo', 'up']);
    }
    // STP off and forward delay 0: ports forward at once. Multicast snooping off: without an MLD
    // querier it can drop the neighbour solicitations IPv6 needs.
    await ip(['-n', target.ns, 'link', 'add', target.ifname, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
    await this.addAddresses(target);
    await ip(['-n', target.ns, 'link', 'set', target.ifname, 'up']);
    // The target's bridge stands in for a host's NIC, so bridged frames must not go through the IP
    // hooks at the bridge port (br_netfilter, when some other software loaded it, turns that on in
    // every new namespace): there they would be filtered before a capture on the bridge sees them,
    // which no real NIC does. The sysctls are per namespace; absent when br_netfilter is not loaded.
    for (const fam of ['iptables', 'ip6tables', 'arptables']) {
      await runArgv(['ip', 'netns', 'exec', target.ns, 'sysctl', '-q', '-w', `net.bridge.bridge-nf-call-${fam}=0`], { timeoutMs: IP_TIMEOUT_MS, allowFail: true });
    }
    for (const h of all) {
      if (h === target) continue;
      const port = `${this.prefix}-p${h.index}`;
      // Both ends are created straight inside their namespaces: nothing appears in the root one.
      await ip(['link', 'add', h.ifname, 'netns', h.ns, 'type', 'veth', 'peer', 'name', port, 'netns', target.ns]);
      await ip(['-n', target.ns, 'link', 'set', port, 'master', target.ifname]);
      await ip(['-n', target.ns, 'link', 'set', port, 'up']);
      await this.addAddresses(h);
      await ip(['-n', h.ns, 'link', 'set', h.ifname, 'up']);
    }
    await waitFor(async () => {
      for (const h of all) if (!(await this.settled(h))) return false;
      return true;
    }, { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 20, what: `lab ${this.prefix} links up and addresses usable` });
  }

  private async addAddresses(h: LabHost): Promise<void> {
    await ip(['-n', h.ns, 'addr', 'add', `${h.ipv4}/24`, 'dev', h.ifname]);
    // nodad: usable at once instead of after a second of duplicate address detection.
    await ip(['-n', h.ns, '-6', 'addr', 'add', `${h.ipv6}/64`, 'dev', h.ifname, 'nodad']);
  }

  /** Link up with carrier, and the global IPv6 address no longer tentative (nodad makes that immediate). */
  private async settled(h: LabHost): Promise<boolean> {
    const link = await ip(['-n', h.ns, '-o', 'link', 'show', 'dev', h.ifname]);
    if (!/[<,]LOWER_UP[,>]/.test(link) || !/\bstate UP\b/.test(link)) return false;
    // Only the lab's global address matters; link-local DAD may still run without harm.
    const tentative = await ip(['-n', h.ns, '-6', 'addr', 'show', 'dev', h.ifname, 'scope', 'global', 'tentative']);
    return tentative.trim() === '';
  }

  async run(host: HostName<H>, argv: readonly string[], opts: LabRunOptions): Promise<RunResult> {
    this.checkOpen();
    if (argv.length === 0) throw new RangeError('lab.run: empty argv');
    const ns = this.host(host).ns;
    return runArgv(['ip', 'netns', 'exec', ns, ...argv], opts, this.children);
  }

  spawn(host: HostName<H>, argv: readonly string[], opts: LabSpawnOptions): ChildProcess {
    this.checkOpen();
    if (argv.length === 0) throw new RangeError('lab.spawn: empty argv');
    if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
      throw new RangeError(`lab.spawn: timeoutMs must be positive, got ${opts.timeoutMs}`);
    }
    const ns = this.host(host).ns;
    const child = spawnChild('ip', ['netns', 'exec', ns, ...argv], {
      // Its own process group, so cleanup can end it together with anything it forked.
      detached: true,
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? labEnv(),
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    this.children.add(child);
    const life = setTimeout(() => void stopChild(child), opts.timeoutMs);
    // The lifetime timer must not keep a finished test process alive.
    life.unref();
    child.on('exit', () => {
      clearTimeout(life);
      this.children.delete(child);
    });
    // Without a listener a failed start would be an uncaught 'error' event; the test sees exitCode.
    child.on('error', () => this.children.delete(child));
    return child;
  }

  cleanup(): Promise<void> {
    this.cleaning ??= this.teardown();
    return this.cleaning;
  }

  private async teardown(): Promise<void> {
    try {
      await Promise.all([...this.children].map((c) => stopChild(c)));
      for (const ns of this.madeNamespaces) await deleteNamespace(ns);
      const left = await labLeftovers(this.prefix);
      if (left.namespaces.length > 0 || left.links.length > 0) {
        throw new TriSentryError('LAB_COMMAND', `lab ${this.prefix} cleanup left ${[...left.namespaces, ...left.links].join(', ')}`);
      }
    } finally {
      this.done = true;
      liveLabs.delete(this);
      if (liveLabs.size === 0) uninstallNet();
    }
  }

  /** Best-effort synchronous teardown for the process `exit` handler, where nothing can be awaited. */
  cleanupSync(): void {
    if (this.done) return;
    for (const c of this.children) killGroup(c, 'SIGKILL');
    for (const ns of this.madeNamespaces) {
      const pids = (runSync(['ip', 'netns', 'pids', ns], IP_TIMEOUT_MS) ?? '').split(/\s+/).filter((s) => /^\d+$/.test(s));
      for (const p of pids) {
        const pid = Number(p);
        if (pid === process.pid) continue;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      runSync(['ip', 'netns', 'del', ns], IP_TIMEOUT_MS);
    }
    this.done = true;
  }
}

/** SIGTERM to the child's process group, then SIGKILL if it has not exited within the grace time. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timer = sleep(TERM_GRACE_MS);
  await Promise.race([exited, timer]);
  if (isRunning(child)) {
    killGroup(child, 'SIGKILL');
    await Promise.race([exited, sleep(TERM_GRACE_MS)]);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Builds a lab (see the module comment for the shape). Leftovers of an earlier run with the same
 * prefix are removed first, and only those. Throws `LAB_NO_PRIVILEGE` when {@link labSkipReason}
 * gives a reason, RangeError on bad options, `LAB_COMMAND` when a step fails (after undoing what
 * was built). The lab is torn down at process exit or SIGINT/SIGTERM if the caller does not.
 */
export async function createLab<const H extends string = never>(opts: LabOptions<H>): Promise<Lab<H>> {
  const reason = labSkipReason();
  if (reason !== undefined) throw new UnavailableError('LAB_NO_PRIVILEGE', reason);
  const { prefix, subnet } = opts;
  checkPrefix(prefix);
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 254) {
    throw new RangeError(`lab subnet must be an integer 1..254, got ${subnet}`);
  }
  const extra = opts.hosts ?? [];
  const names: string[] = ['target', 'scan'];
  for (const h of extra) {
    if (!HOST_RE.test(h)) throw new RangeError(`lab host name must match ${HOST_RE.source}, got ${JSON.stringify(h)}`);
    if (names.includes(h)) throw new RangeError(`lab host ${JSON.stringify(h)} is listed twice (scan and target are always present)`);
    names.push(h);
  }
  if (names.length > 254) throw new RangeError(`a lab holds at most 254 hosts, asked for ${names.length}`);

  const hosts: Record<string, LabHost> = {};
  names.forEach((name, i) => {
    const index = i + 1;
    hosts[name] = Object.freeze({
      name,
      ns: `${prefix}-${name}`,
      ipv4: `198.18.${subnet}.${index}`,
      ipv6: `2001:db8:${subnet}::${index}`,
      ifname: name === 'target' ? `${prefix}-br` : `${prefix}-e${index}`,
      index,
    });
  });

  await removeLeftovers(prefix);
  const lab = new LabImpl<H>(prefix, subnet, hosts as Record<HostName<H>, LabHost>);
  liveLabs.add(lab);
  installNet();
  try {
    await lab.build();
  } catch (e) {
    await lab.cleanup().catch(() => undefined);
    throw e;
  }
  return lab;
}

/**
 * Builds a lab, runs `fn` with it and always cleans up. The body's error wins; if the body and the
 * cleanup both fail, an AggregateError carries both.
 */
export async function withLab<const H extends string = never, T = void>(opts: LabOptions<H>, fn: (lab: Lab<H>) => Promise<T>): Promise<T> {
  const lab = await createLab(opts);
  let result: T;
  try {
    result = await fn(lab);
  } catch (bodyErr) {
    try {
      await lab.cleanup();
    } catch (cleanErr) {
      throw new AggregateError([bodyErr, cleanErr], `lab ${opts.prefix}: test body failed and cleanup failed`);
    }
    throw bodyErr;
  }
  await lab.cleanup();
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Helpers for tests

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  readonly timeoutMs: number;
  /** Pause between polls; default 50 ms. */
  readonly intervalMs?: number;
  /** What is awaited, for the timeout message. */
  readonly what?: string;
}

/**
 * Polls `pred` until it returns true and resolves; rejects with an Error naming `what` (and the last
 * error `pred` threw, which otherwise counts as false) once `timeoutMs` has passed.
 */
export async function waitFor(pred: () => boolean | Promise<boolean>, opts: WaitForOptions): Promise<void> {
  const interval = opts.intervalMs ?? 50;
  const deadline = Date.now() + opts.timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      if (await pred()) return;
      lastErr = undefined;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const why = lastErr instanceof Error ? `: last error: ${lastErr.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what ?? 'a condition'}${why}`, { cause: lastErr });
    }
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
}

/**
 * True when a TCP connection from host `from` to `toAddr`:`port` completes within `timeoutMs`
 * (`nc -z -n -w`); false when it is refused, dropped or times out.
 */
export async function tcpConnect<H extends string>(lab: Lab<H>, from: HostName<H>, toAddr: string, port: number, timeoutMs: number): Promise<boolean> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1..65535, got ${port}`);
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const r = await lab.run(from, ['nc', '-z', '-n', '-w', String(seconds), toAddr, String(port)], {
    timeoutMs: seconds * 1000 + 2000,
    allowFail: true,
  });
  return r.status === 0;
}
