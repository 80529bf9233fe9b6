/**
 * The dry-run backend, the null twin of the real ones: it keeps the blocks it would hold in memory
 * and records each operation as one line in `.log`; it runs no command and touches no kernel state.
 * `list()` answers as a kernel with per-entry timeouts would (expired entries are gone).
 */
import type { IpAddress } from '@trisentry/shared';
import type { BackendName, BlockEntry, FirewallBackend } from './firewall.js';
import { keySet, prepareEntries, splitAddresses } from './common.js';
import type { ResolvedOptions } from './common.js';

/** The dry-run backend. Build it with createBackend('dry-run'). */
export class DryRunBackend implements FirewallBackend {
  readonly name: BackendName = 'dry-run';
  /** What it would have done, one line per operation, e.g. `block 198.18.31.2 until 2024-05-01T10:00:00.000Z`. */
  readonly log: string[] = [];
  private readonly held = new Map<string, { address: IpAddress; expiresAt: number | null }>();

  /** @internal use createBackend. */
  constructor(private readonly o: ResolvedOptions) {}

  async init(): Promise<void> {
    this.log.push(`init ${this.o.name}`);
  }

  async block(entries: readonly BlockEntry[]): Promise<void> {
    const now = Date.now();
    const { v4, v6 } = prepareEntries(entries, now);
    for (const p of [...v4, ...v6]) {
      const expiresAt = p.remainingMs === null ? null : now + p.remainingMs;
      this.held.set(p.address.toString(), { address: p.address, expiresAt });
      this.log.push(`block ${p.address.toString()} ${expiresAt === null ? 'forever' : `until ${new Date(expiresAt).toISOString()}`}`);
    }
  }

  async unblock(addresses: readonly IpAddress[]): Promise<void> {
    const { v4, v6 } = splitAddresses(addresses);
    for (const a of [...v4, ...v6]) {
      this.held.delete(a.toString());
      this.log.push(`unblock ${a.toString()}`);
    }
  }

  async list(): Promise<IpAddress[]> {
    this.expire(Date.now());
    return [...this.held.values()].map((h) => h.address);
  }

  async reconcile(entries: readonly BlockEntry[], now: number): Promise<void> {
    this.expire(now);
    const { v4, v6 } = prepareEntries(entries, now);
    const want = [...v4, ...v6];
    const wantKeys = keySet(want.map((p) => p.address));
    const extra = [...this.held.keys()].filter((k) => !wantKeys.has(k));
    const added = want.filter((p) => !this.held.has(p.address.toString())).map((p) => p.address.toString());
    for (const p of want) this.held.set(p.address.toString(), { address: p.address, expiresAt: p.remainingMs === null ? null : now + p.remainingMs });
    for (const k of extra) this.held.delete(k);
    this.log.push(`reconcile add [${added.join(' ')}] delete [${extra.join(' ')}]`);
  }

  async flush(): Promise<void> {
    this.held.clear();
    this.log.push('flush');
  }

  async destroy(): Promise<void> {
    this.held.clear();
    this.log.push(`destroy ${this.o.name}`);
  }

  async close(): Promise<void> {
    this.log.push('close');
  }

  private expire(now: number): void {
    for (const [k, h] of this.held) if (h.expiresAt !== null && h.expiresAt <= now) this.held.delete(k);
  }
}
