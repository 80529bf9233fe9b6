/**
 * The nftables kernel fast path: the kernel itself blocks a source on its first probe to a watched
 * port, with no round trip through userspace. PortSentry still sees every probe (libpcap taps the
 * frame before netfilter runs) for its log lines, history and decisions; this only moves the first
 * block into the packet path.
 *
 * It adds to the backend's table `inet <name>`, next to (never inside) the backend's objects:
 * ```
 * table inet portsentry {
 *   limit fastpath_rate { rate R/minute burst B packets }         # one budget for every rule below
 *   set fast4 { type ipv4_addr; size N; flags dynamic,timeout; }  # sources the kernel blocked
 *   set fast6 { type ipv6_addr; size N; flags dynamic,timeout; }
 *   set watched_tcp { type inet_service; flags interval; }        # kept current by the daemon
 *   set watched_udp { type inet_service; flags interval; }
 *   set allow4 { type ipv4_addr; flags interval; }                # ignore list, local addresses,
 *   set allow6 { type ipv6_addr; flags interval; }                # gateways, name servers
 *   chain fastpath {
 *     type filter hook prerouting priority -299; policy accept;   # right after the backend's -300
 *     ip saddr @fast4 counter drop
 *     ip6 saddr @fast6 counter drop
 *     tcp flags & (ack|rst) == 0 tcp dport @watched_tcp ip saddr != @allow4
 *         limit name "fastpath_rate" add @fast4 { ip saddr timeout Ts } counter drop
 *     (the same for udp dport @watched_udp, and both again for ip6 / @allow6 / @fast6)
 *   }
 * }
 * ```
 *
 * Why a chain of its own at priority -299 rather than rules in the backend's `prerouting` chain: the
 * backend's `init` rewrites that chain (flush + add), which would silently remove the fast path; a
 * base chain at -299 runs after it on every packet, so the drop of already-blocked sources still
 * comes first, and each side can re-init without touching the other.
 *
 * Why sets of its own (`fast4`/`fast6`) rather than a dynamic add to `blocked4`/`blocked6`: when a
 * rule adds to a set from the packet path, the kernel gives a set without a size the size 65,535
 * (nft_dynset_init), for good. `blocked4` would then refuse its 65,536th element with ENFILE, and the
 * backend promises 100,000 and more. So the kernel's own blocks live in sets with an explicit size;
 * a full set makes the add fail, the rule then does not match, and the probe falls through to the
 * userspace path (fail open, like the rate limit). The daemon lifts a fast-path block with
 * {@link NftFastPath.unblock} as well as through the backend.
 *
 * What counts as a probe. Prerouting at -299 runs before conntrack, so "a new connection attempt" is
 * read from the flags. TCP: by default every segment with neither ACK nor RST (SYN, and also FIN,
 * NULL, XMAS and any other ACK-less mix), which is exactly what the core classifies as a probe
 * (core/classify.ts, 1.2's rule). After the handshake every legitimate segment carries ACK, and a
 * legitimate RST may lack ACK (it answers a segment that had one), so excluding both leaves only
 * connection attempts and scanner packets; a reply to one of this host's own outgoing connections
 * always carries ACK, so an ephemeral port in the watched list does not trip it. `tcpProbes: 'syn'`
 * narrows it to SYN without ACK. UDP: every datagram to a watched port; a reply to this host's own
 * UDP query to a server that is not in the allow set, arriving on an ephemeral port that is also
 * watched, would trip it: keep name servers in the allow set, and keep watched UDP ports out of the
 * ephemeral range or pass `udp: false`.
 *
 * The rate limit on new blocks holds in the kernel: the `limit` statement sits before the set update,
 * so a packet over the budget (a spoofed flood) matches nothing, is not blocked and not dropped, and
 * goes on to the userspace path with its own limits. One named limit object serves all rules, so the
 * budget is R per minute (after a burst of B) over TCP, UDP, IPv4 and IPv6 together.
 *
 * SCAN_TRIGGER above 1: not in the kernel. See {@link fastPathSupport}.
 */
import { formatPrefix, unmapPrefix } from '@trisentry/shared';
import type { IpAddress, IpPrefix } from '@trisentry/shared';
import { ConfigError } from '@trisentry/shared';
import type { BackendName, BackendOptions } from './firewall.js';
import { FirewallError, SerialQueue, resolveOptions, runTool, splitAddresses, withPrefix } from './common.js';
import type { ResolvedOptions } from './common.js';
import { NftBatchRejected, NftChannel, NftChannelBroken } from './nftchannel.js';
import { parseNftJsonElements } from './nftables.js';

