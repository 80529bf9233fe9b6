/**
 * The iptables backend, for old systems without nftables or ipset: one `-s ADDR -j DROP` rule per
 * blocked host in a chain `<name>` (iptables for IPv4, ip6tables for IPv6), jumped to from the top
 * of INPUT. A chain is walked rule by rule, so the per-packet cost grows with the number of blocks;
 * prefer nftables or ipset for large block lists.
 *
 * Expiry is not in the kernel: `expiresAt` is ignored here and the daemon calls `unblock` when a
 * block ends (or `reconcile` drops it).
 *
 * Batches go through `iptables-restore --noflush` (one per family), which commits a table atomically,
 * so a reconcile's appends and deletes land together. The current rules are read first so a block
 * already present is not duplicated and only present rules are deleted.
 */
import { tryParseAddress } from '@trisentry/shared';
import type { IpAddress } from '@trisentry/shared';
import type { BackendName, BlockEntry, FirewallBackend } from './firewall.js';
import { FirewallError, SerialQueue, keySet, prepareEntries, runTool, splitAddresses } from './common.js';
import type { ResolvedOptions } from './common.js';

type Family = 4 | 6;

/** The per-host iptables backend. Build it with createBackend('iptables'). */
export class IptablesBackend implements FirewallBackend {
  readonly name: BackendName = 'iptables';
  private readonly queue = new SerialQueue();
  private readonly chain: string;

  /** @internal use createBackend. */
  constructor(private readonly o: ResolvedOptions) {
    this.chain = o.name;
  }

  init(): Promise<void> {
    return this.queue.run(async () => {
      for (const fam of [4, 6] as const) {
        const tool = iptool(fam);
        if (!(await this.succeeds([tool, '-w', '-S', this.chain]))) await runTool(this.name, this.o, [tool, '-w', '-N', this.chain]);
        if (!(await this.succeeds([tool, '-w', '-C', 'INPUT', '-j', this.chain]))) await runTool(this.name, this.o, [tool, '-w', '-I', 'INPUT', '1', '-j', this.chain]);
      }
    });
  }

  block(entries: readonly BlockEntry[]): Promise<void> {
    // A block with an expiry is still added: the caller removes it on time.
    const forever = entries.map((e) => ({ address: e.address, expiresAt: null }));
    return this.queue.run(() => this.apply(prepareEntries(forever, Date.now()), 'add-only'));
  }

  unblock(addresses: readonly IpAddress[]): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = splitAddresses(addresses);
      for (const [fam, drop] of [[4, v4] as const, [6, v6] as const]) {
        if (drop.length === 0) continue;
        const present = keySet(await this.listFamily(fam));
        await this.restore(fam, [], drop.filter((a) => present.has(a.toString())));
      }
    });
  }

  list(): Promise<IpAddress[]> {
    return this.queue.run(async () => [...(await this.listFamily(4)), ...(await this.listFamily(6))]);
  }

  reconcile(entries: readonly BlockEntry[], now: number): Promise<void> {
    return this.queue.run(() => this.apply(prepareEntries(entries, now), 'exact'));
  }

  flush(): Promise<void> {
    return this.queue.run(async () => {
      for (const fam of [4, 6] as const) await runTool(this.name, this.o, [iptool(fam), '-w', '-F', this.chain]);
    });
  }

  destroy(): Promise<void> {
    return this.queue.run(async () => {
      for (const fam of [4, 6] as const) {
        const tool = iptool(fam);
        for (let i = 0; i < 100 && (await this.succeeds([tool, '-w', '-C', 'INPUT', '-j', this.chain])); i++) {
          await runTool(this.name, this.o, [tool, '-w', '-D', 'INPUT', '-j', this.chain]);
        }
        if (await this.succeeds([tool, '-w', '-S', this.chain])) {
          await runTool(this.name, this.o, [tool, '-w', '-F', this.chain]);
          await runTool(this.name, this.o, [tool, '-w', '-X', this.chain]);
        }
      }
    });
  }

  async close(): Promise<void> {
    // Nothing is held open between batches.
  }

  /** Adds the missing entries; with 'exact' also deletes the rules not in `entries`. */
  private async apply(prepared: ReturnType<typeof prepareEntries>, mode: 'add-only' | 'exact'): Promise<void> {
    const { v4, v6 } = prepared;
    for (const [fam, want] of [[4, v4] as const, [6, v6] as const]) {
      const present = await this.listFamily(fam);
      const presentKeys = keySet(present);
      const wantKeys = keySet(want.map((w) => w.address));
      const add = want.map((w) => w.address).filter((a) => !presentKeys.has(a.toString()));
      const del = mode === 'exact' ? present.filter((a) => !wantKeys.has(a.toString())) : [];
      await this.restore(fam, add, del);
    }
  }

  private async listFamily(fam: Family): Promise<IpAddress[]> {
    const text = await runTool(this.name, this.o, [iptool(fam), '-w', '-S', this.chain]);
    const out: IpAddress[] = [];
    const hostLen = fam === 4 ? '32' : '128';
    for (const line of text.split('\n')) {
      // -A <chain> -s <addr>/<len> -j DROP
      const f = line.trim().split(/\s+/);
      if (f.length !== 6 || f[0] !== '-A' || f[1] !== this.chain || f[2] !== '-s' || f[4] !== '-j' || f[5] !== 'DROP') continue;
      const [addr, len] = (f[3] ?? '').split('/');
      if (addr === undefined || (len !== undefined && len !== hostLen)) continue;
      const a = tryParseAddress(addr);
      if (a) out.push(a);
    }
    return out;
  }

  private async restore(fam: Family, add: readonly IpAddress[], del: readonly IpAddress[]): Promise<void> {
    if (add.length === 0 && del.length === 0) return;
    const lines = ['*filter', ...add.map((a) => `-A ${this.chain} -s ${a.toString()} -j DROP`), ...del.map((a) => `-D ${this.chain} -s ${a.toString()} -j DROP`), 'COMMIT'];
    // No `:chain` line: under --noflush a declared chain would be flushed.
    await runTool(this.name, this.o, [`${iptool(fam)}-restore`, '-w', '--noflush'], `${lines.join('\n')}\n`);
  }

  private async succeeds(argv: readonly string[]): Promise<boolean> {
    try {
      await runTool(this.name, this.o, argv);
      return true;
    } catch (e) {
      if (e instanceof FirewallError && e.code === 'PS_FIREWALL_UNAVAILABLE') throw e;
      return false;
    }
  }
}

function iptool(fam: Family): 'iptables' | 'ip6tables' {
  return fam === 4 ? 'iptables' : 'ip6tables';
}
