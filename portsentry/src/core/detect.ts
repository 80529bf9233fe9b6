/**
 * The stealth detector: one captured frame in, at most one event out. It is what `-stcp`, `-sudp`,
 * `-atcp` and `-audp` run on every frame the capture filter lets through, live or from `--replay`.
 *
 * Per frame, in 1.2's order (PortSentryStealthMode* / PortSentryAdvancedStealthMode*):
 *  1. decode (a garbage frame is counted and dropped); frames this host sent are not probes;
 *  2. an IPv4 header with an impossible length is reported (1.2's "Illegal IP header length" line);
 *     a first fragment too short to hold the transport header is reported as detection avoidance;
 *  3. the destination port must be watched (stealth: the configured list; advanced: below the limit
 *     and not excluded) and no local socket may be listening on it (1.2's SmartVerify, done here
 *     against the host's socket table instead of a bind() per packet);
 *  4. the packet must not belong to a connection this host has (1.2 could only drop every ACK/RST);
 *  5. the flags must name a probe (classify.ts); UDP is always a probe;
 *  6. the source must not be on the ignore list (1.2 skipped those silently, so do we);
 *  7. the source's count goes up (trigger.ts); crossing SCAN_TRIGGER makes a `Detection`.
 * Everything that does not produce an event is counted in {@link DetectorStats}, by reason.
 *
 * Pure: no I/O, no clock (the caller passes each frame's time), no logging. The host's socket table
 * is passed in as an interface so replay and live use the same code.
 */
import { formatIp } from './addr.js';
import { classifyPacket, type ClassifyOptions, type ScanKind } from './classify.js';
import { decodeFrame, IPPROTO_TCP, IPPROTO_UDP, type MalformedReason } from './decode.js';
import { selectedPorts, type PortSelection } from './bpf.js';
import { TriggerEngine, type TriggerOptions } from './trigger.js';

/** A transport watched by a stealth mode. */
export type WatchProto = 'tcp' | 'udp';

/** What this host's sockets look like now: listening ports and open connections. */
export interface HostSockets {
  /** A local service receives on this port (TCP LISTEN, or any bound UDP socket). */
  isListening(proto: WatchProto, port: number, family: 4 | 6): boolean;
  /** This host has a socket for this 4-tuple (any state but LISTEN). `remote` is canonical text. */
  hasConnection(proto: WatchProto, localPort: number, remote: string, remotePort: number): boolean;
}

/** A host with no sockets at all: what a replay assumes unless told otherwise. */
export const NO_SOCKETS: HostSockets = Object.freeze({
  isListening: () => false,
  hasConnection: () => false,
});

/** Addresses never to report (the ignore list); a `ReadonlyAddressSet` of @trisentry/shared fits. */
export interface SourceFilter {
  hasBytes(bytes: Uint8Array): boolean;
}

/** What the detector consults per frame besides the frame itself. */
export interface FrameContext {
  readonly sockets: HostSockets;
  /** Sources never reported. */
  readonly ignore: SourceFilter;
  /**
   * The addresses this host answers to (its own, broadcast, multicast): a probe to any other address
   * is someone else's business, as it was for 1.2's raw socket. Null: every destination (replay).
   */
  readonly destinations: SourceFilter | null;
  /**
   * This host's own addresses: a packet from one is this host opening a connection (the capture
   * filter passes those, see bpf.ts `ownFlows`), noted so the replies are not taken for probes.
   * Null: only frames the link layer marks as outgoing count as this host's.
   */
  readonly own: SourceFilter | null;
}

/** A replay's context: no sockets, every destination, nothing ignored unless given. */
export function replayContext(ignore: SourceFilter): FrameContext {
  return { sockets: NO_SOCKETS, ignore, destinations: null, own: null };
}

/** How long a connection this host opened keeps its replies from being probes (ms since the last packet out). */
export const OWN_FLOW_TTL_MS = 120_000;
/** Most connections of this host remembered from the capture (the socket table covers the rest). */
export const OWN_FLOW_MAX = 65_536;

/** One suspicious packet to a watched port (see the glossary). */
export interface Probe {
  readonly kind: ScanKind;
  readonly proto: WatchProto;
  readonly family: 4 | 6;
  /** Source address, canonical text (IPv4 dotted quad, IPv6 RFC 5952). */
  readonly source: string;
  readonly sourceBytes: Uint8Array;
  readonly port: number;
  readonly srcPort: number;
  /** TCP flag byte (0 for UDP). */
  readonly flags: number;
  /** The IPv4 header carried options (1.2's "detection avoidance" line). */
  readonly ipOptions: boolean;
  /** Time of the frame, ms since the epoch. */
  readonly time: number;
}