/** One port, or an inclusive range `[from, to]`; ports are 1..65535. */
export type PortSpec = number | readonly [number, number];

/** The ports whose probes trigger a kernel block. */
export interface WatchedPorts {
  readonly tcp: readonly PortSpec[];
  readonly udp: readonly PortSpec[];
}

/** Which TCP segments count as a probe: no ACK and no RST (default, as the core), or SYN alone. */
export type FastPathTcpProbes = 'no-ack' | 'syn';

/** Options of {@link createFastPath}. */
export interface FastPathOptions extends BackendOptions {
  /** Lifetime of a kernel block in seconds; 0 = permanent (until unblocked or flushed). */
  readonly timeoutS: number;
  /** New kernel blocks per minute, all families and protocols together (1..100000). */
  readonly ratePerMinute: number;
  /** Blocks allowed at once before the rate applies; default `ratePerMinute`. */
  readonly burst?: number;
  /** Default 'no-ack' (see the module comment). */
  readonly tcpProbes?: FastPathTcpProbes;
  /** Whether UDP to a watched UDP port triggers; default true. */
  readonly udp?: boolean;
  /** Size of each of `fast4`/`fast6`; default 65535. A full set fails open. */
  readonly maxElements?: number;
}

/** What {@link NftFastPath.init} can load in the same transaction that turns the rules on. */
export interface FastPathInitial {
  readonly watched?: WatchedPorts;
  readonly allowed?: readonly IpPrefix[];
}

/** Packet counters of the fast path's rules (from `nft -j list chain`). */
export interface FastPathCounters {
  /** packets dropped because their source was already in fast4/fast6 */
  readonly dropped: number;
  /** probes that created a kernel block (each also dropped) */
  readonly blocked: number;
}

/** Whether the kernel fast path can serve a SCAN_TRIGGER; when not, the reason to log. */
export type FastPathSupport = { readonly enabled: true } | { readonly enabled: false; readonly reason: string };

/**
 * Decides whether the fast path may run for this SCAN_TRIGGER. 0 and 1 (the first probe triggers)
 * are served. Above 1 the fast path stays off and the userspace path decides: a per-source kernel
 * meter (`add @m { ip saddr limit rate over ... }`) is a token bucket per packet, while the
 * userspace trigger counts probes inside SCAN_TRIGGER_WINDOW; a retransmitted SYN, a refill in the
 * middle of a slow scan and the window's edges would make the two disagree about who is blocked,
 * and an address blocked by the kernel but not by policy is exactly what a fast path must never do.
 */
export function fastPathSupport(scanTrigger: number): FastPathSupport {
  if (scanTrigger <= 1) return { enabled: true };
  return { enabled: false, reason: `SCAN_TRIGGER=${scanTrigger} needs more than one probe per source; the kernel fast path is off and blocks go through the userspace path` };
}

const BACKEND: BackendName = 'nftables';
const CHAIN = 'fastpath';
const LIMIT = 'fastpath_rate';
const OWN_SETS: ReadonlyArray<readonly [string, string]> = [
  ['watched_tcp', 'type inet_service; flags interval;'],
  ['watched_udp', 'type inet_service; flags interval;'],
  ['allow4', 'type ipv4_addr; flags interval;'],
  ['allow6', 'type ipv6_addr; flags interval;'],
];
// After this many broken channels, set updates fork `nft -f -` each (as the backend does).
const MAX_CHANNEL_RESTARTS = 3;

/** The kernel fast path. Build it with {@link createFastPath}; operations run one at a time in call order. */
export class NftFastPath {
  private readonly table: string;
  private readonly queue = new SerialQueue();
  private channel: NftChannel | undefined;
  private channelFailures = 0;
  private closed = false;

  /** @internal use {@link createFastPath}. */
  constructor(
    private readonly o: ResolvedOptions,
    private readonly timeoutS: number,
    private readonly rate: number,
    private readonly burst: number,
    private readonly tcpProbes: FastPathTcpProbes,
    private readonly udp: boolean,
    private readonly maxElements: number,
  ) {
    this.table = `inet ${o.name}`;
  }

