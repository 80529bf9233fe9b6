/**
 * Address bytes as the decoder hands them out, and a small printer for them.
 *
 * Core keeps its own RFC 5952 printer rather than importing `@trisentry/shared`, whose entry point also
 * loads the I/O modules (files, sockets) that core must not depend on. Adapters turn AddrBytes into the
 * shared `IpAddress` with `addressFromBytes`; test/addr-agree.test.ts checks both printers agree.
 */

/** A raw IPv4 (4 bytes) or IPv6 (16 bytes) address in network byte order, owned by its Packet. */
export type AddrBytes = Uint8Array;

/**
 * Prints 4 bytes as dotted quad and 16 bytes as RFC 5952 text (lower case, longest run of two or more
 * zero groups compressed, first run on a tie, IPv4-mapped addresses as `::ffff:a.b.c.d`). Any other
 * length prints as `?` rather than throwing, because this feeds log text.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) return '?';
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // ::ffff:0:0/96 keeps the embedded IPv4 form that humans (and 1.2-era log readers) recognise.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  // RFC 5952 4.2.2: a single zero group is never compressed.
  if (bestLen < 2) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}
