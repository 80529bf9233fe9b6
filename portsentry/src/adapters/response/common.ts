/**
 * What every native firewall backend shares: the coded error, running a tool through the optional
 * command prefix, one-operation-at-a-time serialisation, and splitting entries by address family.
 */
import { ConfigError, ExecError, TriSentryError, runCommand } from '@trisentry/shared';
import type { IpAddress } from '@trisentry/shared';
import type { BackendName, BackendOptions, BlockEntry } from './firewall.js';

/** The codes a {@link FirewallError} carries. */
export type FirewallErrorCode = 'PS_FIREWALL' | 'PS_FIREWALL_UNAVAILABLE';

/**
 * A firewall backend operation failed. `PS_FIREWALL` (exit 71): a command ran and failed or timed out;
 * `PS_FIREWALL_UNAVAILABLE` (exit 69): the tool is missing or not permitted. `stderr` is the tool's
 * own stderr (also quoted in `message`), `argv` the command that failed.
 */
export class FirewallError extends TriSentryError {
  readonly backend: BackendName;
  readonly argv: readonly string[];
  readonly stderr: string;

  constructor(code: FirewallErrorCode, backend: BackendName, message: string, info: { argv?: readonly string[]; stderr?: string; cause?: unknown } = {}) {
    super(code, `${backend}: ${message}`, { cause: info.cause });
    this.backend = backend;
    this.argv = Object.freeze([...(info.argv ?? [])]);
    this.stderr = info.stderr ?? '';
  }
}

/** The options of a backend with their defaults filled in. */
export interface ResolvedOptions {
  readonly commandPrefix: readonly string[];
  readonly name: string;
  readonly timeoutMs: number;
}

// The name becomes an nft table, ipset names (`<name>4`, max 31 chars) and an iptables chain
// (max 28 chars), so it is kept to characters and a length all three accept.
const NAME_RE = /^[A-Za-z][A-Za-z0-9_]{0,26}$/;

/** Fills defaults and checks the name; a bad name is a CFG_BAD_VALUE config error. */
export function resolveOptions(opts: BackendOptions = {}): ResolvedOptions {
  const name = opts.name ?? 'portsentry';
  if (!NAME_RE.test(name)) {
    throw new ConfigError('CFG_BAD_VALUE', `firewall name ${JSON.stringify(name)} must be a letter then up to 26 letters, digits or _`, { key: 'name' });
  }
  const timeoutMs = opts.timeoutMs ?? 5000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new ConfigError('CFG_BAD_VALUE', `firewall command timeout must be a positive number of ms, not ${timeoutMs}`, { key: 'timeoutMs' });
  }
  return Object.freeze({ commandPrefix: Object.freeze([...(opts.commandPrefix ?? [])]), name, timeoutMs });
}

/** The argv actually run for `tool args...` under the prefix (e.g. `ip netns exec NS nft ...`). */
export function withPrefix(o: ResolvedOptions, argv: readonly string[]): string[] {
  return [...o.commandPrefix, ...argv];
}

/**
 * Runs one firewall tool (argv, no shell). Resolves with stdout; rejects with FirewallError:
 * PS_FIREWALL_UNAVAILABLE when the program cannot be started, PS_FIREWALL otherwise, with the
 * tool's stderr in the message.
 */
export async function runTool(backend: BackendName, o: ResolvedOptions, argv: readonly string[], input?: string): Promise<string> {
  const full = withPrefix(o, argv);
  const [file, ...args] = full;
  if (file === undefined) throw new FirewallError('PS_FIREWALL', backend, 'empty command');
  try {
    // 64 MiB of output: `nft -j list` of 100,000 elements is a few MiB and must not be cut.
    const r = await runCommand(file, args, { timeoutMs: o.timeoutMs, maxOutput: 64 << 20, ...(input === undefined ? {} : { input }) });
    return r.stdout;
  } catch (e) {
    throw toFirewallError(backend, full, e);
  }
}

