/**
 * The route backend: a blackhole host route per blocked address (`ip route replace blackhole ADDR`,
 * IPv6 alike), the classic PortSentry KILL_ROUTE. The blocked host's packets still arrive; what
 * dies is every reply to it (and, with strict rp_filter, its packets too), which is enough to stop a
 * TCP handshake or a ping. Routing uses a longest-prefix trie, so the cost per packet does not grow
 * linearly with the number of routes.
 *
 * Our routes carry `proto 201` (a routing protocol number no daemon in iproute2's rt_protos uses),
 * so list/flush/destroy touch only blackholes this backend made, never an administrator's own.
 * Expiry is the caller's job: `expiresAt` is ignored and the daemon calls `unblock` on time.
 * Batches go through `ip -batch -` (one process, applied in order, not one transaction).
 */
import { tryParseAddress } from '@trisentry/shared';
import type { IpAddress } from '@trisentry/shared';
import type { BackendName, BlockEntry, FirewallBackend } from './firewall.js';
import { SerialQueue, keySet, prepareEntries, runTool, splitAddresses } from './common.js';
import type { ResolvedOptions } from './common.js';

/** The routing protocol number that marks the blackhole routes this backend owns. */
export const ROUTE_PROTO = '201';

/** The blackhole-route backend. Build it with createBackend('route'). */
export class RouteBackend implements FirewallBackend {
  readonly name: BackendName = 'route';
  private readonly queue = new SerialQueue();

  /** @internal use createBackend. The name option is not used: routes are marked by {@link ROUTE_PROTO}. */
  constructor(private readonly o: ResolvedOptions) {}

  async init(): Promise<void> {
    // Routes need no table or chain; `ip route` failing later is reported then.
  }

  block(entries: readonly BlockEntry[]): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = prepareEntries(
        entries.map((e) => ({ address: e.address, expiresAt: null })),
        Date.now(),
      );
      // `replace` makes an existing blackhole for the address not an error.
      await this.batch([...v4, ...v6].map((p) => `route replace blackhole ${p.address.toString()} proto ${ROUTE_PROTO}`));
    });
  }

  unblock(addresses: readonly IpAddress[]): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = splitAddresses(addresses);
      const present = keySet(await this.listNow());
      await this.batch(this.delLines([...v4, ...v6].filter((a) => present.has(a.toString()))));
    });
  }

  list(): Promise<IpAddress[]> {
    return this.queue.run(() => this.listNow());
  }

  reconcile(entries: readonly BlockEntry[], now: number): Promise<void> {
    return this.queue.run(async () => {
      const { v4, v6 } = prepareEntries(entries, now);
      const want = [...v4, ...v6].map((p) => p.address);
      const wantKeys = keySet(want);
      const extra = (await this.listNow()).filter((a) => !wantKeys.has(a.toString()));
      // Adds before deletes: an address wanted before and after keeps its route throughout.
      await this.batch([...want.map((a) => `route replace blackhole ${a.toString()} proto ${ROUTE_PROTO}`), ...this.delLines(extra)]);
    });
  }

  flush(): Promise<void> {
    return this.queue.run(async () => this.batch(this.delLines(await this.listNow())));
  }

  destroy(): Promise<void> {
    return this.flush();
  }

  async close(): Promise<void> {
    // Nothing is held open between batches.
  }

  private delLines(addresses: readonly IpAddress[]): string[] {
    return addresses.map((a) => `route del blackhole ${a.toString()} proto ${ROUTE_PROTO}`);
  }

  private async listNow(): Promise<IpAddress[]> {
    const out: IpAddress[] = [];
    for (const fam of ['-4', '-6']) {
      const text = await runTool(this.name, this.o, ['ip', fam, 'route', 'show', 'type', 'blackhole', 'proto', ROUTE_PROTO]);
      for (const line of text.split('\n')) {
        // "blackhole 198.18.31.9" / "blackhole 2001:db8::5 dev lo metric 1024 pref medium"; a prefix
        // route ("blackhole 10.0.0.0/8") is not a host block of ours.
        const f = line.trim().split(/\s+/);
        if (f[0] !== 'blackhole' || f[1] === undefined || f[1].includes('/')) continue;
        const a = tryParseAddress(f[1]);
        if (a) out.push(a);
      }
    }
    return out;
  }

  private async batch(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await runTool(this.name, this.o, ['ip', '-batch', '-'], `${lines.join('\n')}\n`);
  }
}