/** What the detector reports. */
export type DetectorEvent =
  /** A source crossed SCAN_TRIGGER with this probe: a `Detection`. */
  | { readonly type: 'detection'; readonly probe: Probe; readonly count: number }
  /** An IPv4 header length below 5 words or past the packet; the packet was dropped. */
  | {
      readonly type: 'bad-ip-header';
      readonly proto: WatchProto;
      readonly ihl: number;
      readonly source: string;
      readonly time: number;
    }
  /** A first fragment that hides (part of) its transport header: ports or flags cannot be read. */
  | {
      readonly type: 'hidden-header';
      readonly proto: WatchProto;
      readonly family: 4 | 6;
      readonly source: string;
      readonly sourceBytes: Uint8Array;
      readonly time: number;
    };

/** Why frames produced no event, and how many of each. */
export interface DetectorStats {
  frames: number;
  /** Decoded frames by what became of them. */
  malformed: number;
  malformedBy: Partial<Record<MalformedReason, number>>;
  /** Not IP, or IP but not TCP/UDP. */
  other: number;
  /** Sent by this host (cooked captures say so). */
  outgoing: number;
  /** Addressed to another host (a promiscuous or bridged interface sees those). */
  notForUs: number;
  /** Non-first fragments: their transport header sits in the first fragment, inspected on its own. */
  laterFragments: number;
  /** A protocol or port nobody watches (the capture filter may let a superset through). */
  notWatched: number;
  /** A local service listens on the port (1.2's SmartVerify). */
  listening: number;
  /** Part of a connection this host has. */
  connection: number;
  /** TCP flags that are not a probe (replies, resets, data). */
  notProbe: number;
  /** Probes from ignored sources. */
  ignored: number;
  /** Probes counted toward the trigger without crossing it. */
  belowTrigger: number;
  /** Probes, all kinds, from non-ignored sources. */
  probes: number;
  detections: number;
  badIpHeaders: number;
  hiddenHeaders: number;
}

/** Options of {@link StealthDetector}. */
export interface DetectorOptions {
  readonly tcp?: PortSelection;
  readonly udp?: PortSelection;
  readonly classify: ClassifyOptions;
  readonly trigger: TriggerOptions;
}

function watchTable(sel: PortSelection | undefined): Uint8Array | null {
  if (sel === undefined) return null;
  const t = new Uint8Array(65536);
  for (const p of selectedPorts(sel)) t[p] = 1;
  return t;
}

function newStats(): DetectorStats {
  return {
    frames: 0,
    malformed: 0,
    malformedBy: {},
    other: 0,
    outgoing: 0,
    notForUs: 0,
    laterFragments: 0,
    notWatched: 0,
    listening: 0,
    connection: 0,
    notProbe: 0,
    ignored: 0,
    belowTrigger: 0,
    probes: 0,
    detections: 0,
    badIpHeaders: 0,
    hiddenHeaders: 0,
  };
}

/** See the module comment. One instance per process; not shared between threads. */
export class StealthDetector {
  private readonly tcpWatch: Uint8Array | null;
  private readonly udpWatch: Uint8Array | null;
  private readonly engines: { readonly tcp: TriggerEngine; readonly udp: TriggerEngine };
  private readonly s = newStats();
  /** Connections this host opened, `proto|localPort|remote|remotePort` -> last time, oldest first. */
  private readonly flows = new Map<string, number>();

  constructor(private readonly opts: DetectorOptions) {
    this.tcpWatch = watchTable(opts.tcp);
    this.udpWatch = watchTable(opts.udp);
    // 1.2 kept one state engine per process, and one process per mode: TCP and UDP counted apart.
    this.engines = { tcp: new TriggerEngine(opts.trigger), udp: new TriggerEngine(opts.trigger) };
  }

  /** The watched ports of a protocol (sorted), for start-up lines and the capture filter. */
  watchedPorts(proto: WatchProto): number[] {
    const sel = proto === 'tcp' ? this.opts.tcp : this.opts.udp;
    return sel === undefined ? [] : selectedPorts(sel);
  }

  /** Counters since construction (a live object; copy it to keep a snapshot). */
  get stats(): Readonly<DetectorStats> {
    return this.s;
  }

  /** Tracked and evicted sources of the trigger engines. */
  triggerStats(): { readonly tracked: number; readonly evicted: number } {
    const t = this.engines.tcp.stats();
    const u = this.engines.udp.stats();
    return { tracked: t.tracked + u.tracked, evicted: t.evicted + u.evicted };
  }

  /** Forgets a source's counts (after an unblock, for example). */
  forget(source: string): void {
    this.engines.tcp.forget(source);
    this.engines.udp.forget(source);
  }