/** Wraps an ExecError (or anything) as a FirewallError that keeps the command and stderr. */
export function toFirewallError(backend: BackendName, argv: readonly string[], e: unknown): FirewallError {
  if (e instanceof FirewallError) return e;
  if (e instanceof ExecError) {
    const code: FirewallErrorCode = e.code === 'EXEC_NOT_FOUND' ? 'PS_FIREWALL_UNAVAILABLE' : 'PS_FIREWALL';
    const stderr = e.stderr.trim();
    const what = e.code === 'EXEC_TIMEOUT' ? 'timed out' : e.code === 'EXEC_NOT_FOUND' ? 'cannot be run' : `failed (status ${e.status ?? e.signal ?? '?'})`;
    return new FirewallError(code, backend, `${argv.join(' ')} ${what}${stderr ? `: ${stderr}` : ''}`, { argv, stderr, cause: e });
  }
  return new FirewallError('PS_FIREWALL', backend, `${argv.join(' ')} failed: ${String(e)}`, { argv, cause: e });
}

/**
 * Runs async operations one at a time, in call order, so a reconcile never interleaves with a block
 * and commands reach the kernel in the order the daemon issued them. A failure does not stop the queue.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  /** Calls started and not yet settled. */
  private active = 0;

  /**
   * Runs `fn` after every earlier call has settled; resolves or rejects with `fn`'s outcome. When
   * nothing is under way, `fn` starts at once, in the caller's tick: a block's command then reaches
   * the firewall before the microtasks queued behind it (the log lines of a flood's other probes).
   */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const start = (): Promise<T> => {
      try {
        return fn();
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    const next = this.active === 0 ? start() : this.tail.then(start, start);
    this.active++;
    const settled = (): void => {
      this.active--;
    };
    this.tail = next.then(settled, settled);
    return next;
  }
}

/** An entry ready to print: the address to block (IPv4-mapped IPv6 unmapped) and its remaining ms. */
export interface PreparedEntry {
  readonly address: IpAddress;
  /** ms left, or null for a block without expiry. */
  readonly remainingMs: number | null;
}

/**
 * Unmaps, drops already-expired entries and de-duplicates (the last entry for an address wins),
 * then splits by family. An IPv4-mapped IPv6 address is blocked as the IPv4 address it carries,
 * because that is the source the kernel sees on the wire.
 */
export function prepareEntries(entries: readonly BlockEntry[], now: number): { v4: PreparedEntry[]; v6: PreparedEntry[] } {
  const byKey = new Map<string, PreparedEntry>();
  for (const e of entries) {
    const address = e.address.unmapped();
    const remainingMs = e.expiresAt === null ? null : Math.ceil(e.expiresAt - now);
    if (remainingMs !== null && remainingMs <= 0) {
      byKey.delete(address.toString());
      continue;
    }
    byKey.set(address.toString(), { address, remainingMs });
  }
  const v4: PreparedEntry[] = [];
  const v6: PreparedEntry[] = [];
  for (const p of byKey.values()) (p.address.family === 4 ? v4 : v6).push(p);
  return { v4, v6 };
}

/** Unmaps and de-duplicates addresses, split by family. */
export function splitAddresses(addresses: readonly IpAddress[]): { v4: IpAddress[]; v6: IpAddress[] } {
  const seen = new Map<string, IpAddress>();
  for (const a of addresses) {
    const u = a.unmapped();
    seen.set(u.toString(), u);
  }
  const v4: IpAddress[] = [];
  const v6: IpAddress[] = [];
  for (const a of seen.values()) (a.family === 4 ? v4 : v6).push(a);
  return { v4, v6 };
}

/** The canonical text of each address, as a set for membership tests. */
export function keySet(addresses: Iterable<IpAddress>): Set<string> {
  const s = new Set<string>();
  for (const a of addresses) s.add(a.unmapped().toString());
  return s;
}
