/**
 * The host's socket table, parsed from the text of /proc/net/{tcp,tcp6,udp,udp6}, for the advanced
 * stealth modes (-atcp/-audp): a packet to a port a local service listens on is not a probe, and
 * neither is a packet that belongs to a connection this host has (a reply to an outbound connection,
 * a late FIN/ACK of a closed one, FTP active-mode data to the port the FTP client listens on).
 *
 * Format (net/ipv4/tcp_ipv4.c get_tcp4_sock / get_timewait4_sock / get_openreq4, net/ipv4/udp.c
 * udp4_format_sock, and the ipv6 twins): a header line, then one line per socket
 *   `%4d: %08X:%04X %08X:%04X %02X %08X:%08X %02X:%08lX %08X %5u %8d %lu ...`
 *   = sl, local addr:port, remote addr:port, state, tx:rx queue, timer:when, retransmits, uid,
 *     timeout, inode, then fields that differ between kinds of socket (TIME_WAIT lines are shorter).
 * An address is the in-memory `__be32` words printed with `%08X`, i.e. each 32-bit word read in the
 * host's byte order: on a little-endian host 127.0.0.1 (bytes 7f 00 00 01) prints `0100007F`, and an
 * IPv6 address prints as four such words. Ports went through ntohs and read as plain hex.
 *
 * Pure: no I/O, no clock. Addresses are printed with core's own canonical printer ({@link formatIp},
 * which test/addr-agree.test.ts holds equal to `IpAddress.toString()` of `@trisentry/shared`), because
 * shared's entry point loads I/O modules that core must not import.
 */
import { formatIp } from './addr.js';

/** The transport a socket table entry belongs to. */
export type SockProto = 'tcp' | 'udp';

/** An address family as a number: 4 (IPv4) or 6 (IPv6). */
export type SockFamily = 4 | 6;

/** TCP states as the kernel numbers them (include/net/tcp_states.h); UDP reuses 01 (connected) and 07 (unconnected). */
export const TCP_STATE = Object.freeze({
  ESTABLISHED: 0x01,
  SYN_SENT: 0x02,
  SYN_RECV: 0x03,
  FIN_WAIT1: 0x04,
  FIN_WAIT2: 0x05,
  TIME_WAIT: 0x06,
  CLOSE: 0x07,
  CLOSE_WAIT: 0x08,
  LAST_ACK: 0x09,
  LISTEN: 0x0a,
  CLOSING: 0x0b,
  NEW_SYN_RECV: 0x0c,
} as const);

const BOTH_FAMILIES: readonly SockFamily[] = Object.freeze([4, 6] as const);
const V4_ONLY: readonly SockFamily[] = Object.freeze([4] as const);
const V6_ONLY: readonly SockFamily[] = Object.freeze([6] as const);

/** One socket line of a /proc/net file. */
export interface SocketEntry {
  readonly proto: SockProto;
  /** The file the line came from (tcp/udp: 4, tcp6/udp6: 6). */
  readonly family: SockFamily;
  /** Canonical text of the bound address; an IPv4-mapped IPv6 address is printed as IPv4. */
  readonly localAddress: string;
  readonly localPort: number;
  /** Canonical text of the peer address ("0.0.0.0" / "::" when not connected); IPv4-mapped printed as IPv4. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The kernel state number, see {@link TCP_STATE}. */
  readonly state: number;
  /** The socket inode (0 for TIME_WAIT and request sockets, which have no file). */
  readonly inode: number;
  /**
   * The address families this socket receives packets of on its local port: an IPv4 file gives [4];
   * an IPv6 socket bound to an IPv4-mapped address gives [4]; one bound to `::` gives [4, 6] (see
   * {@link parseProcNet} on IPV6_V6ONLY); any other IPv6 address gives [6].
   */
  readonly families: readonly SockFamily[];
}

/** What {@link parseProcNet} found in one file's text. */
export interface ParsedProcNet {
  readonly proto: SockProto;
  readonly family: SockFamily;
  readonly entries: readonly SocketEntry[];
  /** Lines that were neither the header, blank, nor a well-formed socket line (counted, never thrown). */
  readonly badLines: number;
}

/** Options of {@link parseProcNet}. */
export interface ParseProcNetOptions {
  /**
   * The byte order of the host that wrote the text (addresses are words in host order). Default true:
   * x86, arm64 and riscv Linux are little-endian. The adapter passes `os.endianness() === 'LE'`.
   */
  readonly littleEndian?: boolean;
}

// Only the fields we use are checked closely; the rest just have to be present (some are printed
// with a sign or widen past their nominal width, e.g. a negative tm->when), so a kernel that
// formats them differently still parses. The regex has no nested quantifiers: linear time.
const LINE_RE =
  /^\s*\d+:\s+([0-9A-Fa-f]+):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]+):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{2})\s+\S+\s+\S+\s+\S+\s+\d+\s+-?\d+\s+(\d+)(?:\s|$)/;

