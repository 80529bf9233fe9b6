/**
 * The libpcap filter expression for the stealth modes, built from the watched ports.
 *
 * The kernel runs this filter on every packet, so it is written to let through only what could be a
 * probe, and nothing of ordinary established traffic:
 * - TCP: packets with neither ACK nor RST (everything 1.2 looked at: SYN, FIN, NULL, XMAS, odd
 *   combinations). With ACK-scan detection on, also all-six-flags, and a bare ACK or FIN+ACK that
 *   carries no payload (what nmap -sA/-sW/-sM and hping3 send). A bulk download's data segments carry
 *   payload and so stay in the kernel; empty ACKs to a watched port can still be a connection of ours,
 *   which the JavaScript side rules out (connection table), not this filter.
 * - UDP: every datagram to a watched port.
 * - IPv4 fragments of TCP/UDP (first or not): libpcap cannot read ports or flags in them, and the
 *   issue wants them reported.
 * - IPv6: libpcap's `tcp[...]` only works for IPv4 and its port primitives assume the transport
 *   header right after the fixed 40-byte header, so an extension header would hide a probe from the
 *   filter. We therefore read ports and flags by absolute `ip6[...]` offsets when the first next-header
 *   is TCP/UDP, and pass up every IPv6 packet whose first next-header is an extension header
 *   (hop-by-hop, routing, fragment, destination options, AH, mobility, HIP, shim6); the decoder walks
 *   the chain. Such packets are rare in ordinary traffic.
 * Port sets become ranges (`>= a and <= b`); when there are more than `maxRanges` of them, the closest
 * ranges are merged, making the filter a superset. The caller must therefore re-check the port in
 * JavaScript (it has to anyway: advanced mode's listener set changes while running).
 */

/** Which ports of one protocol are watched. */
export type PortSelection =
  /** Stealth mode: exactly these ports. */
  | { readonly mode: 'stealth'; readonly ports: readonly number[] }
  /** Advanced mode: every port below `below` (1.2's ADVANCED_PORTS_*) except `exclude`. */
  | { readonly mode: 'advanced'; readonly below: number; readonly exclude: readonly number[] };

/** Input of {@link buildCaptureFilter}. */
export interface CaptureFilterSpec {
  readonly tcp?: PortSelection;
  readonly udp?: PortSelection;
  /** Let ACK, FIN+ACK (both without payload) and all-six-flags TCP packets through. */
  readonly detectAckScans: boolean;
  /** Pass IPv4 fragments and IPv6 packets with extension headers up for reporting. Default true. */
  readonly fragments?: boolean;
  /** Prefix `inbound` (live Linux captures only; libpcap refuses it on saved files). Default false. */
  readonly inbound?: boolean;
  /**
   * This host's addresses (canonical text). When given, packets from them are kept out of the probe
   * part (on a single interface libpcap's `inbound` is not reliable: on a Linux bridge it matched
   * nothing), and only this host's connection openings from a watched port pass: TCP SYNs without
   * ACK and UDP datagrams. The detector notes those so that the replies (ACKs, FIN+ACK to an
   * ephemeral port; a UDP answer) are never probes, even when the connection opened and closed
   * between two reads of the socket table. At most {@link MAX_OWN_ADDRESSES}; beyond that the
   * addresses are left out of the filter and the detector alone tells directions apart.
   */
  readonly ownAddresses?: readonly string[];
  /** Most port ranges per protocol before merging (keeps the program under the kernel's 4096 insns). */
  readonly maxRanges?: number;
}

/** An inclusive port range. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** Port ranges for a filter, and whether they are exact or were merged into a superset. */
export interface PortPlan {
  readonly ranges: readonly PortRange[];
  readonly exact: boolean;
}

/** Most own addresses written into a filter (each costs a few instructions per packet). */
export const MAX_OWN_ADDRESSES = 64;

/** Default for {@link CaptureFilterSpec.maxRanges}: 256 ranges cost about 2 instructions each per family. */
export const DEFAULT_MAX_RANGES = 256;

function checkPort(p: number): void {
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new RangeError(`not a port number: ${p}`);
}

/** The watched ports of a selection as a sorted, de-duplicated list. Throws RangeError on a non-port. */
export function selectedPorts(sel: PortSelection): number[] {
  if (sel.mode === 'stealth') {
    for (const p of sel.ports) checkPort(p);
    return [...new Set(sel.ports)].sort((a, b) => a - b);
  }
  for (const p of sel.exclude) checkPort(p);
  const below = Math.min(Math.max(Math.floor(sel.below), 0), 65536);
  const excluded = new Set(sel.exclude);
  const out: number[] = [];
  for (let p = 0; p < below; p++) if (!excluded.has(p)) out.push(p);
  return out;
}

/**
 * Turns sorted unique ports into at most `maxRanges` inclusive ranges. Adjacent ports join exactly;
 * beyond the limit the smallest gaps are closed first, so the fewest extra ports are let through.
 */
