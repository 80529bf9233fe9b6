/**
 * The nftables backend: table `inet <name>` holding two sets and one base chain.
 *
 * ```
 * table inet portsentry {
 *   set blocked4 { type ipv4_addr; flags timeout; }
 *   set blocked6 { type ipv6_addr; flags timeout; }
 *   chain prerouting {
 *     type filter hook prerouting priority -300; policy accept;   # -300 = raw
 *     ip saddr @blocked4 counter drop
 *     ip6 saddr @blocked6 counter drop
 *   }
 * }
 * ```
 * Why prerouting at raw priority, not input at filter: in nftables a drop in any base chain is final
 * whatever other tables accept, so established flows die at either hook; raw/prerouting is chosen
 * because it runs before conntrack, so a blocked scanner's flood never creates conntrack entries
 * (it cannot fill the table) and each of its packets costs one set lookup and nothing else. The
 * side effect, that traffic the host forwards from a blocked source is dropped too, is what blocking
 * an attacker should mean on a router.
 *
 * Sets without `size` have no element limit, and a hash set lookup costs the same at 10 or 100,000
 * elements. An element without `timeout` is permanent (the sets have no default timeout).
 *
 * Every element batch is idempotent and one transaction. Deleting is written `add {x}; delete {x}`,
 * so deleting an absent element cannot fail the batch. Re-adding an element must set its new
 * timeout: kernels since 6.10 (element timeout update) do that on a plain `add`; older ones keep the
 * old timeout. `init` probes which kind this kernel is (in a scratch set); on an old kernel, or
 * before `init`, a block is written `add {x}; delete {x}; add {x timeout T}`. That is correct
 * everywhere but dearer: measured on 6.18 with one `nft -f` fork per batch, a batch that deletes
 * elements took about 19 ms against 5 ms for a plain add (through the warm channel both take about
 * 0.5 ms). Packets see the generation before or after the commit, never the middle, so an address
 * that stays blocked is never unblocked for a moment.
 */
import { tryParseAddress } from '@trisentry/shared';
import type { IpAddress } from '@trisentry/shared';
import type { BackendName, BackendOptions, BlockEntry, FirewallBackend } from './firewall.js';
import { FirewallError, SerialQueue, keySet, prepareEntries, resolveOptions, runTool, splitAddresses, withPrefix } from './common.js';
import type { PreparedEntry, ResolvedOptions } from './common.js';
import { NftBatchRejected, NftChannel, NftChannelBroken } from './nftchannel.js';

/** How batches reached nft so far: through the warm `nft -i` channel, or one `nft -f -` fork each. */
export interface NftChannelStats {
  /** batches committed or rejected through `nft -i` */
  channelBatches: number;
  /** batches run as `nft -f -` (channel off, or replayed after the channel broke) */
  forkBatches: number;
  /** times the channel broke and a batch was replayed with `nft -f -` */
  channelFailures: number;
}

// After this many broken channels the backend stops restarting nft -i and forks per batch.
const MAX_CHANNEL_RESTARTS = 3;

/** The nftables backend. Build it with createBackend('nftables') or {@link createNftablesBackend}. */
export class NftablesBackend implements FirewallBackend {
  readonly name: BackendName = 'nftables';
  /** Counters of how batches were delivered (for benchmarks and `status`). */
  readonly stats: NftChannelStats = { channelBatches: 0, forkBatches: 0, channelFailures: 0 };
  private readonly table: string;
  private readonly queue = new SerialQueue();
  private channel: NftChannel | undefined;
  private closed = false;
  // True once init has seen this kernel replace an element's timeout on a plain re-add.
  private addUpdatesTimeout = false;

  /** @internal use createBackend or createNftablesBackend. `warm` turns the `nft -i` channel on (default). */
  constructor(
    private readonly o: ResolvedOptions,
    private readonly warm = true,
    private readonly reblock: 'probe' | 'delete-add' = 'probe',
  ) {
    this.table = `inet ${o.name}`;
  }

