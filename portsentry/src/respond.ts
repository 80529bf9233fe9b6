/**
 * Everything after a detection: decide (core/decide.ts), log the decision, then carry it out — the
 * native firewall backend, 1.2's KILL_* responses, the history and blocked files, the state file —
 * and lift blocks when they expire. The daemon calls {@link Responder.onDetection} once per detection,
 * after the detection's own lines.
 */
import { existsSync, readFileSync } from 'node:fs';
import { tryParseAddress, type IpAddress, type Mode, type Syslog } from '@trisentry/shared';
import type { PortsentryConfig } from './config.js';
import { Decider, type DecidePolicy } from './core/decide.js';
import { BlockStore, type BlockRecord } from './adapters/state.js';
import { createBackend, detectBackend, type BackendName, type FirewallBackend } from './adapters/response/firewall.js';
import { runClassicResponses } from './adapters/response/classic.js';
import { BlockFiles } from './adapters/response/files.js';
import { createFastPath, fastPathSupport, type NftFastPath, type WatchedPorts } from './adapters/response/fastpath.js';
import type { IpPrefix } from '@trisentry/shared';

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
  /**
   * The logged name (resolved, or the address), or a promise of it: RESOLVE_HOST's reverse lookup is
   * written by whoever owns the scanner's reverse zone and may be slowed on purpose, so the block
   * never waits for it; only the lines and files that carry the name do. The promise must resolve
   * after the detection's own lines are logged (it is how they stay first) and must not reject.
   */
  readonly name: string | Promise<string>;
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

