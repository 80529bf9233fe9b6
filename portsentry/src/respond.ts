/**
 * Everything after a detection: decide (core/decide.ts), log the decision, then carry it out — the
 * native firewall backend, 1.2's KILL_* responses, the history and blocked files, the state file —
 * and lift blocks when they expire. The daemon calls {@link Responder.onDetection} once per detection,
 * after the detection's own lines.
 */
import { tryParseAddress, type IpAddress, type Mode, type Syslog } from '@trisentry/shared';
import type { PortsentryConfig } from './config.js';
import { Decider, type DecidePolicy } from './core/decide.js';
import { BlockStore, type BlockRecord } from './adapters/state.js';
import { createBackend, detectBackend, type BackendName, type FirewallBackend } from './adapters/response/firewall.js';
import { runClassicResponses } from './adapters/response/classic.js';
import { BlockFiles } from './adapters/response/files.js';

/** One detection, as the responder needs it. */
export interface DetectionFacts {
  readonly address: IpAddress;
  readonly proto: 'tcp' | 'udp';
  readonly port: number;
  readonly mode: Mode;
  /** ms since the epoch. */
  readonly time: number;
  /** The 1.2 words for what was seen ("TCP SYN/Normal scan", "Connect"). */
  readonly reason: string;
  /** The logged name (resolved, or the address). */
  readonly name: string;
}

/** Options of {@link Responder.create}. */
export interface ResponderOptions {
  /** argv prefix for firewall commands (tests run them in a namespace); default none. */
  readonly commandPrefix?: readonly string[];
  /** The state file; undefined = memory only (default: the config's STATE_FILE). */
  readonly stateFile?: string | undefined;
}

function policyOf(cfg: PortsentryConfig): DecidePolicy {
  return {
    levelTcp: cfg.blockTcp,
    levelUdp: cfg.blockUdp,
    durationMs: cfg.blockDurationMs,
    escalation: cfg.blockEscalation,
    maxDurationMs: cfg.blockDurationMaxMs,
    ratePerMinute: cfg.blockRate,
    dryRun: cfg.dryRun,
  };
}

function until(expiresAt: number | null): string {
  return expiresAt === null ? 'until unblocked' : `until ${new Date(expiresAt).toISOString()}`;
}

/** See the module comment. */
export class Responder {
  private readonly decider: Decider;
  private readonly files = new Map<Mode, BlockFiles>();
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Addresses whose block is being carried out: a second detection meanwhile is "already blocked". */
  private readonly pending = new Set<string>();

  private constructor(
    private cfg: PortsentryConfig,
    private readonly modes: readonly Mode[],
    private readonly log: Syslog,
    readonly store: BlockStore,
    readonly backend: FirewallBackend | undefined,
  ) {
    this.decider = new Decider(policyOf(cfg));
    for (const m of modes) this.files.set(m, new BlockFiles({ historyFile: cfg.historyFile, blockedFile: cfg.blockedFile, mode: m }));
  }