  /**
   * Creates (or rewrites) the table's fast-path objects and rules in one transaction, with
   * `initial` ports and allowed prefixes loaded in the same transaction, so there is no moment with
   * rules but without the allow list. Without `initial.watched` the watched sets keep what they
   * held (empty on first init: nothing triggers until {@link setWatched}). Idempotent; kernel
   * blocks already in fast4/fast6 are kept. Rejects with FirewallError.
   */
  init(initial: FastPathInitial = {}): Promise<void> {
    return this.queue.run(async () => {
      const t = this.table;
      const setSize = `size ${this.maxElements}; flags dynamic,timeout;`;
      const cmds = [
        `add table ${t}`,
        `add set ${t} fast4 { type ipv4_addr; ${setSize} }`,
        `add set ${t} fast6 { type ipv6_addr; ${setSize} }`,
        ...OWN_SETS.map(([n, spec]) => `add set ${t} ${n} { ${spec} }`),
        `add chain ${t} ${CHAIN} { type filter hook prerouting priority -299; policy accept; }`,
        `flush chain ${t} ${CHAIN}`,
        // A limit object cannot be changed in place; the flush above released the rules' hold on it,
        // so it is replaced (add-then-delete so a missing one is not an error).
        `add limit ${t} ${LIMIT} { rate 1/minute burst 1 packets }`,
        `delete limit ${t} ${LIMIT}`,
        `add limit ${t} ${LIMIT} { rate ${this.rate}/minute burst ${this.burst} packets }`,
        ...(initial.watched ? this.watchedCommands(initial.watched) : []),
        ...(initial.allowed ? this.allowedCommands(initial.allowed) : []),
        `add rule ${t} ${CHAIN} ip saddr @fast4 counter drop`,
        `add rule ${t} ${CHAIN} ip6 saddr @fast6 counter drop`,
        ...this.triggerRules(),
      ];
      await this.fork(cmds);
    });
  }

  /**
   * Replaces the watched ports (both protocols) in one transaction: packets see the old set or the
   * new one, never an empty one in between. Ranges may overlap; they are merged. Rejects with
   * FirewallError (CFG_BAD_VALUE ConfigError for a port outside 1..65535).
   */
  setWatched(watched: WatchedPorts): Promise<void> {
    return this.queue.run(() => this.batch(this.watchedCommands(watched)));
  }

  /**
   * Replaces the allow sets in one transaction. IPv4-mapped IPv6 prefixes count as IPv4; a prefix
   * inside another is dropped (an interval set refuses overlaps). Sources in these prefixes are never
   * blocked by the kernel; they are not unblocked if already blocked (use {@link unblock}).
   */
  setAllowed(prefixes: readonly IpPrefix[]): Promise<void> {
    return this.queue.run(() => this.batch(this.allowedCommands(prefixes)));
  }