export function planPortRanges(sortedPorts: readonly number[], maxRanges: number = DEFAULT_MAX_RANGES): PortPlan {
  const runs: PortRange[] = [];
  for (const p of sortedPorts) {
    const last = runs[runs.length - 1];
    if (last !== undefined && p === last.to + 1) runs[runs.length - 1] = { from: last.from, to: p };
    else if (last === undefined || p > last.to) runs.push({ from: p, to: p });
  }
  const limit = Math.max(1, Math.floor(maxRanges));
  if (runs.length <= limit) return { ranges: runs, exact: true };
  // Keep the (limit - 1) widest gaps as boundaries; ties go to the earlier gap for a stable result.
  const gaps = runs.slice(1).map((r, i) => ({ i, width: r.from - runs[i]!.to }));
  gaps.sort((a, b) => b.width - a.width || a.i - b.i);
  const cuts = new Set(gaps.slice(0, limit - 1).map((g) => g.i));
  const merged: PortRange[] = [];
  let from = runs[0]!.from;
  for (let i = 0; i < runs.length; i++) {
    if (i === runs.length - 1 || cuts.has(i)) {
      merged.push({ from, to: runs[i]!.to });
      const next = runs[i + 1];
      if (next !== undefined) from = next.from;
    }
  }
  return { ranges: merged, exact: false };
}

function portTest(field: string, ranges: readonly PortRange[]): string {
  const terms = ranges.map((r) => (r.from === r.to ? `${field} == ${r.from}` : `(${field} >= ${r.from} and ${field} <= ${r.to})`));
  return terms.length === 1 ? terms[0]! : `(${terms.join(' or ')})`;
}

// Flag tests, with the six classic flags masked (0x3f) so ECN bits never change the verdict.
function tcpFlagTest(flagsByte: string, emptyPayload: string, detectAckScans: boolean): string {
  const classic = `${flagsByte} & 0x14 == 0`;
  if (!detectAckScans) return classic;
  return (
    `(${classic} or ${flagsByte} & 0x3f == 0x3f or ` +
    `((${flagsByte} & 0x3f == 0x10 or ${flagsByte} & 0x3f == 0x11) and ${emptyPayload}))`
  );
}

/** IPv6 next-header values of extension headers the decoder walks. */
const V6_EXT = [0, 43, 44, 60, 51, 135, 139, 140] as const;

/**
 * Builds the capture filter for the given watched ports and options (see the module comment for
 * what passes and why). Throws RangeError when neither tcp nor udp is given or a port is invalid.
 */
export function buildCaptureFilter(spec: CaptureFilterSpec): string {
  const maxRanges = spec.maxRanges ?? DEFAULT_MAX_RANGES;
  const parts: string[] = [];
  const protos: number[] = [];
  if (spec.tcp !== undefined) {
    const plan = planPortRanges(selectedPorts(spec.tcp), maxRanges);
    if (plan.ranges.length > 0) {
      protos.push(6);
      const v4Empty = 'ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) == 0';
      const v6Empty = 'ip6[4:2] - ((ip6[52] & 0xf0) >> 2) == 0';
      // `tcp[...]` makes libpcap check "IPv4, protocol 6, fragment offset 0" and honour the IHL.
      parts.push(`(tcp and ${portTest('tcp[2:2]', plan.ranges)} and ${tcpFlagTest('tcp[13]', v4Empty, spec.detectAckScans)})`);
      parts.push(`(ip6 and ip6[6] == 6 and ${portTest('ip6[42:2]', plan.ranges)} and ${tcpFlagTest('ip6[53]', v6Empty, spec.detectAckScans)})`);
    }
  }
  if (spec.udp !== undefined) {
    const plan = planPortRanges(selectedPorts(spec.udp), maxRanges);
    if (plan.ranges.length > 0) {
      protos.push(17);
      parts.push(`(udp and ${portTest('udp[2:2]', plan.ranges)})`);
      parts.push(`(ip6 and ip6[6] == 17 and ${portTest('ip6[42:2]', plan.ranges)})`);
    }
  }
  if (spec.tcp === undefined && spec.udp === undefined) throw new RangeError('capture filter needs tcp or udp ports');
  if ((spec.fragments ?? true) && protos.length > 0) {
    const proto = protos.map((p) => `ip[9] == ${p}`).join(' or ');
    parts.push(`(ip and ip[6:2] & 0x3fff != 0 and (${proto}))`);
    parts.push(`(ip6 and (${V6_EXT.map((n) => `ip6[6] == ${n}`).join(' or ')}))`);
  }
  // Every port excluded (e.g. advanced mode with everything listening): match nothing rather than all.
  const body = parts.length === 0 ? 'less 0' : parts.join(' or ');
  const withInbound = (b: string): string => (spec.inbound === true ? `inbound and (${b})` : b);
  const own = spec.ownAddresses ?? [];
  if (own.length === 0 || own.length > MAX_OWN_ADDRESSES) return withInbound(body);
  for (const a of own) if (!/^[0-9a-fA-F:.]+$/.test(a)) throw new RangeError(`not an address: ${a}`);
  const fromUs = `(${own.map((a) => `src host ${a}`).join(' or ')})`;
  const flows: string[] = [];
  for (const [proto, sel] of [['tcp', spec.tcp], ['udp', spec.udp]] as const) {
    if (sel === undefined) continue;
    const plan = planPortRanges(selectedPorts(sel), maxRanges);
    if (plan.ranges.length === 0) continue;
    if (proto === 'tcp') {
      flows.push(`(tcp and tcp[13] & 0x12 == 0x02 and ${portTest('tcp[0:2]', plan.ranges)})`);
      flows.push(`(ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02 and ${portTest('ip6[40:2]', plan.ranges)})`);
    } else {
      flows.push(`(udp and ${portTest('udp[0:2]', plan.ranges)})`);
      flows.push(`(ip6 and ip6[6] == 17 and ${portTest('ip6[40:2]', plan.ranges)})`);
    }
  }
  const probes = `(not ${fromUs} and (${body}))`;
  return withInbound(flows.length === 0 ? probes : `${probes} or (${fromUs} and (${flows.join(' or ')}))`);
}