  /**
   * Preflight and start: loads the state file, picks and initialises the backend (when any mode
   * blocks), reconciles the kernel with the state in one transaction, empties BLOCKED_FILE.<mode> as
   * 1.2 did and writes the still-active blocks back into it. Throws when the backend cannot start.
   */
  static async create(cfg: PortsentryConfig, modes: readonly Mode[], log: Syslog, opts: ResponderOptions = {}): Promise<Responder> {
    const store = new BlockStore('stateFile' in opts ? opts.stateFile : cfg.stateFile);
    const now = Date.now();
    const rep = store.load(now);
    if (rep.movedAside !== undefined) log.warning(`adminalert: ERROR: state file ${cfg.stateFile} was unreadable; moved to ${rep.movedAside}, starting with no blocks`);
    if (rep.badEntries > 0) log.warning(`adminalert: ${rep.badEntries} invalid entries in ${cfg.stateFile} were skipped`);
    let blocking = (modes.some((m) => m.endsWith('tcp')) && cfg.blockTcp === 1) || (modes.some((m) => m.endsWith('udp')) && cfg.blockUdp === 1);
    if (blocking && process.geteuid?.() !== 0 && cfg.blockBackend !== 'none' && !cfg.dryRun) {
      log.notice('adminalert: blocking through the firewall needs root (CAP_NET_ADMIN); scanners will be logged, and only the KILL_* commands tried');
      blocking = false;
    }
    let backend: FirewallBackend | undefined;
    if (blocking && cfg.blockBackend !== 'none' && !cfg.dryRun) {
      const name: BackendName = cfg.blockBackend === 'auto' ? await detectBackend({ commandPrefix: opts.commandPrefix }) : cfg.blockBackend;
      backend = createBackend(name, { commandPrefix: opts.commandPrefix });
      await backend.init();
      for (const r of store.expired(now)) store.remove(r.address);
      const active = store.all().flatMap((r) => {
        const a = tryParseAddress(r.address);
        return a ? [{ address: a, expiresAt: r.expiresAt }] : [];
      });
      await backend.reconcile(active, now);
      log.notice(`adminalert: Blocking through ${name}; ${active.length} block${active.length === 1 ? '' : 's'} restored from ${cfg.stateFile}`);
    }
    const r = new Responder(cfg, modes, log, store, backend);
    for (const f of r.files.values()) await f.reset();
    for (const b of store.all()) await r.files.get(b.mode)?.record({ epochMs: b.since, name: b.name, ip: b.address, port: b.port, proto: b.proto === 'tcp' ? 'TCP' : 'UDP' });
    store.save();
    r.expiryTimer = setInterval(() => void r.expire(Date.now()), 1000);
    r.expiryTimer.unref();
    return r;
  }

  /** New policy on reload (the backend stays; changing BLOCK_BACKEND needs a restart). */
  reload(cfg: PortsentryConfig): void {
    if (cfg.blockBackend !== this.cfg.blockBackend) this.log.notice('adminalert: BLOCK_BACKEND takes effect at the next start');
    this.cfg = cfg;
    this.decider.setPolicy(policyOf(cfg));
  }

  /** Decides about a detection, logs the decision, carries it out. Never throws. */
  async onDetection(d: DetectionFacts): Promise<void> {
    const ip = d.address.toString();
    const P = d.proto.toUpperCase();
    const wasLimiting = this.decider.isLimiting;
    const dec = this.decider.decide({ address: ip, proto: d.proto, time: d.time }, { blocked: this.store.isBlocked(ip) || this.pending.has(ip), offences: this.store.offences(ip) });
    if (wasLimiting && !this.decider.isLimiting) {
      this.log.warning(`securityalert: Block rate back under BLOCK_RATE (${this.cfg.blockRate} per minute); ${this.decider.takeSkipped()} detections were not blocked meanwhile`);
    }
    switch (dec.action) {
      case 'alert-only':
        this.log.notice(`attackalert: Ignoring ${P} response per configuration file setting.`);
        return;
      case 'already-blocked':
        // 1.2's two wordings: classic modes without the name, stealth modes with it.
        this.log.notice(d.mode === 'tcp' || d.mode === 'udp' ? `attackalert: Host: ${ip} is already blocked. Ignoring` : `attackalert: Host: ${d.name}/${ip} is already blocked Ignoring`);
        return;
      case 'rate-limited':
        if (dec.firstOfStreak) {
          this.log.warning(`securityalert: Block rate limit reached (BLOCK_RATE ${this.cfg.blockRate} per minute): ${ip} and further scanners are logged but not blocked until the rate falls`);
        }
        return;
      case 'block':
        break;
      default: {
        const never: never = dec;
        return never;
      }
    }
    if (dec.dryRun) {
      this.log.notice(`attackalert: DRY_RUN: would block host ${ip} (${P} port ${d.port}) ${until(dec.expiresAt)}, level ${dec.level}`);
      return;
    }
    this.pending.add(ip);
    try {
      await this.carryOut(d, ip, dec.level, dec.expiresAt);
    } finally {
      this.pending.delete(ip);
    }
  }