  /** Lifts kernel blocks at once; an address that is not blocked is not an error. */
  unblock(addresses: readonly IpAddress[]): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = splitAddresses(addresses);
      const cmds: string[] = [];
      for (const [set, list] of [['fast4', v4], ['fast6', v6]] as const) {
        if (list.length === 0) continue;
        // add-then-delete: deleting an absent element would fail the whole batch.
        const bare = list.map((a) => a.toString()).join(', ');
        cmds.push(`add element ${this.table} ${set} { ${bare} }`, `delete element ${this.table} ${set} { ${bare} }`);
      }
      await this.batch(cmds);
    });
  }

  /** The addresses the kernel has blocked through the fast path (fast4 and fast6). */
  list(): Promise<IpAddress[]> {
    return this.queue.run(async () => {
      const out = await runTool(BACKEND, this.o, ['nft', '-j', 'list', 'table', ...this.table.split(' ')]);
      return parseNftJsonElements(out, ['fast4', 'fast6']);
    });
  }

  /** Rule counters: probes that created a block, and packets dropped for a fast-path block. */
  counters(): Promise<FastPathCounters> {
    return this.queue.run(async () => {
      const out = await runTool(BACKEND, this.o, ['nft', '-j', 'list', 'chain', ...this.table.split(' '), CHAIN]);
      return countersFromJson(out);
    });
  }

  /** Removes every kernel block of the fast path (rules and sets stay). */
  flush(): Promise<void> {
    return this.queue.run(() => this.batch([`flush set ${this.table} fast4`, `flush set ${this.table} fast6`]));
  }

  /**
   * Removes the fast path's chain, sets and limit (and its kernel blocks). The table itself is
   * deleted only when nothing else is left in it, so the backend's sets and blocks survive.
   */
  destroy(): Promise<void> {
    return this.queue.run(async () => {
      const t = this.table;
      // Each object is added before it is deleted, so a partial or repeated destroy is not an error.
      await this.fork([
        `add table ${t}`,
        `add chain ${t} ${CHAIN}`,
        `delete chain ${t} ${CHAIN}`,
        `add limit ${t} ${LIMIT} { rate 1/minute burst 1 packets }`,
        `delete limit ${t} ${LIMIT}`,
        `add set ${t} fast4 { type ipv4_addr; size ${this.maxElements}; flags dynamic,timeout; }`,
        `delete set ${t} fast4`,
        `add set ${t} fast6 { type ipv6_addr; size ${this.maxElements}; flags dynamic,timeout; }`,
        `delete set ${t} fast6`,
        ...OWN_SETS.flatMap(([n, spec]) => [`add set ${t} ${n} { ${spec} }`, `delete set ${t} ${n}`]),
      ]);
      const left: unknown = JSON.parse(await runTool(BACKEND, this.o, ['nft', '-j', 'list', 'table', ...t.split(' ')]));
      if (tableIsEmpty(left)) await this.fork([`delete table ${t}`]);
    });
  }

  /** Ends the warm `nft -i` process; the rules and blocks stay in the kernel. Idempotent. */
  close(): Promise<void> {
    return this.queue.run(async () => {
      this.closed = true;
      this.channel?.close();
      this.channel = undefined;
    });
  }

  private triggerRules(): string[] {
    const t = this.table;
    const tcpMatch = this.tcpProbes === 'syn' ? 'tcp flags & (fin|syn|rst|ack) == syn' : 'tcp flags & (ack|rst) == 0';
    const timeout = this.timeoutS > 0 ? ` timeout ${this.timeoutS}s` : '';
    const rules: string[] = [];
    for (const [saddr, allow, set] of [
      ['ip saddr', '@allow4', '@fast4'],
      ['ip6 saddr', '@allow6', '@fast6'],
    ] as const) {
      const tail = `${saddr} != ${allow} limit name "${LIMIT}" add ${set} { ${saddr}${timeout} } counter drop`;
      rules.push(`add rule ${t} ${CHAIN} ${tcpMatch} tcp dport @watched_tcp ${tail}`);
      if (this.udp) rules.push(`add rule ${t} ${CHAIN} udp dport @watched_udp ${tail}`);
    }
    return rules;
  }

  private watchedCommands(w: WatchedPorts): string[] {
    const cmds: string[] = [];
    for (const [set, ports] of [['watched_tcp', w.tcp], ['watched_udp', w.udp]] as const) {
      cmds.push(`flush set ${this.table} ${set}`);
      const ranges = mergePorts(ports);
      if (ranges.length) cmds.push(`add element ${this.table} ${set} { ${ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')} }`);
    }
    return cmds;
  }

  private allowedCommands(prefixes: readonly IpPrefix[]): string[] {
    const { v4, v6 } = outermostPrefixes(prefixes);
    const cmds: string[] = [];
    for (const [set, list] of [['allow4', v4], ['allow6', v6]] as const) {
      cmds.push(`flush set ${this.table} ${set}`);
      if (list.length) cmds.push(`add element ${this.table} ${set} { ${list.map(formatPrefix).join(', ')} }`);
    }
    return cmds;
  }

  /** One transaction over the warm channel when usable, else `nft -f -`; every batch here is idempotent. */
  private async batch(cmds: readonly string[]): Promise<void> {
    if (cmds.length === 0) return;
    if (!this.closed && this.channelFailures < MAX_CHANNEL_RESTARTS) {
      this.channel ??= new NftChannel(withPrefix(this.o, ['nft', '-i']), this.o.timeoutMs);
      try {
        await this.channel.run(cmds);
        return;
      } catch (e) {
        if (e instanceof NftBatchRejected) {
          throw new FirewallError('PS_FIREWALL', BACKEND, `nft rejected the fast-path batch: ${e.stderr}`, { argv: withPrefix(this.o, ['nft', '-i']), stderr: e.stderr });
        }
        if (!(e instanceof NftChannelBroken)) throw e;
        // Outcome unknown: replay through a fork (idempotent batch); the next batch starts a new channel.
        this.channelFailures++;
        this.channel.close();
        this.channel = undefined;
      }
    }
    await this.fork(cmds);
  }

  private async fork(cmds: readonly string[]): Promise<void> {
    await runTool(BACKEND, this.o, ['nft', '-f', '-'], `${cmds.join('\n')}\n`);
  }
}