const ZERO_V4 = '0.0.0.0';
const ZERO_V6 = '::';

/**
 * Decodes one address field (8 hex digits for IPv4, 32 for IPv6) into `out` in network byte order.
 * Returns false when the length does not fit the family.
 */
function hexAddressInto(hex: string, family: SockFamily, littleEndian: boolean, out: Uint8Array): boolean {
  const words = family === 4 ? 1 : 4;
  if (hex.length !== words * 8) return false;
  for (let w = 0; w < words; w++) {
    const n = parseInt(hex.slice(w * 8, w * 8 + 8), 16);
    const o = w * 4;
    if (littleEndian) {
      out[o] = n & 0xff;
      out[o + 1] = (n >>> 8) & 0xff;
      out[o + 2] = (n >>> 16) & 0xff;
      out[o + 3] = n >>> 24;
    } else {
      out[o] = n >>> 24;
      out[o + 1] = (n >>> 16) & 0xff;
      out[o + 2] = (n >>> 8) & 0xff;
      out[o + 3] = n & 0xff;
    }
  }
  return true;
}

function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Canonical text of decoded bytes; IPv4-mapped IPv6 unmapped, as packets are matched in IPv4 form. */
function canonical(b: Uint8Array): string {
  return b.length === 16 && isMapped(b) ? formatIp(b.subarray(12, 16)) : formatIp(b);
}

/**
 * Parses the text of one /proc/net file (`tcp`, `tcp6`, `udp` or `udp6`, given by `proto` and
 * `family`). The header line (starting with `sl`) and blank lines are skipped; any other line that is
 * not a well-formed socket line of this family (e.g. an IPv6 address in an IPv4 file) is counted in
 * `badLines` and skipped. Never throws.
 *
 * /proc does not show IPV6_V6ONLY, so an IPv6 socket bound to `::` is taken to receive IPv4 too (the
 * Linux default, net.ipv6.bindv6only=0, and what Node does for `::`): a service that did set V6ONLY is
 * then also excused on IPv4, which errs towards not alerting rather than alerting on a port that is in
 * use. Sockets bound to one address are likewise excused for the whole port, as 1.2's bind() test did.
 */
export function parseProcNet(text: string, proto: SockProto, family: SockFamily, options: ParseProcNetOptions = {}): ParsedProcNet {
  const littleEndian = options.littleEndian ?? true;
  const entries: SocketEntry[] = [];
  let badLines = 0;
  const buf = new Uint8Array(family === 4 ? 4 : 16);
  // Many lines share an address (every TIME_WAIT to one server, every socket on 0.0.0.0): print each once.
  const printed = new Map<string, { text: string; families: readonly SockFamily[] }>();
  const decode = (hex: string): { text: string; families: readonly SockFamily[] } | undefined => {
    const seen = printed.get(hex);
    if (seen !== undefined) return seen;
    if (!hexAddressInto(hex, family, littleEndian, buf)) return undefined;
    let families: readonly SockFamily[];
    if (family === 4) families = V4_ONLY;
    else if (isZero(buf)) families = BOTH_FAMILIES;
    else if (isMapped(buf)) families = V4_ONLY;
    else families = V6_ONLY;
    const r = { text: canonical(buf), families };
    printed.set(hex, r);
    return r;
  };
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('sl ')) continue;
    const m = LINE_RE.exec(line);
    if (m === null) {
      badLines++;
      continue;
    }
    const local = decode(m[1] ?? '');
    const remote = decode(m[3] ?? '');
    if (local === undefined || remote === undefined) {
      badLines++;
      continue;
    }
    entries.push({
      proto,
      family,
      localAddress: local.text,
      localPort: parseInt(m[2] ?? '', 16),
      remoteAddress: remote.text,
      remotePort: parseInt(m[4] ?? '', 16),
      state: parseInt(m[5] ?? '', 16),
      inode: Number(m[6]),
      families: local.families,
    });
  }
  return { proto, family, entries, badLines };
}

/**
 * A snapshot of the host's sockets, answering the two questions the advanced modes ask per packet.
 * Immutable once built. Lookups are O(1): a port bitmap for listeners, a string set for connections.
 */
