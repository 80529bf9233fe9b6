/**
 * Addresses a spoofed scan must never make this host block, read from the kernel's and the
 * resolver's text files: the default gateways (IPv4 /proc/net/route, IPv6 /proc/net/ipv6_route) and
 * the configured name servers (/etc/resolv.conf). Blocking either would cut the host off. Pure
 * parsers: text in, canonical address text out; lines that do not parse are skipped.
 */

function hexV4LittleEndian(h: string): string | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(h)) return undefined;
  const n = Number.parseInt(h, 16);
  // /proc/net/route prints the in-memory (network order) word as a host-order number: on x86 the
  // first octet is the lowest byte.
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

/** Gateways of IPv4 routes (any route with the gateway flag, the default first). */
export function parseProcRouteGateways(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const flags = Number.parseInt(f[3] ?? '', 16);
    const gw = hexV4LittleEndian(f[2] ?? '');
    if (gw === undefined || !(flags & 0x2) || gw === '0.0.0.0') continue;
    if (!out.includes(gw)) out.push(gw);
  }
  return out;
}

/** Next hops of IPv6 routes (32 hex digits in network order; all-zero means none). */
export function parseIpv6RouteGateways(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const nh = f[4];
    if (nh === undefined || !/^[0-9a-fA-F]{32}$/.test(nh) || /^0+$/.test(nh)) continue;
    const groups = nh.match(/.{4}/g)!.map((g) => Number.parseInt(g, 16).toString(16));
    // Compress the longest zero run as RFC 5952 does, so the text is canonical.
    let best = -1;
    let bestLen = 0;
    for (let i = 0; i < 8; ) {
      if (groups[i] !== '0') {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > bestLen && j - i > 1) {
        best = i;
        bestLen = j - i;
      }
      i = j;
    }
    const text6 = best < 0 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
    if (!out.includes(text6)) out.push(text6);
  }
  return out;
}

/** `nameserver` entries of resolv.conf (comments and other keywords ignored; a zone index dropped). */
export function parseResolvConfNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+([0-9A-Fa-f:.]+)(?:%\S+)?\s*(?:[#;].*)?$/.exec(line);
    if (m?.[1] !== undefined && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}