/**
 * Builds the fast path (no command runs until `init`). Throws CFG_BAD_VALUE for a bad name, a
 * timeout that is not a whole number of seconds >= 0, a rate or burst outside 1..100000, or a set
 * size outside 1..16777216.
 */
export function createFastPath(opts: FastPathOptions): NftFastPath {
  const o = resolveOptions(opts);
  const whole = (key: string, v: number, min: number, max: number): number => {
    if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError('CFG_BAD_VALUE', `fast path ${key} must be a whole number ${min}..${max}, not ${v}`, { key });
    return v;
  };
  const timeoutS = whole('timeoutS', opts.timeoutS, 0, 100 * 365 * 86_400);
  const rate = whole('ratePerMinute', opts.ratePerMinute, 1, 100_000);
  const burst = whole('burst', opts.burst ?? rate, 1, 100_000);
  const size = whole('maxElements', opts.maxElements ?? 65_535, 1, 1 << 24);
  return new NftFastPath(o, timeoutS, rate, burst, opts.tcpProbes ?? 'no-ack', opts.udp ?? true, size);
}

/** Sorted, merged inclusive ranges (overlapping or adjacent ones joined); throws CFG_BAD_VALUE for a bad port. */
export function mergePorts(ports: readonly PortSpec[]): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (const p of ports) {
    const [a, b] = typeof p === 'number' ? [p, p] : p;
    for (const v of [a, b]) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw new ConfigError('CFG_BAD_VALUE', `fast path port ${v} is not 1..65535`, { key: 'ports' });
    }
    ranges.push(a <= b ? [a, b] : [b, a]);
  }
  ranges.sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** Unmapped prefixes split by family, with every prefix that lies inside another removed. */
function outermostPrefixes(prefixes: readonly IpPrefix[]): { v4: IpPrefix[]; v6: IpPrefix[] } {
  const v4: IpPrefix[] = [];
  const v6: IpPrefix[] = [];
  // Shortest first: a prefix can only lie inside one that is not longer.
  const sorted = prefixes.map(unmapPrefix).sort((a, b) => a.length - b.length);
  for (const p of sorted) {
    const list = p.address.family === 4 ? v4 : v6;
    if (!list.some((q) => covers(q, p))) list.push(p);
  }
  return { v4, v6 };
}

/** True when prefix `q` contains prefix `p` (same family, q no longer, same leading q.length bits). */
function covers(q: IpPrefix, p: IpPrefix): boolean {
  if (q.address.family !== p.address.family || q.length > p.length) return false;
  const full = q.length >> 3;
  for (let i = 0; i < full; i++) if (q.address.bytes[i] !== p.address.bytes[i]) return false;
  const rest = q.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((p.address.bytes[full] ?? 0) & mask) === (q.address.bytes[full] ?? 0);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when `nft -j list table` shows the table with nothing in it. */
function tableIsEmpty(doc: unknown): boolean {
  if (!isRecord(doc) || !Array.isArray(doc['nftables'])) return false;
  return (doc['nftables'] as unknown[]).every((item) => isRecord(item) && (item['metainfo'] !== undefined || item['table'] !== undefined));
}

/** Sums the counters of the chain's rules: those with `add @fast..` are blocks, the others drops. */
function countersFromJson(json: string): FastPathCounters {
  const doc: unknown = JSON.parse(json);
  let dropped = 0;
  let blocked = 0;
  if (!isRecord(doc) || !Array.isArray(doc['nftables'])) return { dropped, blocked };
  for (const item of doc['nftables'] as unknown[]) {
    if (!isRecord(item) || !isRecord(item['rule']) || !Array.isArray(item['rule']['expr'])) continue;
    const expr = item['rule']['expr'] as unknown[];
    const adds = expr.some((e) => isRecord(e) && isRecord(e['set']) && e['set']['op'] === 'add');
    for (const e of expr) {
      if (isRecord(e) && isRecord(e['counter']) && typeof e['counter']['packets'] === 'number') {
        if (adds) blocked += e['counter']['packets'];
        else dropped += e['counter']['packets'];
      }
    }
  }
  return { dropped, blocked };
}
