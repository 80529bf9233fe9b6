// Test helpers: build frames byte by byte (checksums are left zero; the decoder does not read them),
// and write classic pcap files. Kept independent of the code under test.

export function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function be16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

export interface TcpOpts {
  sport?: number;
  dport?: number;
  flags?: number;
  doff?: number;
  seq?: number;
  ack?: number;
  win?: number;
  options?: number[];
  data?: number[];
}

export function tcp(o: TcpOpts = {}): Uint8Array {
  const opts = o.options ?? [];
  const doff = o.doff ?? 5 + Math.ceil(opts.length / 4);
  const padded = [...opts];
  while (padded.length % 4 !== 0) padded.push(0);
  return concat(
    be16(o.sport ?? 54321), be16(o.dport ?? 22), be32(o.seq ?? 0x01020304), be32(o.ack ?? 0x0a0b0c0d),
    [(doff & 0xf) << 4, o.flags ?? 0x02], be16(o.win ?? 1024), [0, 0], [0, 0], padded, o.data ?? [],
  );
}

export function udp(o: { sport?: number; dport?: number; length?: number; data?: number[] } = {}): Uint8Array {
  const data = o.data ?? [];
  return concat(be16(o.sport ?? 5353), be16(o.dport ?? 53), be16(o.length ?? 8 + data.length), [0, 0], data);
}

export interface Ip4Opts {
  src?: number[];
  dst?: number[];
  proto?: number;
  options?: number[];
  ihl?: number;
  totalLength?: number;
  /** Raw flags+offset field. */
  frag?: number;
  ttl?: number;
  id?: number;
  version?: number;
}

export const SRC4 = [192, 0, 2, 7];
export const DST4 = [198, 51, 100, 9];
export const SRC6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07];
export const DST6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09];

export function ipv4(o: Ip4Opts, payload: ArrayLike<number>): Uint8Array {
  const opts = o.options ?? [];
  const ihl = o.ihl ?? 5 + opts.length / 4;
  const total = o.totalLength ?? 20 + opts.length + payload.length;
  return concat(
    [((o.version ?? 4) << 4) | (ihl & 0xf), 0], be16(total), be16(o.id ?? 0x1234), be16(o.frag ?? 0),
    [o.ttl ?? 64, o.proto ?? 6], [0, 0], o.src ?? SRC4, o.dst ?? DST4, opts, payload,
  );
}

export interface Ext6 {
  type: number;
  /** Raw header bytes after the next-header byte (the builder fills that byte in). */
  body: number[];
}

export function hbh(type = 0, extra8 = 0): Ext6 {
  // An options header of (1 + extra8) * 8 bytes holding PadN.
  const len = (1 + extra8) * 8;
  const body = [extra8, 1, len - 4, ...new Array<number>(len - 4).fill(0)];
  return { type, body };
}

export function frag6(offsetBytes: number, more: boolean, id = 0xdeadbeef): Ext6 {
  return { type: 44, body: [0, ...be16((offsetBytes & 0xfff8) | (more ? 1 : 0)), ...be32(id)] };
}

export function ah6(): Ext6 {
  // 16 bytes: payload length field = 16/4 - 2 = 2.
  return { type: 51, body: [2, 0, 0, ...be32(0x100), ...be32(1), ...be32(0)] };
}

export function ipv6(
  o: { src?: number[]; dst?: number[]; next?: number; ext?: Ext6[]; payloadLength?: number; hop?: number; version?: number },
  payload: ArrayLike<number>,
): Uint8Array {
  const ext = o.ext ?? [];
  const finalNext = o.next ?? 6;
  const extBytes: number[] = [];
  ext.forEach((e, i) => {
    const nxt = i + 1 < ext.length ? ext[i + 1]!.type : finalNext;
    extBytes.push(nxt, ...e.body);
  });
  const first = ext.length > 0 ? ext[0]!.type : finalNext;
  const plen = o.payloadLength ?? extBytes.length + payload.length;
  return concat(
    [(o.version ?? 6) << 4, 0, 0, 0], be16(plen), [first, o.hop ?? 64], o.src ?? SRC6, o.dst ?? DST6, extBytes, payload,
  );
}

export function ether(payload: ArrayLike<number>, etherType: number, vlanTpids: number[] = []): Uint8Array {
  // Build: dst mac, src mac, then (tpid, tci) pairs with the inner type last.
  const hdr: number[] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
  if (vlanTpids.length === 0) hdr.push(...be16(etherType));
  else {
    hdr.push(...be16(vlanTpids[0]!));
    for (let i = 0; i < vlanTpids.length; i++) {
      hdr.push(...be16(100 + i)); // TCI: VLAN id
      hdr.push(...be16(i + 1 < vlanTpids.length ? vlanTpids[i + 1]! : etherType));
    }
  }
  return concat(hdr, payload);
}

export function sll(payload: ArrayLike<number>, proto: number, pktType = 0): Uint8Array {
  return concat(be16(pktType), be16(1), be16(6), [2, 0, 0, 0, 0, 1, 0, 0], be16(proto), payload);
}

export function sll2(payload: ArrayLike<number>, proto: number, pktType = 0): Uint8Array {
  return concat(be16(proto), [0, 0], be32(3), be16(1), [pktType, 6], [2, 0, 0, 0, 0, 1, 0, 0], payload);
}

export function nullLink(payload: ArrayLike<number>, family: number, littleEndian: boolean): Uint8Array {
  const f = littleEndian ? [family & 0xff, (family >> 8) & 0xff, 0, 0] : be32(family);
  return concat(f, payload);
}

/** Writes a classic pcap file. */
export function writePcap(
  frames: Uint8Array[],
  o: { linkType?: number; littleEndian?: boolean; nanosecond?: boolean; snaplen?: number } = {},
): Uint8Array {
  const le = o.littleEndian ?? true;
  const u32 = (v: number): number[] => (le ? be32(v).reverse() : be32(v));
  const u16 = (v: number): number[] => (le ? be16(v).reverse() : be16(v));
  const parts: number[][] = [
    [...u32(o.nanosecond === true ? 0xa1b23c4d : 0xa1b2c3d4), ...u16(2), ...u16(4), ...u32(0), ...u32(0), ...u32(o.snaplen ?? 262144), ...u32(o.linkType ?? 1)],
  ];
  frames.forEach((f, i) => {
    parts.push([...u32(1700000000 + i), ...u32(o.nanosecond === true ? 123456789 : 123456), ...u32(f.length), ...u32(f.length)]);
    parts.push([...f]);
  });
  return concat(...parts);
}
