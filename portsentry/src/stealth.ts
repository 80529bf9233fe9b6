/**
 * Wiring of the stealth and advanced modes (-stcp -sudp -atcp -audp): the host's socket table, the
 * detector, the live capture and the log lines, plus `--replay` which runs the same detector over a
 * pcap file. daemon.ts composes this with the classic modes.
 */
import { readFileSync } from 'node:fs';
import { TriSentryError, formatPrefix, type Mode, type ReadonlyAddressSet, type Syslog } from '@trisentry/shared';
import type { PortsentryConfig } from './config.js';
import { buildCaptureFilter, selectedPorts, type PortSelection } from './core/bpf.js';
import { replayContext, StealthDetector, type DetectorEvent, type FrameContext, type HostSockets, type Probe, type WatchProto } from './core/detect.js';
import { eventLines } from './core/messages.js';
import { isSupportedLinkType } from './core/linktype.js';
import { readPcap } from './core/pcapfile.js';
import { OncePerWindow } from './core/trigger.js';
import { PacketCapture, type CaptureCounters } from './adapters/input/capture.js';
import { SocketWatcher } from './adapters/input/sockets.js';

/** The kernel's ephemeral port range (net.ipv4.ip_local_port_range), Linux's default when unreadable. */
function ephemeralRange(): [number, number] {
  try {
    const m = /^\s*(\d+)\s+(\d+)/.exec(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'));
    if (m?.[1] !== undefined && m[2] !== undefined) return [Number(m[1]), Number(m[2])];
  } catch {
    // not Linux, or no /proc: the default below
  }
  return [32768, 60999];
}

/**
 * Runs the per-packet path a few hundred times on a throwaway detector with made-up frames (from
 * TEST-NET-1 to TEST-NET-2), so V8 has compiled it before the first real probe: the first probe of a
 * scan is the one whose block time matters, and a cold path costs milliseconds.
 */
function warmUp(cfg: PortsentryConfig, plan: StealthPlan): void {
  const d = newDetector(cfg, plan);
  const port = plan.tcp !== undefined ? (selectedPorts(plan.tcp)[0] ?? 1) : 1;
  const frame = new Uint8Array(40);
  frame.set([0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 198, 51, 100, 1]);
  frame.set([0x9c, 0x40, port >> 8, port & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 4, 0, 0, 0, 0, 0], 20);
  const none = { hasBytes: (): boolean => false };
  const fc: FrameContext = { sockets: { isListening: () => false, hasConnection: () => false }, ignore: none, destinations: null, own: none };
  for (let i = 0; i < 300; i++) {
    frame[15] = i & 0xff;
    const e = d.process(frame, 228 /* LINKTYPE_IPV4 */, frame.length, i, fc);
    if (e !== null) eventLines(e, '192.0.2.1');
  }
}

/** The stealth modes of a command line. */
export const STEALTH_MODES: readonly Mode[] = ['stcp', 'sudp', 'atcp', 'audp'];

/** What a stealth run needs from the daemon. */
export interface StealthContext {
  readonly log: Syslog;
  /** The current ignore list (re-read on reload). */
  ignore(): ReadonlyAddressSet;
  /** Addresses this host answers to (own, broadcast, multicast). */
  destinations(): ReadonlyAddressSet;
  /** This host's own addresses. */
  own(): ReadonlyAddressSet;
  /** Interfaces to capture on when INTERFACES is empty: the ones carrying an address. */
  interfaces(): readonly string[];
  /** Name for an address (RESOLVE_HOST), or the address itself; never slower than its timeout. */
  name(ip: string): Promise<string>;
  /** Called at once for a detection: decide and respond. `name` resolves after the detection's lines are logged. */
  onDetection(probe: Probe, name: Promise<string>): void;
  /** The watched ports without local listeners, at start and whenever they change. */
  onWatched?(w: { readonly tcp: readonly number[]; readonly udp: readonly number[] }): void;
}

/** The watched ports of each protocol, from the modes and the config. */
export interface StealthPlan {
  readonly tcp?: PortSelection;
  readonly udp?: PortSelection;
}

/** Builds the plan; `modes` may include classic modes, which are ignored here. */
export function stealthPlan(cfg: PortsentryConfig, modes: readonly Mode[]): StealthPlan {
  const plan: { tcp?: PortSelection; udp?: PortSelection } = {};
  if (modes.includes('stcp')) plan.tcp = { mode: 'stealth', ports: cfg.tcpPorts };
  if (modes.includes('atcp')) plan.tcp = { mode: 'advanced', below: cfg.advancedPortsTcp, exclude: cfg.advancedExcludeTcp };
  if (modes.includes('sudp')) plan.udp = { mode: 'stealth', ports: cfg.udpPorts };
  if (modes.includes('audp')) plan.udp = { mode: 'advanced', below: cfg.advancedPortsUdp, exclude: cfg.advancedExcludeUdp };
  return plan;
}

function newDetector(cfg: PortsentryConfig, plan: StealthPlan): StealthDetector {
  return new StealthDetector({
    ...plan,
    classify: { detectAckScans: cfg.detectAckScans },
    trigger: { trigger: cfg.scanTrigger, windowMs: cfg.scanTriggerWindowMs, maxSources: cfg.scanStateSources },
  });
}

/** Ports of a selection with a local listener now (both families). */
function listeningIn(sockets: SocketWatcher, proto: WatchProto, sel: PortSelection): number[] {
  const listening = sockets.table.listeningPorts(proto);
  return selectedPorts(sel).filter((p) => listening.has(p));
}

/** The filter for a plan, leaving out ports a local service listens on (their traffic is not probes). */
function filterFor(plan: StealthPlan, cfg: PortsentryConfig, sockets: SocketWatcher, own: readonly string[]): string {
  const minus = (proto: WatchProto, sel: PortSelection | undefined): PortSelection | undefined => {
    if (sel === undefined) return undefined;
    const busy = new Set(listeningIn(sockets, proto, sel));
    if (busy.size === 0) return sel;
    return sel.mode === 'stealth'
      ? { mode: 'stealth', ports: sel.ports.filter((p) => !busy.has(p)) }
      : { mode: 'advanced', below: sel.below, exclude: [...sel.exclude, ...busy] };
  };
  return buildCaptureFilter({ tcp: minus('tcp', plan.tcp), udp: minus('udp', plan.udp), detectAckScans: cfg.detectAckScans, ownAddresses: own });
}

/** 1.2's start-up lines for the stealth modes. Returns false when a protocol has nothing to watch. */
function announce(log: Syslog, plan: StealthPlan, sockets: SocketWatcher): boolean {
  let ok = true;
  for (const proto of ['tcp', 'udp'] as const) {
    const sel = plan[proto];
    if (sel === undefined) continue;
    const P = proto.toUpperCase();
    const busy = new Set(listeningIn(sockets, proto, sel));
    if (sel.mode === 'stealth') {
      if (sel.ports.length === 0) {
        log.notice(`adminalert: ERROR: No ${P} ports supplied in config file. Aborting`);
        ok = false;
        continue;
      }
      for (const p of sel.ports) {
        log.notice(`adminalert: Going into stealth listen mode on ${P} port: ${p}`);
        if (busy.has(p)) log.notice(`adminalert: ERROR: Socket ${p} is in use and will not be monitored. Attempting to continue`);
      }
      if (sel.ports.every((p) => busy.has(p))) {
        log.notice(`adminalert: ERROR: All supplied ${P} sockets are in use and will not be listened to. Shutting down.`);
        ok = false;
      }
    } else {
      log.notice(`adminalert: Advanced mode will monitor first ${sel.below} ports`);
      if (sel.exclude.length === 0) log.notice('adminalert: Advanced mode will manually exclude no ports');
      // 1.2 ends this line with a space; kept, because log rules were written against it.
      for (const p of sel.exclude) log.notice(`adminalert: Advanced mode will manually exclude port: ${p} `);
      const inUse = [...busy].sort((a, b) => a - b);
      for (const p of [...inUse, ...sel.exclude]) log.notice(`adminalert: Advanced Stealth scan detection mode activated. Ignored ${P} port: ${p}`);
    }
  }
  return ok;
}

/** A running set of stealth detectors. */
export interface StealthRun {
  /** Applies a new config (ports, trigger, options) without losing the capture. */
  reload(cfg: PortsentryConfig): void;
  /** Logs the statistics and closes the capture. */
  stop(): void;
  /** The interfaces captured on. */
  readonly interfaces: readonly string[];
}

/**
 * Starts the stealth modes among `modes`: reads the socket table, logs 1.2's start-up lines, opens
 * the capture. Throws UnavailableError PS_PCAP_OPEN / TS_NOT_AVAILABLE before anything runs.
 */
export function startStealth(cfg0: PortsentryConfig, modes: readonly Mode[], ctx: StealthContext): StealthRun {
  const { log } = ctx;
  let cfg = cfg0;
  let plan = stealthPlan(cfg, modes);
  let detector = newDetector(cfg, plan);
  warmUp(cfg, plan);
  // Sources already told about for a hidden header or broken IP header: one line per source per
  // window, the rest counted, so a spoofed flood of garbage cannot flood the log.
  const oddities = new OncePerWindow(cfg.scanTriggerWindowMs, 4096);
  let capture: PacketCapture | undefined;

  const sockets = new SocketWatcher({
    onChange: (d) => {
      const P = d.proto.toUpperCase();
      const sel = plan[d.proto];
      if (sel === undefined) return;
      const watched = new Set(selectedPorts(sel));
      for (const p of d.opened) if (watched.has(p)) log.notice(`adminalert: ${P} port ${p} now has a listening service and is no longer monitored`);
      for (const p of d.closed) if (watched.has(p)) log.notice(`adminalert: ${P} port ${p} no longer has a listening service and is monitored again`);
      updateFilter();
    },
    onError: (e) => log.warning(`adminalert: ERROR: cannot read the socket table: ${e.message}`),
  });
  sockets.refresh();

  // The table is re-read when a probe hits an *ephemeral* port not known to be in use, at most every
  // 50 ms (more rarely when reading is slow): an FTP client's data port or a UDP client's socket opened
  // a moment ago is then seen. Only ephemeral ports: services on fixed ports are long-lived and the
  // 500 ms poll knows them, and reading /proc/net costs ~10 ms, which must not sit between the first
  // probe of a scan and its block.
  const [ephLow, ephHigh] = ephemeralRange();
  const ephemeral = (port: number): boolean => port >= ephLow && port <= ephHigh;
  const host: HostSockets = {
    isListening(proto, port, family) {
      if (sockets.table.isListening(proto, port, family)) return true;
      return ephemeral(port) && safeRefresh() && sockets.table.isListening(proto, port, family);
    },
    hasConnection(proto, localPort, remote, remotePort) {
      if (sockets.table.hasConnection(proto, localPort, remote, remotePort)) return true;
      return ephemeral(localPort) && safeRefresh() && sockets.table.hasConnection(proto, localPort, remote, remotePort);
    },
  };
  const ownList = (): string[] => [...ctx.own()].map((p) => formatPrefix(p).replace(/\/\d+$/, ''));
  const safeRefresh = (): boolean => {
    try {
      return sockets.refreshIfStale(50);
    } catch {
      return false;
    }
  };

  const report = (e: DetectorEvent): void => {
    if (e.type !== 'detection' && !oddities.shouldReport(`${e.type}|${e.source}`, e.time)) return;
    const ip = e.type === 'detection' ? e.probe.source : e.source;
    // The lines wait for the name (RESOLVE_HOST); the response does not: it starts now and waits for
    // the name only for its own lines, which this chain keeps after the detection's.
    const named = ctx.name(ip).then((name) => {
      for (const line of eventLines(e, name)) log.notice(line);
      return name;
    });
    if (e.type === 'detection') ctx.onDetection(e.probe, named);
  };

  // One context for every frame (no object per packet); its getters read the daemon's current lists,
  // which a reload or an ignore-file change replaces.
  const fc: FrameContext = {
    sockets: host,
    get ignore() {
      return ctx.ignore();
    },
    get destinations() {
      return ctx.destinations();
    },
    get own() {
      return ctx.own();
    },
  };
  const onFrame = (frame: Buffer, length: number, linkType: number, time: number): void => {
    const e = detector.process(frame, linkType, length, time, fc);
    if (e !== null) report(e);
  };

  if (!announce(log, plan, sockets)) {
    throw new TriSentryError('TS_NOT_AVAILABLE', 'no port left to watch in stealth mode (see the log)');
  }
  // One handle per interface that carries an address, not libpcap's "any": on "any" a frame crossing a
  // bridge is seen once on the port and once on the bridge, and would count twice toward the trigger.
  const ifaces = cfg.interfaces.length > 0 ? cfg.interfaces : ctx.interfaces();
  capture = new PacketCapture({
    interfaces: ifaces,
    filter: filterFor(plan, cfg, sockets, ownList()),
    bufferBytes: cfg.captureBufferKb * 1024,
    onFrame,
  });
  capture.open();
  ctx.onWatched?.(watchedNow());
  log.notice(`adminalert: Stealth capture on ${capture.interfaces.join(', ')} (IPv4 and IPv6)`);
  sockets.start(500);

  function watchedNow(): { tcp: number[]; udp: number[] } {
    const free = (proto: WatchProto): number[] => {
      const sel = plan[proto];
      if (sel === undefined) return [];
      const busy = sockets.table.listeningPorts(proto);
      return selectedPorts(sel).filter((p) => !busy.has(p));
    };
    return { tcp: free('tcp'), udp: free('udp') };
  }

  function updateFilter(): void {
    ctx.onWatched?.(watchedNow());
    if (capture === undefined) return;
    try {
      capture.setFilter(filterFor(plan, cfg, sockets, ownList()));
    } catch (e) {
      log.warning(`adminalert: ERROR: could not update the capture filter, keeping the old one: ${(e as Error).message}`);
    }
  }

  // libpcap's drop counter, checked every 10 s: every increase is logged (1.2 lost packets silently).
  const lastDropped = new Map<string, number>();
  const checkDrops = (): void => {
    if (capture === undefined) return;
    for (const c of capture.counters()) {
      const before = lastDropped.get(c.iface) ?? 0;
      const lost = c.dropped + c.ifdropped;
      if (lost > before) {
        log.warning(`securityalert: Capture on ${c.iface} lost ${lost - before} packets (kernel buffer full or interface drop; ${c.received} received so far); probes among them were not seen. Raise CAPTURE_BUFFER_KB if this repeats.`);
        lastDropped.set(c.iface, lost);
      }
    }
  };
  const dropTimer = setInterval(checkDrops, 10_000);
  dropTimer.unref();

  return {
    interfaces: capture.interfaces,
    reload(next) {
      const nextPlan = stealthPlan(next, modes);
      const samePorts = JSON.stringify(nextPlan) === JSON.stringify(plan);
      const sameTrigger =
        next.scanTrigger === cfg.scanTrigger && next.scanTriggerWindowMs === cfg.scanTriggerWindowMs && next.scanStateSources === cfg.scanStateSources && next.detectAckScans === cfg.detectAckScans;
      if (next.interfaces.join() !== cfg.interfaces.join() || next.captureBufferKb !== cfg.captureBufferKb) {
        log.notice('adminalert: INTERFACES and CAPTURE_BUFFER_KB take effect at the next start');
      }
      cfg = next;
      plan = nextPlan;
      if (!samePorts || !sameTrigger) {
        detector = newDetector(cfg, plan);
        if (!samePorts) announce(log, plan, sockets);
        updateFilter();
      }
    },
    stop() {
      clearInterval(dropTimer);
      sockets.stop();
      if (capture !== undefined) {
        checkDrops();
        for (const c of capture.counters()) logCounters(log, c);
        capture.close();
        capture = undefined;
      }
      logDetectorStats(log, detector);
    },
  };
}

function logCounters(log: Syslog, c: CaptureCounters): void {
  log.notice(`adminalert: Capture statistics on ${c.iface}: received ${c.received}, dropped ${c.dropped}, interface-dropped ${c.ifdropped}`);
}

function logDetectorStats(log: Syslog, d: StealthDetector): void {
  log.notice(detectorStatsLine(d));
}

function detectorStatsLine(d: StealthDetector): string {
  const s = d.stats;
  const t = d.triggerStats();
  return (
    `adminalert: Detector statistics: frames ${s.frames}, probes ${s.probes}, detections ${s.detections}, ignored ${s.ignored}, ` +
      `below trigger ${s.belowTrigger}, listening ${s.listening}, connection ${s.connection}, not a probe ${s.notProbe}, ` +
      `not watched ${s.notWatched}, outgoing ${s.outgoing}, other ${s.other}, malformed ${s.malformed}, bad IP header ${s.badIpHeaders}, hidden header ${s.hiddenHeaders}, later fragments ${s.laterFragments}, ` +
      `sources tracked ${t.tracked}, evicted ${t.evicted}`
  );
}

/** What a replay found. */
export interface ReplayResult {
  /** The log lines live mode would have written (detections and oddities; no response lines). */
  readonly lines: readonly string[];
  readonly frames: number;
  readonly detections: number;
  /** How the file ended: a truncated or corrupt last record stops the replay there. */
  readonly tail: 'clean' | 'truncated' | 'corrupt';
  /** The detector's counters, one line (as logged at shutdown). */
  readonly statsLine: string;
}

/**
 * Runs the stealth detectors of `modes` over the bytes of a pcap file and returns the lines live mode
 * would log, in order. Deterministic: the host's sockets are taken as empty, time is the capture's,
 * names are never resolved (a lookup today says nothing about who had an address then), and only
 * `ignore` is ignored (not the replaying machine's own addresses). Throws TriSentryError
 * PS_REPLAY_READ when the bytes are not a pcap of a supported link type; `file` names it.
 */
export function replayCapture(bytes: Uint8Array, file: string, cfg: PortsentryConfig, modes: readonly Mode[], ignore: ReadonlyAddressSet): ReplayResult {
  const r = readPcap(bytes);
  if (!r.ok) {
    const why = r.reason === 'pcapng' ? 'is pcapng; convert it with: editcap -F pcap IN OUT' : r.reason === 'bad-magic' ? 'is not a pcap file' : 'is too short to be a pcap file';
    throw new TriSentryError('PS_REPLAY_READ', `${file} ${why}`);
  }
  if (!isSupportedLinkType(r.header.linkType)) {
    throw new TriSentryError('PS_REPLAY_READ', `${file}: link type ${r.header.linkType} is not supported (Ethernet, Linux cooked v1/v2, raw IP, BSD loopback are)`);
  }
  const detector = newDetector(cfg, stealthPlan(cfg, modes));
  const fc = replayContext(ignore);
  const oddities = new OncePerWindow(cfg.scanTriggerWindowMs, 4096);
  const lines: string[] = [];
  let detections = 0;
  for (const rec of r.records) {
    const time = rec.seconds * 1000 + Math.floor(rec.nanos / 1e6);
    const e = detector.process(rec.data, r.header.linkType, rec.data.length, time, fc);
    if (e === null) continue;
    if (e.type !== 'detection' && !oddities.shouldReport(`${e.type}|${e.source}`, e.time)) continue;
    if (e.type === 'detection') detections++;
    lines.push(...eventLines(e, e.type === 'detection' ? e.probe.source : e.source));
  }
  return { lines, frames: r.records.length, detections, tail: r.tail, statsLine: detectorStatsLine(detector) };
}

/** `--replay`: reads the file, logs what {@link replayCapture} finds, and a summary. */
export function replay(file: string, cfg: PortsentryConfig, modes: readonly Mode[], ignore: ReadonlyAddressSet, log: Syslog): ReplayResult {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new TriSentryError('PS_REPLAY_READ', `${file}: ${(e as Error).message}`);
  }
  const res = replayCapture(bytes, file, cfg, modes, ignore);
  log.notice(`adminalert: Replaying ${file} (${res.frames} frames) through ${modes.map((m) => `-${m}`).join(' ')}`);
  for (const line of res.lines) log.notice(line);
  if (res.tail !== 'clean') log.warning(`adminalert: ${file} ends with a ${res.tail} record; the frames before it were replayed`);
  log.notice(res.statsLine);
  return res;
}