export interface SocketTable {
  /**
   * True when a local socket receives `proto` packets of `family` on `port`: a TCP socket in LISTEN,
   * or any bound UDP socket (a UDP socket receives on its port whatever its state).
   */
  isListening(proto: SockProto, port: number, family: SockFamily): boolean;
  /**
   * True when a local socket has a connection from `localPort` to `remote`:`remotePort`: any TCP
   * state but LISTEN (SYN_SENT through TIME_WAIT), or a connected UDP socket. `remote` must be the
   * canonical text (`IpAddress.toString()` of `@trisentry/shared`, or core's `formatIp`) of the
   * UNMAPPED address: an IPv4 peer seen through an IPv6 socket is stored as IPv4. Allocates one key
   * string.
   */
  hasConnection(proto: SockProto, localPort: number, remote: string, remotePort: number): boolean;
  /** The ports {@link isListening} is true for in either family; for the capture filter and diffs. */
  listeningPorts(proto: SockProto): ReadonlySet<number>;
  /** How many socket entries the snapshot was built from. */
  readonly size: number;
}

const LISTEN_V4 = 1;
const LISTEN_V6 = 2;

function connKey(localPort: number, remote: string, remotePort: number): string {
  return `${localPort} ${remote} ${remotePort}`;
}

class SnapshotTable implements SocketTable {
  constructor(
    // Index = port, value = LISTEN_V4 | LISTEN_V6 bits: no hashing and no allocation per lookup.
    private readonly tcpListen: Uint8Array,
    private readonly udpListen: Uint8Array,
    private readonly tcpPorts: ReadonlySet<number>,
    private readonly udpPorts: ReadonlySet<number>,
    private readonly tcpConns: ReadonlySet<string>,
    private readonly udpConns: ReadonlySet<string>,
    readonly size: number,
  ) {}

  isListening(proto: SockProto, port: number, family: SockFamily): boolean {
    const map = proto === 'tcp' ? this.tcpListen : this.udpListen;
    return ((map[port] ?? 0) & (family === 4 ? LISTEN_V4 : LISTEN_V6)) !== 0;
  }

  hasConnection(proto: SockProto, localPort: number, remote: string, remotePort: number): boolean {
    return (proto === 'tcp' ? this.tcpConns : this.udpConns).has(connKey(localPort, remote, remotePort));
  }

  listeningPorts(proto: SockProto): ReadonlySet<number> {
    return proto === 'tcp' ? this.tcpPorts : this.udpPorts;
  }
}

/**
 * Builds one {@link SocketTable} from the parsed files (normally all four; a missing file is simply
 * not passed, or passed with no entries). An entry with remote port 0 gives no connection: it is an
 * unconnected socket, and no packet carries port 0.
 */
export function buildSocketTable(parts: readonly ParsedProcNet[]): SocketTable {
  const listen = { tcp: new Uint8Array(65536), udp: new Uint8Array(65536) };
  const ports = { tcp: new Set<number>(), udp: new Set<number>() };
  const conns = { tcp: new Set<string>(), udp: new Set<string>() };
  let size = 0;
  for (const part of parts) {
    for (const e of part.entries) {
      size++;
      let listens: boolean;
      switch (e.proto) {
        case 'tcp':
          listens = e.state === TCP_STATE.LISTEN;
          break;
        case 'udp':
          listens = true;
          break;
        default: {
          const never: never = e.proto;
          throw new Error(`unknown proto ${String(never)}`);
        }
      }
      if (listens) {
        let bits = 0;
        for (const f of e.families) bits |= f === 4 ? LISTEN_V4 : LISTEN_V6;
        listen[e.proto][e.localPort] = (listen[e.proto][e.localPort] ?? 0) | bits;
        ports[e.proto].add(e.localPort);
      }
      if (e.remotePort !== 0 && !(e.proto === 'tcp' && e.state === TCP_STATE.LISTEN)) {
        conns[e.proto].add(connKey(e.localPort, e.remoteAddress, e.remotePort));
      }
    }
  }
  return new SnapshotTable(listen.tcp, listen.udp, ports.tcp, ports.udp, conns.tcp, conns.udp, size);
}

/** The table of a host with no sockets (before the first read). */
export const EMPTY_SOCKET_TABLE: SocketTable = buildSocketTable([]);

/** Ports that started or stopped being listened on between two snapshots, for one protocol. */
export interface ListeningDiff {
  readonly proto: SockProto;
  /** Ascending. */
  readonly opened: readonly number[];
  /** Ascending. */
  readonly closed: readonly number[];
}

/** The listening-port changes of `proto` from `before` to `after`; undefined when there are none. */
export function diffListening(before: SocketTable, after: SocketTable, proto: SockProto): ListeningDiff | undefined {
  const a = before.listeningPorts(proto);
  const b = after.listeningPorts(proto);
  const opened: number[] = [];
  const closed: number[] = [];
  for (const p of b) if (!a.has(p)) opened.push(p);
  for (const p of a) if (!b.has(p)) closed.push(p);
  if (opened.length === 0 && closed.length === 0) return undefined;
  const asc = (x: number, y: number): number => x - y;
  return { proto, opened: opened.sort(asc), closed: closed.sort(asc) };
}