  init(): Promise<void> {
    return this.queue.run(async () => {
      // Rules are rewritten with flush-chain + add in one transaction: idempotent, no moment without
      // the rules, and the sets (the blocks) are untouched.
      await this.fork([
        `add table ${this.table}`,
        `add set ${this.table} blocked4 { type ipv4_addr; flags timeout; }`,
        `add set ${this.table} blocked6 { type ipv6_addr; flags timeout; }`,
        `add chain ${this.table} prerouting { type filter hook prerouting priority -300; policy accept; }`,
        `flush chain ${this.table} prerouting`,
        `add rule ${this.table} prerouting ip saddr @blocked4 counter drop`,
        `add rule ${this.table} prerouting ip6 saddr @blocked6 counter drop`,
      ]);
      this.addUpdatesTimeout = this.reblock === 'probe' && (await this.probeTimeoutUpdate());
      // Start the warm channel now, with a no-op transaction: starting `nft -i` costs ~20 ms, which
      // the first block must not pay while a scan is running.
      await this.batch([`add table ${this.table}`]);
    });
  }

  /** The pid of the warm `nft -i` process, if one runs (diagnostics and tests). */
  get channelPid(): number | undefined {
    return this.channel?.pid;
  }

  /** True when this kernel changes an element's timeout on a plain re-add (both longer and to none). */
  get refreshesTimeoutOnAdd(): boolean {
    return this.addUpdatesTimeout;
  }

  private async probeTimeoutUpdate(): Promise<boolean> {
    // A scratch set no rule refers to, so the probe blocks nothing; 192.0.2.0/24 is TEST-NET-1.
    const set = `${this.table} timeoutprobe`;
    try {
      await this.fork([`add set ${set} { type ipv4_addr; flags timeout; }`, `flush set ${set}`, `add element ${set} { 192.0.2.1 timeout 3600s, 192.0.2.2 timeout 3600s }`]);
      await this.fork([`add element ${set} { 192.0.2.1 timeout 7200s, 192.0.2.2 }`]);
      const doc: unknown = JSON.parse(await runTool(this.name, this.o, ['nft', '-j', 'list', 'set', ...set.split(' ')]));
      const timeouts = elementTimeouts(doc);
      return timeouts.get('192.0.2.1') === 7200 && timeouts.has('192.0.2.2') && timeouts.get('192.0.2.2') === null;
    } finally {
      await this.fork([`add set ${set} { type ipv4_addr; flags timeout; }`, `delete set ${set}`]);
    }
  }

  block(entries: readonly BlockEntry[]): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = prepareEntries(entries, Date.now());
      await this.batch(this.elementCommands(v4, v6, [], []));
    });
  }

  unblock(addresses: readonly IpAddress[]): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = splitAddresses(addresses);
      await this.batch(this.elementCommands([], [], v4, v6));
    });
  }

  list(): Promise<IpAddress[]> {
    return this.queue.run(() => this.listNow());
  }

  reconcile(entries: readonly BlockEntry[], now: number): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = prepareEntries(entries, now);
      const wanted = keySet([...v4, ...v6].map((p) => p.address));
      const extra = (await this.listNow()).filter((a) => !wanted.has(a.toString()));
      const gone = splitAddresses(extra);
      await this.batch(this.elementCommands(v4, v6, gone.v4, gone.v6));
    });
  }

  flush(): Promise<void> {
    return this.queue.run(() => this.batch([`flush set ${this.table} blocked4`, `flush set ${this.table} blocked6`]));
  }

  destroy(): Promise<void> {
    // `add` first so deleting a table that is not there is not an error (nft < 1.0.8 has no `destroy`).
    return this.queue.run(() => this.fork([`add table ${this.table}`, `delete table ${this.table}`]));
  }

  close(): Promise<void> {
    return this.queue.run(async () => {
      this.closed = true;
      this.channel?.close();
      this.channel = undefined;
    });
  }

  private async listNow(): Promise<IpAddress[]> {
    const out = await runTool(this.name, this.o, ['nft', '-j', 'list', 'table', ...this.table.split(' ')]);
    return parseNftJsonElements(out, ['blocked4', 'blocked6']);
  }

  private elementCommands(keep4: readonly PreparedEntry[], keep6: readonly PreparedEntry[], drop4: readonly IpAddress[], drop6: readonly IpAddress[]): string[] {
    const cmds: string[] = [];
    const family = (set: string, keep: readonly PreparedEntry[], drop: readonly IpAddress[]): void => {
      const all = [...keep.map((k) => k.address.toString()), ...drop.map((a) => a.toString())];
      if (all.length === 0) return;
      const removing = this.addUpdatesTimeout ? drop.map((a) => a.toString()) : all;
      if (removing.length) {
        const bare = removing.join(', ');
        cmds.push(`add element ${this.table} ${set} { ${bare} }`, `delete element ${this.table} ${set} { ${bare} }`);
      }
      if (keep.length) {
        const timed = keep.map((k) => (k.remainingMs === null ? k.address.toString() : `${k.address.toString()} timeout ${k.remainingMs}ms`));
        cmds.push(`add element ${this.table} ${set} { ${timed.join(', ')} }`);
      }
    };
    family('blocked4', keep4, drop4);
    family('blocked6', keep6, drop6);
    return cmds;
  }

  /** Runs one transaction, over the warm channel when it is usable, else as `nft -f -`. */
  private async batch(cmds: readonly string[]): Promise<void> {
    if (cmds.length === 0) return;
    if (this.warm && !this.closed && this.stats.channelFailures < MAX_CHANNEL_RESTARTS) {
      this.channel ??= new NftChannel(withPrefix(this.o, ['nft', '-i']), this.o.timeoutMs);
      try {
        await this.channel.run(cmds);
        this.stats.channelBatches++;
        return;
      } catch (e) {
        if (e instanceof NftBatchRejected) {
          this.stats.channelBatches++;
          throw new FirewallError('PS_FIREWALL', this.name, `nft rejected the batch: ${e.stderr}`, { argv: withPrefix(this.o, ['nft', '-i']), stderr: e.stderr });
        }
        if (!(e instanceof NftChannelBroken)) throw e;
        // Outcome unknown: replay below; the batch is idempotent. The next batch starts a new channel.
        this.stats.channelFailures++;
        this.channel.close();
        this.channel = undefined;
      }
    }
    await this.fork(cmds);
  }

  private async fork(cmds: readonly string[]): Promise<void> {
    this.stats.forkBatches++;
    await runTool(this.name, this.o, ['nft', '-f', '-'], `${cmds.join('\n')}\n`);
  }
}

