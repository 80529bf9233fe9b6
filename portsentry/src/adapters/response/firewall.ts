/**
 * Native firewall backends, chosen by name, each with a lifecycle (init / block / unblock / list /
 * reconcile / flush / destroy / close).
 *
 * - `nftables`: own table `inet <name>`, sets `blocked4`/`blocked6` with per-element timeouts, one
 *   base chain at prerouting/raw with one rule per family. A set lookup is a hash lookup, so the
 *   per-packet cost stays constant as the set grows to 100,000 addresses.
 * - `ipset`: `hash:ip` sets `<name>4`/`<name>6` with per-entry timeouts, one iptables and one
 *   ip6tables rule in INPUT. Same constant per-packet cost.
 * - `iptables`: one rule per host in chain `<name>` jumped to from INPUT; for old systems only: the
 *   cost per packet grows with the number of blocks, and expiry is the caller's job.
 * - `route`: blackhole host routes (`ip route replace blackhole ADDR`); replies to the blocked host
 *   are dropped, not its packets. Expiry is the caller's job.
 * - `dry-run`: records what it would do in `.log`, touches nothing.
 *
 * Addresses are always printed from parsed {@link IpAddress} values and every command is an argv
 * array (no shell), so no outside text can reach a firewall tool's parser unchecked.
 */
import type { IpAddress } from '@trisentry/shared';
import { ConfigError } from '@trisentry/shared';
import { resolveOptions, runTool } from './common.js';
import { NftablesBackend } from './nftables.js';
import { IpsetBackend } from './ipset.js';
import { IptablesBackend } from './iptables.js';
import { RouteBackend } from './route.js';
import { DryRunBackend } from './dryrun.js';

export { FirewallError, type FirewallErrorCode } from './common.js';
export { NftablesBackend, createNftablesBackend, parseNftJsonElements, type NftChannelStats } from './nftables.js';
export { IpsetBackend, IPSET_MAX_TIMEOUT_S } from './ipset.js';
export { IptablesBackend } from './iptables.js';
export { RouteBackend, ROUTE_PROTO } from './route.js';
export { DryRunBackend } from './dryrun.js';

/** The name of a firewall backend, as written in the config. */
export type BackendName = 'nftables' | 'ipset' | 'iptables' | 'route' | 'dry-run';

/** Every backend name, in order of preference for {@link detectBackend} (dry-run last, never detected). */
export const BACKEND_NAMES: readonly BackendName[] = Object.freeze(['nftables', 'ipset', 'iptables', 'route', 'dry-run'] as const);

/** One address to block and when its block ends. */
export interface BlockEntry {
  readonly address: IpAddress;
  /** epoch ms, or null = until unblocked */
  readonly expiresAt: number | null;
}

/**
 * A firewall backend. Operations on one backend run one at a time in call order. Every failure is a
 * FirewallError (PS_FIREWALL, or PS_FIREWALL_UNAVAILABLE when the tool cannot run) quoting the tool's
 * stderr. IPv4-mapped IPv6 addresses are blocked as the IPv4 address they carry.
 */
export interface FirewallBackend {
  readonly name: BackendName;
  /** Creates its table/sets/chains/rules if missing (idempotent; never flushes existing blocks). */
  init(): Promise<void>;
  /** Blocks a batch in ONE transaction where the tool allows (nft -f with all elements; ipset restore). Already-blocked entries are not an error (their expiry is updated). */
  block(entries: readonly BlockEntry[]): Promise<void>;
  /** Removes the blocks of `addresses`; an address that is not blocked is not an error. */
  unblock(addresses: readonly IpAddress[]): Promise<void>;
  /** What the kernel holds now. */
  list(): Promise<IpAddress[]>;
  /** Makes the kernel hold exactly `entries`, in one transaction, with no moment where an address in both old and new sets is unblocked (add the missing, delete the extra; never flush-then-refill). */
  reconcile(entries: readonly BlockEntry[], now: number): Promise<void>;
  /** Removes every block (keeps the table/rules). */
  flush(): Promise<void>;
  /** Removes everything it created (table, sets, rules). Used by `portsentry flush --all`/tests. */
  destroy(): Promise<void>;
  /** Releases processes and handles it holds (the blocks stay in the kernel). Idempotent. */
  close(): Promise<void>;
}

/** Options shared by every backend. */
export interface BackendOptions {
  /** argv prefix for every command, e.g. ['ip','netns','exec','ts-fw-target'] in tests; default []. */
  readonly commandPrefix?: readonly string[];
  /** Names: nftables table `inet <name>`, ipset `<name>4`/`<name>6`, iptables chain; default 'portsentry'. */
  readonly name?: string;
  /** per command, default 5000 */
  readonly timeoutMs?: number;
}

/** Narrows a config string to a backend name; an unknown name is CFG_UNKNOWN_NAME listing the valid ones. */
export function parseBackendName(s: string, where?: { key?: string }): BackendName {
  const found = BACKEND_NAMES.find((n) => n === s);
  if (found === undefined) {
    throw new ConfigError('CFG_UNKNOWN_NAME', `unknown firewall backend ${JSON.stringify(s)}; valid: ${BACKEND_NAMES.join(', ')}`, where ?? {});
  }
  return found;
}

/**
 * Builds the backend `name` (no command is run until `init`). Throws CFG_BAD_VALUE when
 * `opts.name` cannot name a table/set/chain.
 */
export function createBackend(name: BackendName, opts?: BackendOptions): FirewallBackend {
  const o = resolveOptions(opts);
  switch (name) {
    case 'nftables':
      return new NftablesBackend(o);
    case 'ipset':
      return new IpsetBackend(o);
    case 'iptables':
      return new IptablesBackend(o);
    case 'route':
      return new RouteBackend(o);
    case 'dry-run':
      return new DryRunBackend(o);
    default: {
      const never: never = name;
      throw new ConfigError('CFG_UNKNOWN_NAME', `unknown firewall backend ${JSON.stringify(never)}; valid: ${BACKEND_NAMES.join(', ')}`);
    }
  }
}

async function works(o: ReturnType<typeof resolveOptions>, argv: readonly string[]): Promise<boolean> {
  try {
    await runTool('dry-run', o, argv);
    return true;
  } catch {
    return false;
  }
}

/**
 * The best backend this host has: nftables (nft works), else ipset (+iptables), else iptables, else
 * route. "Works" means a read-only listing command succeeds, which also proves the privilege.
 */
export async function detectBackend(opts?: BackendOptions): Promise<BackendName> {
  const o = resolveOptions(opts);
  if (await works(o, ['nft', 'list', 'tables'])) return 'nftables';
  const ipt = await works(o, ['iptables', '-w', '-S', 'INPUT']);
  if (ipt && (await works(o, ['ipset', 'list', '-n']))) return 'ipset';
  if (ipt) return 'iptables';
  return 'route';
}
