/**
 * Live packet capture for the stealth modes, through libpcap (the `cap` package, patched to expose
 * pcap_stats and packet timestamps; see patches/).
 *
 * One libpcap handle per interface ("any" when none are configured), each with the kernel BPF filter
 * from core/bpf.ts, so ordinary traffic never leaves the kernel. Frames are handed to the caller in
 * one reused buffer per handle: the caller must finish with the bytes before returning (the
 * detector copies what it keeps). Changing the filter replaces it in place on the open handles.
 *
 * libpcap's own counters (packets received by the filter, dropped because the buffer was full,
 * dropped by the interface) are read on demand; the daemon logs every increase of the drop count,
 * so loss is never silent.
 */
import { createRequire } from 'node:module';
import { UnavailableError } from '@trisentry/shared';
import { linkTypeFromName } from '../../core/linktype.js';
import type * as CapModule from 'cap';

/** libpcap's counters for one handle (ps_recv, ps_drop, ps_ifdrop), summed over filter swaps. */
export interface CaptureCounters {
  readonly iface: string;
  readonly received: number;
  readonly dropped: number;
  readonly ifdropped: number;
}

/** Called for every frame: `frame[0..length)` holds it until the call returns. */
export type FrameHandler = (frame: Buffer, length: number, linkType: number, timeMs: number) => void;

/** Options of {@link PacketCapture}. */
export interface CaptureOptions {
  /** Interfaces to open; empty = "any" (every interface, Linux cooked header with direction). */
  readonly interfaces: readonly string[];
  /** The BPF filter expression. */
  readonly filter: string;
  /** Kernel buffer per handle, bytes. */
  readonly bufferBytes: number;
  readonly onFrame: FrameHandler;
}

interface Handle {
  readonly iface: string;
  readonly cap: CapModule.Cap;
  readonly linkType: number;
}

type CapExports = typeof CapModule;

let loaded: CapExports | undefined;
function capModule(): CapExports {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('cap') as CapExports;
    } catch (e) {
      throw new UnavailableError('PS_PCAP_OPEN', `packet capture is not available: the cap module did not load (${(e as Error).message}); run scripts/setup (needs libpcap-dev and a compiler)`);
    }
  }
  return loaded;
}

// Each frame must fit: a jumbo frame or GRO-merged segment can exceed 64 KiB of capture, and cap
// truncates to the buffer, which the decoder then sees as a short capture (handled, not a crash).
const FRAME_BUFFER = 65_536;

/**
 * Bytes captured per frame. Headers are all the detector reads (link + VLAN tags + IP + extension
 * headers + TCP with options fit in far less); the payload length comes from the IP length fields.
 * It matters for loss: in immediate mode every slot of the kernel ring is this size, so 1 KiB slots
 * make a 32 MiB buffer hold ~30,000 frames where libpcap's default 64 KiB held ~500.
 */
const SNAPLEN = 1024;

/** See the module comment. */
export class PacketCapture {
  private handles: Handle[] = [];
  private closedTotals = new Map<string, { received: number; dropped: number; ifdropped: number }>();
  private filter: string;

  constructor(private readonly opts: CaptureOptions) {
    this.filter = opts.filter;
  }

  /** The interfaces this capture opens. */
  get interfaces(): readonly string[] {
    return this.opts.interfaces.length > 0 ? this.opts.interfaces : ['any'];
  }

  /** Opens every handle. Throws UnavailableError PS_PCAP_OPEN naming the interface and libpcap's reason. */
  open(): void {
    const opened: Handle[] = [];
    try {
      for (const iface of this.interfaces) opened.push(this.openOne(iface, this.filter));
    } catch (e) {
      for (const h of opened) h.cap.close();
      throw e;
    }
    this.handles = opened;
  }

  /**
   * Replaces the filter on every handle in place (pcap_setfilter: the kernel swaps the program
   * atomically, so nothing slips through and nothing is counted twice). All or nothing: when one
   * handle refuses the new filter, the ones already changed get the old one back, and it throws.
   */
  setFilter(filter: string): void {
    if (filter === this.filter) return;
    const done: Handle[] = [];
    try {
      for (const h of this.handles) {
        h.cap.setFilter(filter);
        done.push(h);
      }
    } catch (e) {
      for (const h of done) h.cap.setFilter(this.filter);
      throw new UnavailableError('PS_PCAP_OPEN', `cannot change the capture filter: ${(e as Error).message}`);
    }
    this.filter = filter;
  }

  /** libpcap's counters per interface, including handles already replaced by a filter change. */
  counters(): CaptureCounters[] {
    return this.interfaces.map((iface) => {
      const base = this.closedTotals.get(iface) ?? { received: 0, dropped: 0, ifdropped: 0 };
      const h = this.handles.find((x) => x.iface === iface);
      const now = h ? readStats(h.cap) : { received: 0, dropped: 0, ifdropped: 0 };
      return {
        iface,
        received: base.received + now.received,
        dropped: base.dropped + now.dropped,
        ifdropped: base.ifdropped + now.ifdropped,
      };
    });
  }

  /** Closes every handle (idempotent). */
  close(): void {
    for (const h of this.handles) this.retire(h);
    this.handles = [];
  }

  private retire(h: Handle): void {
    const s = readStats(h.cap);
    const base = this.closedTotals.get(h.iface) ?? { received: 0, dropped: 0, ifdropped: 0 };
    this.closedTotals.set(h.iface, {
      received: base.received + s.received,
      dropped: base.dropped + s.dropped,
      ifdropped: base.ifdropped + s.ifdropped,
    });
    h.cap.close();
  }

  private openOne(iface: string, filter: string): Handle {
    const { Cap } = capModule();
    const cap = new Cap();
    const buf = Buffer.alloc(FRAME_BUFFER);
    let name: string;
    try {
      // Not promiscuous: like 1.2's raw socket, only what is addressed to this host (the detector
      // checks the destination as well, for bridges and interfaces someone else made promiscuous).
      name = cap.open(iface, filter, this.opts.bufferBytes, buf, false, SNAPLEN);
    } catch (e) {
      throw new UnavailableError('PS_PCAP_OPEN', `cannot capture on ${iface}: ${(e as Error).message}`);
    }
    const linkType = linkTypeFromName(name);
    if (linkType === null) {
      cap.close();
      throw new UnavailableError('PS_PCAP_OPEN', `cannot capture on ${iface}: link type ${name} is not supported`);
    }
    const onFrame = this.opts.onFrame;
    cap.on('packet', (nbytes: number, _truncated: boolean, tsSec?: number, tsUsec?: number) => {
      const t = tsSec !== undefined && tsUsec !== undefined ? tsSec * 1000 + Math.floor(tsUsec / 1000) : Date.now();
      onFrame(buf, nbytes, linkType, t);
    });
    return { iface, cap, linkType };
  }
}

function readStats(cap: CapModule.Cap): { received: number; dropped: number; ifdropped: number } {
  try {
    return cap.stats();
  } catch {
    return { received: 0, dropped: 0, ifdropped: 0 };
  }
}