/**
 * The nftables backend with its delivery choices: `warmChannel: false` forks `nft -f -` per batch
 * (the fallback path; used to measure the difference); `reblock: 'delete-add'` skips the kernel
 * probe and always re-blocks with delete+add, the path of kernels before 6.10 (used to test it on
 * newer ones). Defaults: warm channel, probe.
 */
export function createNftablesBackend(opts: BackendOptions & { readonly warmChannel?: boolean; readonly reblock?: 'probe' | 'delete-add' } = {}): NftablesBackend {
  return new NftablesBackend(resolveOptions(opts), opts.warmChannel ?? true, opts.reblock ?? 'probe');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Element text -> timeout in seconds (null: no timeout) of every set element in `nft -j` output. */
function elementTimeouts(doc: unknown): Map<string, number | null> {
  const out = new Map<string, number | null>();
  if (!isRecord(doc) || !Array.isArray(doc['nftables'])) return out;
  for (const item of doc['nftables'] as unknown[]) {
    if (!isRecord(item) || !isRecord(item['set']) || !Array.isArray(item['set']['elem'])) continue;
    for (const el of item['set']['elem'] as unknown[]) {
      if (typeof el === 'string') out.set(el, null);
      else if (isRecord(el) && isRecord(el['elem']) && typeof el['elem']['val'] === 'string') {
        const t = el['elem']['timeout'];
        out.set(el['elem']['val'], typeof t === 'number' ? t : null);
      }
    }
  }
  return out;
}

/**
 * The addresses in the named sets of `nft -j list ...` output. An element is either the bare value
 * or `{ "elem": { "val": ..., "timeout": ..., "expires": ... } }`. Values that do not parse as an
 * address are skipped (our sets only ever hold single addresses).
 */
export function parseNftJsonElements(json: string, sets: readonly string[]): IpAddress[] {
  const doc: unknown = JSON.parse(json);
  const out: IpAddress[] = [];
  if (!isRecord(doc) || !Array.isArray(doc['nftables'])) return out;
  for (const item of doc['nftables'] as unknown[]) {
    if (!isRecord(item) || !isRecord(item['set'])) continue;
    const set = item['set'];
    if (typeof set['name'] !== 'string' || !sets.includes(set['name']) || !Array.isArray(set['elem'])) continue;
    for (const el of set['elem'] as unknown[]) {
      let val: unknown = el;
      if (isRecord(el) && isRecord(el['elem'])) val = el['elem']['val'];
      if (typeof val !== 'string') continue;
      const a = tryParseAddress(val);
      if (a) out.push(a);
    }
  }
  return out;
}