function readFlag(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

function until(expiresAt: number | null): string {
  return expiresAt === null ? 'until unblocked' : `until ${new Date(expiresAt).toISOString()}`;
}

/** Runs `f` with the name: at once when it is known, else once it is (after the detection's lines). */
function afterName(name: string | Promise<string>, f: (name: string) => void): void {
  if (typeof name === 'string') f(name);
  else void name.then(f);
}

/** See the module comment. */
export class Responder {
  private readonly decider: Decider;
  private readonly files = new Map<Mode, BlockFiles>();
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Addresses whose block is being carried out: a second detection meanwhile is "already blocked". */
  private readonly pending = new Set<string>();
  private fastPath: NftFastPath | undefined;

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
      if (name === 'nftables') {
        // One round trip through the block path (both families), so the first real block does not
        // pay for V8's first run of it or for nft's first use of the sets: ~0.3 ms measured. The
        // addresses are documentation networks' own network addresses, never a real peer, and are
        // gone again before any probe is read.
        const warmAddrs = [tryParseAddress('192.0.2.0'), tryParseAddress('2001:db8::')].flatMap((a) => (a ? [a] : []));
        await backend.block(warmAddrs.map((address) => ({ address, expiresAt: Date.now() + 60_000 })));
        await backend.unblock(warmAddrs);
      }
    }
    // Warm the decide path (a throwaway Decider) so the first real detection does not pay for V8
    // compiling it: that detection's block time is the one that matters.
    const warm = new Decider(policyOf(cfg));
    for (let i = 0; i < 200; i++) {
      const dec = warm.decide({ address: `192.0.2.${i & 255}`, proto: i & 1 ? 'udp' : 'tcp', time: i }, { blocked: false, offences: i & 3 });
      if (dec.action === 'block') until(dec.expiresAt);
    }
    const r = new Responder(cfg, modes, log, store, backend);
    for (const f of r.files.values()) await f.reset();
    for (const b of store.all()) await r.files.get(b.mode)?.record({ epochMs: b.since, name: b.name, ip: b.address, port: b.port, proto: b.proto === 'tcp' ? 'TCP' : 'UDP' });
    store.save();
    r.expiryTimer = setInterval(() => void r.expire(Date.now()), 1000);
    r.expiryTimer.unref();
    return r;
  }

  /**
   * Starts the kernel fast path (FAST_PATH="1", nftables, a stealth mode, blocking level 1,
   * SCAN_TRIGGER 0 or 1, no dry-run): the kernel blocks the source of a probe to a watched port
   * itself, on the first packet, before this process has read it. `allowed` must hold the whole
   * ignore list (it is set before any port is watched, so no allowed host can be caught in between).
   * Logs why when it stays off.
   */
  async startFastPath(allowed: readonly IpPrefix[], watched: WatchedPorts, captureOn: readonly string[], opts: ResponderOptions = {}): Promise<void> {
    const c = this.cfg;
    if (!c.fastPath) return;
    const why = ((): string | undefined => {
      if (this.backend?.name !== 'nftables') return `it needs the nftables backend (this host blocks through ${this.backend?.name ?? 'no backend'})`;
      if (c.dryRun) return 'DRY_RUN is on';
      const bridged = captureOn.filter((i) => existsSync(`/sys/class/net/${i}/bridge`));
      if (bridged.length > 0 && readFlag('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
        // With br_netfilter the IP hooks run at the bridge port, before a capture on the bridge sees
        // the frame: the kernel would drop the first probe unseen, and nothing would be logged.
        return `capture is on bridge ${bridged.join(', ')} with net.bridge.bridge-nf-call-iptables=1, where the kernel would drop probes before portsentry sees them (capture on the bridge's ports with INTERFACES, or set that sysctl to 0)`;
      }
      const s = fastPathSupport(c.scanTrigger);
      return s.enabled ? undefined : s.reason;
    })();
    if (why !== undefined) {
      this.log.notice(`adminalert: kernel fast path off: ${why}`);
      return;
    }
    const tcpOn = this.modes.some((m) => m === 'stcp' || m === 'atcp') && c.blockTcp === 1;
    const udpOn = this.modes.some((m) => m === 'sudp' || m === 'audp') && c.blockUdp === 1;
    if (!tcpOn && !udpOn) return;
    const fp = createFastPath({
      commandPrefix: opts.commandPrefix,
      timeoutS: Math.round(c.blockDurationMs / 1000),
      ratePerMinute: c.blockRate > 0 ? c.blockRate : 100_000,
      udp: udpOn,
    });
    try {
      await fp.init({ allowed, watched: this.fastWatched(watched, tcpOn, udpOn) });
    } catch (e) {
      // The userspace path still blocks: log why the fast one is missing and go on without it.
      this.log.warning(`adminalert: ERROR: kernel fast path off: ${(e as Error).message.split('\n')[0]}`);
      await fp.destroy().catch(() => undefined);
      return;
    }
    this.fastPath = fp;
    this.fastTcp = tcpOn;
    this.fastUdp = udpOn;
    this.log.notice(`adminalert: kernel fast path on: the first ${[tcpOn ? 'TCP' : '', udpOn ? 'UDP' : ''].filter(Boolean).join(' and ')} probe to a watched port blocks its source in the kernel (at most BLOCK_RATE a minute)`);
  }

  private fastTcp = false;
  private fastUdp = false;

  private fastWatched(w: WatchedPorts, tcp: boolean, udp: boolean): WatchedPorts {
    // Port 0 (advanced mode watches it) cannot be written in an nftables port set; the userspace
    // path still reports and blocks probes to it.
    const real = (ps: WatchedPorts['tcp']): WatchedPorts['tcp'] => ps.filter((p) => typeof p !== 'number' || p > 0);
    return { tcp: tcp ? real(w.tcp) : [], udp: udp ? real(w.udp) : [] };
  }

  /** The watched ports changed (a service started or stopped). */
  async setFastPathWatched(w: WatchedPorts): Promise<void> {
    await this.fastPath?.setWatched(this.fastWatched(w, this.fastTcp, this.fastUdp));
  }

  /** The ignore list changed. */
  async setFastPathAllowed(allowed: readonly IpPrefix[]): Promise<void> {
    await this.fastPath?.setAllowed(allowed);
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
        afterName(d.name, () => this.log.notice(`attackalert: Ignoring ${P} response per configuration file setting.`));
        return;
      case 'already-blocked':
        // 1.2's two wordings: classic modes without the name, stealth modes with it.
        afterName(d.name, (name) => this.log.notice(d.mode === 'tcp' || d.mode === 'udp' ? `attackalert: Host: ${ip} is already blocked. Ignoring` : `attackalert: Host: ${name}/${ip} is already blocked Ignoring`));
        return;
      case 'rate-limited':
        // The kernel fast path may have blocked it already; the policy says no, so lift that.
        if (this.fastPath !== undefined && !this.store.isBlocked(ip)) void this.fastPath.unblock([d.address]).catch(() => undefined);
        if (dec.firstOfStreak) {
          afterName(d.name, () => this.log.warning(`securityalert: Block rate limit reached (BLOCK_RATE ${this.cfg.blockRate} per minute): ${ip} and further scanners are logged but not blocked until the rate falls`));
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
      afterName(d.name, () => this.log.notice(`attackalert: DRY_RUN: would block host ${ip} (${P} port ${d.port}) ${until(dec.expiresAt)}, level ${dec.level}`));
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
    // The kernel has the block; now (and only now) the name is waited for, for the lines and files.
    const name = typeof d.name === 'string' ? d.name : await d.name;
    for (const l of lines) this.log.notice(l);
    if (!ok) {
      this.log.notice(`attackalert: ERROR: Could not block host ${name}/${ip} !!`);
      await this.fastPath?.unblock([d.address]).catch(() => undefined);
      return;
    }
    const rec: BlockRecord = { address: ip, since: d.time, expiresAt: dec.expiresAt, port: d.port, proto: d.proto, mode: d.mode, reason: d.reason, name };
    this.store.add(rec);
    this.persist();
    try {
      await this.files.get(d.mode)?.record({ epochMs: d.time, name, ip, port: d.port, proto: d.proto === 'tcp' ? 'TCP' : 'UDP' });
    } catch (e) {
      this.log.warning(`adminalert: ERROR: ${(e as Error).message}`);
    }
  }

  /** Lifts a block: kernel, state, blocked file. Returns the record, or undefined when not blocked. */
  async unblock(address: IpAddress, why: string): Promise<BlockRecord | undefined> {
    const ip = address.toString();
    const r = this.store.get(ip);
    if (this.backend !== undefined) await this.backend.unblock([address]);
    await this.fastPath?.unblock([address]);
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
    await this.fastPath?.flush();
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
    // The fast path goes with the process: a kernel that kept blocking on its own while nobody
    // records it would make blocks the state file does not know. Every block it made was also
    // recorded and put in the backend's set by the userspace path, so nothing is lost.
    await this.fastPath?.destroy().catch((e: unknown) => this.log.warning(`adminalert: ERROR: could not remove the kernel fast path: ${(e as Error).message}`));
    await this.fastPath?.close();
    await this.backend?.close();
  }

  /** The modes this responder serves. */
  get servedModes(): readonly Mode[] {
    return this.modes;
  }
}
