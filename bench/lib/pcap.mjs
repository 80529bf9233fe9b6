// Reading `tcpdump -w` files: just enough for Ethernet frames carrying IPv4 TCP, with the fields the
// scan benchmarks need (time, addresses, ports, flags). Classic pcap only (tcpdump's default output),
// either byte order, micro- or nanosecond timestamps.
import { readFileSync } from 'node:fs';

/** TCP flag bits of byte 13 of the header. */
export const TCP = Object.freeze({ FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 });

/**
 * The IPv4 TCP packets of a classic pcap file with Ethernet link type, in file order:
 * `{ tsMs, src, dst, sport, dport, flags }` (tsMs: ms since the epoch, sub-ms precision). Frames that
 * are not IPv4 TCP, or are cut short before the TCP flags, are skipped; a truncated last record ends
 * the list. Throws when the file is not a pcap file or not Ethernet.
 */
export function readTcpPackets(file) {
  const b = readFileSync(file);
  if (b.length < 24) return [];
  const le = [0xa1b2c3d4, 0xa1b23c4d].includes(b.readUInt32LE(0));
  const magic = le ? b.readUInt32LE(0) : b.readUInt32BE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`${file}: not a pcap file`);
  const nano = magic === 0xa1b23c4d;
  const u32 = (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`${file}: link type ${u32(20)}, expected Ethernet (1)`);
  const out = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const sec = u32(o);
    const frac = u32(o + 4);
    const incl = u32(o + 8);
    const p = o + 16;
    o = p + incl;
    if (o > b.length) break;
    if (incl < 14 + 20 || b.readUInt16BE(p + 12) !== 0x0800) continue;
    const ip = p + 14;
    const ihl = (b[ip] & 0x0f) * 4;
    // Protocol TCP, and the header reaches the flags byte (offset 13 of the TCP header).
    if (b[ip + 9] !== 6 || incl < 14 + ihl + 14) continue;
    const tcp = ip + ihl;
    out.push({
      tsMs: sec * 1000 + (nano ? frac / 1e6 : frac / 1e3),
      src: `${b[ip + 12]}.${b[ip + 13]}.${b[ip + 14]}.${b[ip + 15]}`,
      dst: `${b[ip + 16]}.${b[ip + 17]}.${b[ip + 18]}.${b[ip + 19]}`,
      sport: b.readUInt16BE(tcp),
      dport: b.readUInt16BE(tcp + 2),
      flags: b[tcp + 13] & 0x3f,
    });
  }
  return out;
}