  private async carryOut(d: DetectionFacts, ip: string, level: 1 | 2, expiresAt: number | null): Promise<void> {
    const dec = { level, expiresAt };
    let ok = true;
    const lines: string[] = [];
    if (dec.level === 1 && this.backend !== undefined) {
      try {
        await this.backend.block([{ address: d.address, expiresAt: dec.expiresAt }]);
        lines.push(`attackalert: Host ${ip} has been blocked via ${this.backend.name} ${until(dec.expiresAt)}`);
      } catch (e) {
        ok = false;
        lines.push(`attackalert: ERROR: ${this.backend.name} could not block ${ip}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    const classic = await runClassicResponses(
      {
        blockLevel: dec.level,
        killRoute: this.cfg.killRoute,
        killHostsDeny: this.cfg.killHostsDeny,
        killRunCmd: this.cfg.killRunCmd,
        killRunCmdFirst: this.cfg.killRunCmdFirst,
        hostsDenyPath: this.cfg.hostsDenyFile,
      },
      { address: d.address, port: d.port, proto: d.proto, mode: d.mode },
    );
    lines.push(...classic.lines);
    ok &&= classic.ok;
    for (const l of lines) this.log.notice(l);
    if (!ok) {
      this.log.notice(`attackalert: ERROR: Could not block host ${d.name}/${ip} !!`);
      return;
    }
    const rec: BlockRecord = { address: ip, since: d.time, expiresAt: dec.expiresAt, port: d.port, proto: d.proto, mode: d.mode, reason: d.reason, name: d.name };
    this.store.add(rec);
    this.persist();
    try {
      await this.files.get(d.mode)?.record({ epochMs: d.time, name: d.name, ip, port: d.port, proto: d.proto === 'tcp' ? 'TCP' : 'UDP' });
    } catch (e) {
      this.log.warning(`adminalert: ERROR: ${(e as Error).message}`);
    }
  }

  /** Lifts a block: kernel, state, blocked file. Returns the record, or undefined when not blocked. */
  async unblock(address: IpAddress, why: string): Promise<BlockRecord | undefined> {
    const ip = address.toString();
    const r = this.store.get(ip);
    if (this.backend !== undefined) await this.backend.unblock([address]);
    if (r === undefined) return undefined;
    this.store.remove(ip);
    this.persist();
    await this.files.get(r.mode)?.removeBlocked(ip);
    this.log.notice(`attackalert: Host ${ip} has been unblocked (${why})`);
    return r;
  }

  /** Lifts every block. Returns how many. */
  async flush(why: string): Promise<number> {
    const all = this.store.clear();
    if (this.backend !== undefined) await this.backend.flush();
    this.persist();
    for (const f of this.files.values()) await f.reset();
    this.log.notice(`attackalert: All ${all.length} blocks have been lifted (${why})`);
    return all.length;
  }

  private async expire(now: number): Promise<void> {
    for (const r of this.store.expired(now)) {
      const a = tryParseAddress(r.address);
      if (!a) continue;
      try {
        await this.unblock(a, 'block expired');
      } catch (e) {
        this.log.warning(`adminalert: ERROR: could not lift the expired block of ${r.address}: ${(e as Error).message}`);
      }
    }
  }

  private persist(): void {
    try {
      this.store.save();
    } catch (e) {
      this.log.warning(`adminalert: ERROR: ${(e as Error).message}; blocks are kept in memory and written at the next change`);
    }
  }

  /** Stops the expiry timer and closes the backend (blocks stay in the kernel). */
  async close(): Promise<void> {
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    await this.backend?.close();
  }

  /** The modes this responder serves. */
  get servedModes(): readonly Mode[] {
    return this.modes;
  }
}
