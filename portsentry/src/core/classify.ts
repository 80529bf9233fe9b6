/**
 * Probe classification: which kind of scan a packet is, and the words PortSentry 1.2 used for it.
 *
 * 1.2's stealth loops (PortSentryStealthModeTCP / PortSentryAdvancedStealthModeTCP) dropped every
 * TCP packet with ACK or RST set before looking at it, then named the rest in ReportPacketType, in this
 * order (first match wins; only the six classic flags exist there, ECE/CWR sat in unused bits):
 *   1. no flag at all                      -> " TCP NULL scan" (leading space is 1.2's, kept)
 *   2. FIN and URG and PSH (SYN may be set) -> "TCP XMAS scan"
 *   3. FIN alone                            -> "TCP FIN scan"
 *   4. SYN alone                            -> "TCP SYN/Normal scan"
 *   5. anything else                        -> "Unknown Type: TCP Packet Flags: SYN: %d FIN: %d ..."
 * We reproduce that exactly for packets without ACK/RST. Beyond 1.2, with `detectAckScans` on, three
 * ACK/RST-carrying patterns that only scanners send are named too: all six flags (FULL-XMAS), ACK
 * alone (nmap -sA / -sW) and FIN+ACK (nmap -sM, Maimon). Every other ACK/RST combination stays
 * ignored, as in 1.2, because replies and backscatter look like that. With `detectAckScans` off,
 * those three fall back to what 1.2 did with them: ignored (no probe, no log line).
 */
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from './decode.js';
import type { Packet } from './decode.js';

/** The names of the probe kinds (see the glossary in ARCHITECTURE.md). */
export type ScanKind =
  | 'SYN'
  | 'FIN'
  | 'NULL'
  | 'XMAS'
  | 'FULL-XMAS'
  | 'ACK'
  | 'MAIMON'
  | 'UNKNOWN-FLAGS'
  | 'UDP'
  | 'CONNECT';

/** Options of the classifier. */
export interface ClassifyOptions {
  /** Name ACK, Maimon (FIN+ACK) and FULL-XMAS probes; off = ignore them as 1.2 did. Default on. */
  readonly detectAckScans: boolean;
}

/** The defaults: ACK-scan detection on. */
export const DEFAULT_CLASSIFY_OPTIONS: ClassifyOptions = Object.freeze({ detectAckScans: true });

const CLASSIC = TCP_FIN | TCP_SYN | TCP_RST | TCP_PSH | TCP_ACK | TCP_URG;
const XMAS_BITS = TCP_FIN | TCP_URG | TCP_PSH;

/**
 * Classifies TCP header flags (byte 13; ECE and CWR are ignored) into a ScanKind, or null when the
 * packet is not a probe under these options (ACK or RST set and not one of the named ACK probes).
 */
export function classifyTcpFlags(flags: number, opts: ClassifyOptions = DEFAULT_CLASSIFY_OPTIONS): ScanKind | null {
  const f = flags & CLASSIC;
  if ((f & (TCP_ACK | TCP_RST)) !== 0) {
    if (!opts.detectAckScans) return null;
    if (f === CLASSIC) return 'FULL-XMAS';
    if (f === TCP_ACK) return 'ACK';
    if (f === (TCP_FIN | TCP_ACK)) return 'MAIMON';
    return null;
  }
  if (f === 0) return 'NULL';
  if ((f & XMAS_BITS) === XMAS_BITS) return 'XMAS';
  if (f === TCP_FIN) return 'FIN';
  if (f === TCP_SYN) return 'SYN';
  return 'UNKNOWN-FLAGS';
}

/**
 * Classifies a decoded packet: TCP by its flags (see classifyTcpFlags), UDP always as 'UDP'. An ACK
 * or Maimon packet that carries payload is not a probe: scanners send them empty, and the capture
 * filter (bpf.ts) drops the non-empty ones, so replaying a capture must drop them too.
 */
export function classifyPacket(p: Packet, opts: ClassifyOptions = DEFAULT_CLASSIFY_OPTIONS): ScanKind | null {
  if (p.kind === 'udp') return 'UDP';
  const kind = classifyTcpFlags(p.flags, opts);
  if ((kind === 'ACK' || kind === 'MAIMON') && p.payloadLength > 0) return null;
  return kind;
}

function bit(flags: number, mask: number): number {
  return (flags & mask) !== 0 ? 1 : 0;
}

/**
 * The text 1.2 put before ` from host: ...` for a probe of this kind (the beyond-1.2 kinds follow the
 * same pattern). `flags` is only read for UNKNOWN-FLAGS, whose text lists the six classic flags as
 * 0/1 in 1.2's order (SYN FIN ACK PSH URG RST).
 */
export function scanMessage(kind: ScanKind, flags = 0): string {
  switch (kind) {
    case 'NULL':
      return ' TCP NULL scan';
    case 'XMAS':
      return 'TCP XMAS scan';
    case 'FIN':
      return 'TCP FIN scan';
    case 'SYN':
      return 'TCP SYN/Normal scan';
    case 'FULL-XMAS':
      return 'TCP FULL-XMAS scan';
    case 'ACK':
      return 'TCP ACK scan';
    case 'MAIMON':
      return 'TCP Maimon scan';
    case 'UNKNOWN-FLAGS':
      return (
        `Unknown Type: TCP Packet Flags: SYN: ${bit(flags, TCP_SYN)} FIN: ${bit(flags, TCP_FIN)} ` +
        `ACK: ${bit(flags, TCP_ACK)} PSH: ${bit(flags, TCP_PSH)} URG: ${bit(flags, TCP_URG)} RST: ${bit(flags, TCP_RST)}`
      );
    case 'UDP':
      return 'UDP scan';
    case 'CONNECT':
      return 'Connect';
    default: {
      const never: never = kind;
      return never;
    }
  }
}