  /**
   * Inspects one frame captured at `time` (ms since the epoch). `length` is how many bytes of `frame`
   * hold the capture (one reused buffer serves every frame). Returns an event or null; never throws.
   */
  process(frame: Uint8Array, linkType: number, length: number, time: number, ctx: FrameContext): DetectorEvent | null {
    const { sockets, ignore, destinations, own } = ctx;
    const s = this.s;
    s.frames++;
    const d = decodeFrame(frame, linkType, length);
    switch (d.kind) {
      case 'malformed':
        s.malformed++;
        s.malformedBy[d.reason] = (s.malformedBy[d.reason] ?? 0) + 1;
        return null;
      case 'other':
        s.other++;
        return null;
      case 'bad-ip-header': {
        const proto = protoOf(d.protocol);
        if (d.outgoing) {
          s.outgoing++;
          return null;
        }
        if (proto === null || this.table(proto) === null) {
          s.notWatched++;
          return null;
        }
        if (ignore.hasBytes(d.src)) {
          s.ignored++;
          return null;
        }
        s.badIpHeaders++;
        return { type: 'bad-ip-header', proto, ihl: d.ihl, source: formatIp(d.src), time };
      }
      case 'fragment': {
        if (d.outgoing) {
          s.outgoing++;
          return null;
        }
        const proto = protoOf(d.protocol);
        if (proto === null || this.table(proto) === null) {
          s.notWatched++;
          return null;
        }
        if (destinations !== null && !destinations.hasBytes(d.dst)) {
          s.notForUs++;
          return null;
        }
        if (d.reason === 'non-first') {
          s.laterFragments++;
          return null;
        }
        if (ignore.hasBytes(d.src)) {
          s.ignored++;
          return null;
        }
        s.hiddenHeaders++;
        return { type: 'hidden-header', proto, family: d.family, source: formatIp(d.src), sourceBytes: d.src, time };
      }
      case 'tcp':
      case 'udp':
        break;
      default: {
        const never: never = d;
        return never;
      }
    }
    if (d.outgoing || (own !== null && own.hasBytes(d.src))) {
      s.outgoing++;
      // A connection this host opens: TCP SYN without ACK, or any UDP datagram it sends.
      if (d.kind === 'udp' || (d.flags & 0x12) === 0x02) this.noteFlow(`${d.kind}|${d.srcPort}|${formatIp(d.dst)}|${d.dstPort}`, time);
      return null;
    }
    if (destinations !== null && !destinations.hasBytes(d.dst)) {
      s.notForUs++;
      return null;
    }
    const proto: WatchProto = d.kind;
    const table = this.table(proto);
    if (table === null || table[d.dstPort] !== 1) {
      s.notWatched++;
      return null;
    }
    const kind = classifyPacket(d, this.opts.classify);
    if (kind === null) {
      s.notProbe++;
      return null;
    }
    if (sockets.isListening(proto, d.dstPort, d.family)) {
      s.listening++;
      return null;
    }
    if (ignore.hasBytes(d.src)) {
      s.ignored++;
      return null;
    }
    const source = formatIp(d.src);
    if (this.isOwnFlow(`${proto}|${d.dstPort}|${source}|${d.srcPort}`, time) || sockets.hasConnection(proto, d.dstPort, source, d.srcPort)) {
      s.connection++;
      return null;
    }
    s.probes++;
    const r = this.engines[proto].observe(source, time);
    if (!r.triggered) {
      s.belowTrigger++;
      return null;
    }
    s.detections++;
    const probe: Probe = {
      kind,
      proto,
      family: d.family,
      source,
      sourceBytes: d.src,
      port: d.dstPort,
      srcPort: d.srcPort,
      flags: d.kind === 'tcp' ? d.flags : 0,
      ipOptions: d.ipOptions !== null,
      time,
    };
    return { type: 'detection', probe, count: r.count };
  }

  private noteFlow(key: string, time: number): void {
    this.flows.delete(key); // re-insert at the recent end
    this.flows.set(key, time);
    if (this.flows.size > OWN_FLOW_MAX) {
      const oldest = this.flows.keys().next();
      if (oldest.done !== true) this.flows.delete(oldest.value);
    }
  }

  private isOwnFlow(key: string, time: number): boolean {
    const t = this.flows.get(key);
    return t !== undefined && time - t <= OWN_FLOW_TTL_MS;
  }

  private table(proto: WatchProto): Uint8Array | null {
    return proto === 'tcp' ? this.tcpWatch : this.udpWatch;
  }
}

function protoOf(n: number): WatchProto | null {
  return n === IPPROTO_TCP ? 'tcp' : n === IPPROTO_UDP ? 'udp' : null;
}
