/**
 * The ipset backend: `hash:ip` sets `<name>4` (family inet) and `<name>6` (family inet6) created with
 * timeout support (`timeout 0`: entries are permanent unless they carry their own timeout), and one
 * rule per family, `INPUT -m set --match-set <set> src -j DROP`, inserted first in INPUT once
 * (checked with -C). A hash lookup per packet: constant cost up to `maxelem` (1,048,576).
 *
 * Batches go through `ipset restore -exist` on stdin, one process per batch. `-exist` makes re-adding
 * an entry update its timeout and deleting an absent one a no-op. ipset restore applies its lines in
 * order rather than as one kernel transaction, so reconcile adds (and refreshes) every wanted entry
 * before it deletes any extra one: an address wanted before and after is never missing.
 *
 * ipset timeouts are whole seconds and at most 2,147,483 s (about 24.8 days); a longer block is
 * stored with that timeout, so the daemon's periodic reconcile must refresh it (noted for the lead).
 */
import { tryParseAddress } from '@trisentry/shared';
import type { IpAddress } from '@trisentry/shared';
import type { BackendName, BlockEntry, FirewallBackend } from './firewall.js';
import { FirewallError, SerialQueue, keySet, prepareEntries, runTool, splitAddresses } from './common.js';
import type { PreparedEntry, ResolvedOptions } from './common.js';

/** The largest timeout ipset accepts, in seconds. */
export const IPSET_MAX_TIMEOUT_S = 2_147_483;
const MAXELEM = 1_048_576;

/** The ipset + iptables backend. Build it with createBackend('ipset'). */
export class IpsetBackend implements FirewallBackend {
  readonly name: BackendName = 'ipset';
  private readonly queue = new SerialQueue();
  private readonly set4: string;
  private readonly set6: string;

  /** @internal use createBackend. */
  constructor(private readonly o: ResolvedOptions) {
    this.set4 = `${o.name}4`;
    this.set6 = `${o.name}6`;
  }

  init(): Promise<void> {
    return this.queue.run(async () => {
      await this.restore([
        `create ${this.set4} hash:ip family inet timeout 0 maxelem ${MAXELEM}`,
        `create ${this.set6} hash:ip family inet6 timeout 0 maxelem ${MAXELEM}`,
      ]);
      for (const [tool, set] of this.rules()) {
        const rule = ['INPUT', '-m', 'set', '--match-set', set, 'src', '-j', 'DROP'];
        if (!(await this.succeeds([tool, '-w', '-C', ...rule]))) await runTool(this.name, this.o, [tool, '-w', '-I', 'INPUT', '1', ...rule.slice(1)]);
      }
    });
  }

  block(entries: readonly BlockEntry[]): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = prepareEntries(entries, Date.now());
      await this.restore([...this.addLines(this.set4, v4), ...this.addLines(this.set6, v6)]);
    });
  }

  unblock(addresses: readonly IpAddress[]): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = splitAddresses(addresses);
      await this.restore([...v4.map((a) => `del ${this.set4} ${a.toString()}`), ...v6.map((a) => `del ${this.set6} ${a.toString()}`)]);
    });
  }

  list(): Promise<IpAddress[]> {
    return this.queue.run(() => this.listNow());
  }

  reconcile(entries: readonly BlockEntry[], now: number): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = prepareEntries(entries, now);
      const wanted = keySet([...v4, ...v6].map((p) => p.address));
      const extra = splitAddresses((await this.listNow()).filter((a) => !wanted.has(a.toString())));
      await this.restore([
        ...this.addLines(this.set4, v4),
        ...this.addLines(this.set6, v6),
        ...extra.v4.map((a) => `del ${this.set4} ${a.toString()}`),
        ...extra.v6.map((a) => `del ${this.set6} ${a.toString()}`),
      ]);
    });
  }

  flush(): Promise<void> {
    return this.queue.run(() => this.restore([`flush ${this.set4}`, `flush ${this.set6}`]));
  }

  destroy(): Promise<void> {
    return this.queue.run(async () => {
      for (const [tool, set] of this.rules()) {
        const rule = ['INPUT', '-m', 'set', '--match-set', set, 'src', '-j', 'DROP'];
        // A rule inserted twice by hand or by a crashed older run is removed too.
        for (let i = 0; i < 100 && (await this.succeeds([tool, '-w', '-C', ...rule])); i++) await runTool(this.name, this.o, [tool, '-w', '-D', ...rule]);
      }
      const names = (await runTool(this.name, this.o, ['ipset', 'list', '-n'])).split('\n').map((l) => l.trim());
      for (const set of [this.set4, this.set6]) if (names.includes(set)) await runTool(this.name, this.o, ['ipset', 'destroy', set]);
    });
  }

  async close(): Promise<void> {
    // Nothing is held open between batches.
  }

  private rules(): Array<readonly [string, string]> {
    return [
      ['iptables', this.set4],
      ['ip6tables', this.set6],
    ];
  }

  private addLines(set: string, entries: readonly PreparedEntry[]): string[] {
    return entries.map((e) => {
      const s = e.remainingMs === null ? 0 : Math.min(IPSET_MAX_TIMEOUT_S, Math.max(1, Math.ceil(e.remainingMs / 1000)));
      return `add ${set} ${e.address.toString()} timeout ${s}`;
    });
  }

  private async listNow(): Promise<IpAddress[]> {
    const out: IpAddress[] = [];
    for (const set of [this.set4, this.set6]) {
      const text = await runTool(this.name, this.o, ['ipset', 'save', set]);
      for (const line of text.split('\n')) {
        const f = line.trim().split(/\s+/);
        if (f[0] !== 'add' || f[1] !== set || f[2] === undefined) continue;
        const a = tryParseAddress(f[2]);
        if (a) out.push(a);
      }
    }
    return out;
  }

  private async restore(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await runTool(this.name, this.o, ['ipset', '-exist', 'restore'], `${lines.join('\n')}\n`);
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
