import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { addressFromBytes, FileStateError, parseAddress } from '@trisentry/shared';
import { buildSocketTable, diffListening, parseProcNet, TCP_STATE } from '../src/core/sockets.js';
import type { ListeningDiff } from '../src/core/sockets.js';
import { MIN_STALE_MS, STALE_COST_FACTOR, SocketWatcher } from '../src/adapters/input/sockets.js';

// Copied verbatim from this machine's /proc/net files (Linux 6.x, x86_64) while a script held: a TCP
// listener on 127.0.0.1:34425, one on [::]:45165 (dual stack) and one on [::1]:43573 (V6ONLY); an
// IPv4 client connected to the dual-stack one (seen twice: as itself in tcp, as ::ffff:127.0.0.1 on
// the server side in tcp6), an IPv6 client to it over ::1, a closed connection in TIME_WAIT, UDP
// sockets on 127.0.0.1:39981 and [::]:41716, a UDP socket connected to 127.0.0.1:53 and an IPv6 UDP
// socket connected to ::ffff:127.0.0.1:41716. The tcp lines keep the kernel's trailing padding.

const PROC_TCP = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     ',
  '   0: 0100007F:8679 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 290748 1 0000000033c22486 100 0 0 10 0                    ',
  '   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1594 1 00000000e2b19318 100 0 0 10 0                      ',
  '   2: 0100007F:AEB0 0100007F:B06D 01 00000000:00000000 00:00000000 00000000     0        0 290751 2 00000000b28ecfc5 20 0 0 10 -1                    ',
  '   3: 0100007F:B2A6 0100007F:8679 06 00000000:00000000 03:00001765 00000000     0        0 0 3 000000004160f0fe                                      ',
  '   4: 020200C0:9F78 507100CB:0050 06 00000000:00000000 03:0000161A 00000000     0        0 0 3 00000000d24a4e5a                                      ',
  '   5: 020200C0:9F7A 507100CB:0050 06 00000000:00000000 03:00001692 00000000     0        0 0 3 000000004fb4eb03                                      ',
  '   6: 020200C0:9F88 507100CB:0050 06 00000000:00000000 03:00001706 00000000     0        0 0 3 0000000089b639b6                                      ',
  '',
].join('\n');
const PROC_TCP6 = [
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 00000000000000000000000001000000:AA35 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 290750 1 000000005cd31191 100 0 0 10 0',
  '   1: 00000000000000000000000000000000:B06D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 290749 1 00000000e50cd147 100 0 0 10 0',
  '   2: 00000000000000000000000001000000:B06D 00000000000000000000000001000000:A19C 01 00000000:00000000 00:00000000 00000000     0        0 290758 1 00000000b23c05c8 20 0 0 10 -1',
  '   3: 0000000000000000FFFF00000100007F:B06D 0000000000000000FFFF00000100007F:AEB0 01 00000000:00000000 00:00000000 00000000     0        0 290756 1 0000000041c19e61 20 0 0 10 -1',
  '   4: 00000000000000000000000001000000:A19C 00000000000000000000000001000000:B06D 01 00000000:00000000 00:00000000 00000000     0        0 290752 2 000000008e936f75 20 0 0 10 -1',
  '',
].join('\n');
const PROC_UDP = [
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            ',
  '  647: 0100007F:9C2D 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 290754 2 00000000ab6487a1 0        ',
  '11040: 0100007F:84C6 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 290760 2 000000008230785b 0        ',
  '',
].join('\n');
const PROC_UDP6 = [
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
  ' 2382: 00000000000000000000000000000000:A2F4 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 290755 2 00000000b075c7a1 0',
  ' 3560: 0000000000000000FFFF00000100007F:E78E 0000000000000000FFFF00000100007F:A2F4 01 00000000:00000000 00:00000000 00000000     0        0 290759 2 00000000d0828ebc 0',
  '',
].join('\n');

const TCP = parseProcNet(PROC_TCP, 'tcp', 4);
const TCP6 = parseProcNet(PROC_TCP6, 'tcp', 6);
const UDP = parseProcNet(PROC_UDP, 'udp', 4);
const UDP6 = parseProcNet(PROC_UDP6, 'udp', 6);

test('parseProcNet reads a real /proc/net/tcp: addresses, ports, states, inodes', () => {
  assert.equal(TCP.badLines, 0);
  assert.equal(TCP.entries.length, 7);
  assert.deepEqual(TCP.entries[0], {
    proto: 'tcp',
    family: 4,
    localAddress: '127.0.0.1',
    localPort: 34425,
    remoteAddress: '0.0.0.0',
    remotePort: 0,
    state: TCP_STATE.LISTEN,
    inode: 290748,
    families: [4],
  });
  assert.equal(TCP.entries[1]?.localAddress, '0.0.0.0');
  assert.equal(TCP.entries[1]?.localPort, 2024);
  // A TIME_WAIT line is shorter and has inode 0; it still parses.
  const tw = TCP.entries[4];
  assert.deepEqual(
    [tw?.localAddress, tw?.localPort, tw?.remoteAddress, tw?.remotePort, tw?.state, tw?.inode],
    ['192.0.2.2', 40824, '203.0.113.80', 80, TCP_STATE.TIME_WAIT, 0],
  );
});

test('parseProcNet reads a real /proc/net/tcp6: ::, ::1 and IPv4-mapped addresses', () => {
  assert.equal(TCP6.badLines, 0);
  assert.equal(TCP6.entries.length, 5);
  const [v6only, dual, loop6, mapped] = TCP6.entries;
  assert.deepEqual([v6only?.localAddress, v6only?.localPort, v6only?.families], ['::1', 43573, [6]]);
  assert.deepEqual([dual?.localAddress, dual?.localPort, dual?.families], ['::', 45165, [4, 6]]);
  assert.deepEqual([loop6?.remoteAddress, loop6?.remotePort, loop6?.state], ['::1', 41372, TCP_STATE.ESTABLISHED]);
  // The server side of an IPv4 client on a dual-stack socket: both ends unmapped to IPv4.
  assert.deepEqual([mapped?.localAddress, mapped?.remoteAddress, mapped?.remotePort, mapped?.families], ['127.0.0.1', '127.0.0.1', 44720, [4]]);
});

test('parseProcNet reads real /proc/net/udp and udp6 (wide sl numbers, bound and connected)', () => {
  assert.equal(UDP.badLines, 0);
  assert.equal(UDP6.badLines, 0);
  assert.deepEqual(
    UDP.entries.map((e) => [e.localAddress, e.localPort, e.remoteAddress, e.remotePort, e.state]),
    [
      ['127.0.0.1', 39981, '0.0.0.0', 0, TCP_STATE.CLOSE],
      ['127.0.0.1', 33990, '127.0.0.1', 53, TCP_STATE.ESTABLISHED],
    ],
  );
  assert.deepEqual(
    UDP6.entries.map((e) => [e.localAddress, e.localPort, e.remoteAddress, e.remotePort, e.families]),
    [
      ['::', 41716, '::', 0, [4, 6]],
      ['127.0.0.1', 59278, '127.0.0.1', 41716, [4]],
    ],
  );
});

test('the SocketTable of the real files: listeners per family, connections in every non-LISTEN state', () => {
  const t = buildSocketTable([TCP, TCP6, UDP, UDP6]);
  assert.equal(t.size, 7 + 5 + 2 + 2);
  // 127.0.0.1 listener: IPv4 only. [::] listener: both. [::1] listener: IPv6 only.
  assert.equal(t.isListening('tcp', 34425, 4), true);
  assert.equal(t.isListening('tcp', 34425, 6), false);
  assert.equal(t.isListening('tcp', 45165, 4), true);
  assert.equal(t.isListening('tcp', 45165, 6), true);
  assert.equal(t.isListening('tcp', 43573, 4), false);
  assert.equal(t.isListening('tcp', 43573, 6), true);
  // An established connection's local port is not a listener, and TCP listeners are not UDP ones.
  assert.equal(t.isListening('tcp', 44720, 4), false);
  assert.equal(t.isListening('udp', 34425, 4), false);
  assert.equal(t.isListening('tcp', 70000, 4), false);
  assert.deepEqual([...t.listeningPorts('tcp')].sort((a, b) => a - b), [2024, 34425, 43573, 45165]);
  // Every bound UDP socket receives on its port: the unconnected ones and the connected ones.
  assert.deepEqual([...t.listeningPorts('udp')].sort((a, b) => a - b), [33990, 39981, 41716, 59278]);
  assert.equal(t.isListening('udp', 41716, 6), true);
  assert.equal(t.isListening('udp', 59278, 6), false);

  // Both ends of the IPv4 connection to the dual-stack listener; the server end came from tcp6.
  assert.equal(t.hasConnection('tcp', 44720, '127.0.0.1', 45165), true);
  assert.equal(t.hasConnection('tcp', 45165, '127.0.0.1', 44720), true);
  assert.equal(t.hasConnection('tcp', 45165, '::ffff:127.0.0.1', 44720), false, 'keys are unmapped addresses');
  assert.equal(t.hasConnection('tcp', 45165, '::1', 41372), true);
  // TIME_WAIT still counts: a late FIN or ACK of that connection is not a probe.
  assert.equal(t.hasConnection('tcp', 40824, '203.0.113.80', 80), true);
  assert.equal(t.hasConnection('tcp', 40824, '203.0.113.80', 81), false);
  assert.equal(t.hasConnection('tcp', 40824, '203.0.113.81', 80), false);
  assert.equal(t.hasConnection('udp', 40824, '203.0.113.80', 80), false);
  // Listeners give no connection (remote 0.0.0.0:0).
  assert.equal(t.hasConnection('tcp', 34425, '0.0.0.0', 0), false);
  assert.equal(t.hasConnection('udp', 33990, '127.0.0.1', 53), true);
  assert.equal(t.hasConnection('udp', 59278, '127.0.0.1', 41716), true);
  assert.equal(t.hasConnection('udp', 39981, '0.0.0.0', 0), false);
});

test('every TCP state but LISTEN gives a connection; LISTEN gives a listener only', () => {
  const states = Object.entries(TCP_STATE);
  const text = ['  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'];
  states.forEach(([, st], i) => {
    const hex = st.toString(16).toUpperCase().padStart(2, '0');
    const port = (1000 + i).toString(16).toUpperCase().padStart(4, '0');
    text.push(`   ${i}: 0100007F:${port} 0200000A:0050 ${hex} 00000000:00000000 00:00000000 00000000     0        0 ${100 + i} 1 0000000000000000 100 0 0 10 0`);
  });
  const parsed = parseProcNet(text.join('\n'), 'tcp', 4);
  assert.equal(parsed.badLines, 0);
  const t = buildSocketTable([parsed]);
  states.forEach(([name, st], i) => {
    const isListen = st === TCP_STATE.LISTEN;
    assert.equal(t.hasConnection('tcp', 1000 + i, '10.0.0.2', 80), !isListen, name);
    assert.equal(t.isListening('tcp', 1000 + i, 4), isListen, name);
  });
});

test('malformed lines are counted and skipped, never thrown; header and blank lines are not counted', () => {
  const good = '   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0';
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    good,
    '',
    'garbage',
    '   1: 0100007F:0016 00000000:0000 0A', // cut short
    '   2: 0100007F0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1', // no colon
    '   3: 00000000000000000000000001000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1', // IPv6 in tcp
    '   4: 0100007F:0016 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000     0        0 1 1', // state not hex
    '   5: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 x 1', // inode not a number
    '   6: 0100007F:00160 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1', // 5-digit port
    '   7: 0100007G:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1', // not hex
    '',
  ].join('\n');
  const r = parseProcNet(text, 'tcp', 4);
  assert.equal(r.entries.length, 1);
  assert.equal(r.badLines, 8);
  assert.equal(r.entries[0]?.localPort, 22);
  // The IPv4 line in an IPv6 file is bad too.
  assert.equal(parseProcNet(good, 'tcp', 6).badLines, 1);
  assert.deepEqual(parseProcNet('', 'udp', 6), { proto: 'udp', family: 6, entries: [], badLines: 0 });
  // CRLF (a file copied through another system) still parses.
  assert.equal(parseProcNet(`${good}\r\n${good}\r\n`, 'tcp', 4).entries.length, 2);
});

/** Writes `bytes` (network order) the way the kernel prints them: 32-bit words in host byte order. */
function procHex(bytes: Uint8Array, littleEndian: boolean): string {
  let s = '';
  for (let w = 0; w < bytes.length; w += 4) {
    const word = littleEndian ? [bytes[w + 3], bytes[w + 2], bytes[w + 1], bytes[w]] : [bytes[w], bytes[w + 1], bytes[w + 2], bytes[w + 3]];
    s += word.map((b) => (b ?? 0).toString(16).toUpperCase().padStart(2, '0')).join('');
  }
  return s;
}

test("addresses come out as shared's canonical text of the unmapped address, on either byte order", () => {
  let seed = 0x1234567;
  const rnd = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) & 0xff;
  };
  const cases: Uint8Array[] = [
    parseAddress('2001:db8::1').bytes,
    parseAddress('fe80::1:0:0:1').bytes,
    parseAddress('::ffff:198.18.0.7').bytes,
    parseAddress('::127.0.0.1').bytes, // IPv4-compatible, not mapped: stays IPv6
  ];
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(16);
    for (let j = 0; j < 16; j++) b[j] = rnd() < 160 ? 0 : rnd();
    if (i % 4 === 0) b.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    cases.push(b);
  }
  for (const littleEndian of [true, false]) {
    const lines = cases.map((b, i) => `${i}: ${procHex(b, littleEndian)}:0050 ${procHex(b, littleEndian)}:1F90 01 00000000:00000000 00:00000000 00000000 0 0 ${i} 1`);
    const r = parseProcNet(lines.join('\n'), 'tcp', 6, { littleEndian });
    assert.equal(r.badLines, 0);
    r.entries.forEach((e, i) => {
      const want = addressFromBytes(cases[i] ?? new Uint8Array(16)).unmapped().toString();
      assert.equal(e.remoteAddress, want);
      assert.equal(e.localAddress, want);
    });
  }
  assert.equal(parseProcNet('0: 7F000001:0016 00000000:0000 0A 0:0 0:0 0 0 0 1 1', 'tcp', 4, { littleEndian: false }).entries[0]?.localAddress, '127.0.0.1');
  assert.equal(parseAddress('2001:db8::1').toString(), parseProcNet(`0: ${procHex(parseAddress('2001:db8::1').bytes, true)}:0016 ${'0'.repeat(32)}:0000 0A 0:0 0:0 0 0 0 1 1`, 'tcp', 6).entries[0]?.localAddress);
});

test('diffListening reports ports opened and closed, ascending, per protocol', () => {
  const before = buildSocketTable([TCP, UDP]);
  const after = buildSocketTable([TCP6, UDP]);
  assert.deepEqual(diffListening(before, after, 'tcp'), { proto: 'tcp', opened: [43573, 45165], closed: [2024, 34425] });
  assert.equal(diffListening(before, after, 'udp'), undefined);
});

// ---- real components: the watcher on the real /proc, with real sockets on loopback ----

function listenTcp(host: string, ipv6Only = false): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s) => s.on('error', () => undefined));
    srv.once('error', reject);
    srv.listen({ port: 0, host, ipv6Only }, () => resolve(srv));
  });
}

function portOf(srv: Server): number {
  const a = srv.address();
  assert.ok(a !== null && typeof a === 'object');
  return a.port;
}

function close(srv: Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

function connectTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
}

function bindUdp(type: 'udp4' | 'udp6', host: string): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type, ipv6Only: false });
    s.once('error', reject);
    s.bind(0, host, () => resolve(s));
  });
}

// Without IPv6 in the kernel there is no /proc/net/tcp6 and no `::` socket to test with.
const HAVE_IPV6 = existsSync('/proc/net/tcp6');

test('a TCP listener on 127.0.0.1 and one on [::] are seen with their families; the real files parse cleanly', async (t) => {
  if (!HAVE_IPV6) return t.skip('no IPv6 in this kernel (/proc/net/tcp6 missing)');
  const v4 = await listenTcp('127.0.0.1');
  const dual = await listenTcp('::');
  t.after(async () => {
    await close(v4);
    await close(dual);
  });
  const w = new SocketWatcher();
  const table = w.refresh();
  assert.equal(w.stats.badLines, 0, 'this kernel writes lines the parser reads');
  assert.equal(table.isListening('tcp', portOf(v4), 4), true);
  assert.equal(table.isListening('tcp', portOf(v4), 6), false);
  assert.equal(table.isListening('tcp', portOf(dual), 4), true);
  assert.equal(table.isListening('tcp', portOf(dual), 6), true);
  assert.ok(table.listeningPorts('tcp').has(portOf(dual)));
  assert.equal(w.table, table);
});

test('a listener that closes is reported through start()\'s onChange within a second, one that opens too', async (t) => {
  const srv = await listenTcp(HAVE_IPV6 ? '::' : '127.0.0.1');
  const port = portOf(srv);
  const diffs: ListeningDiff[] = [];
  let wake: (() => void) | undefined;
  const w = new SocketWatcher({
    onChange: (d) => {
      diffs.push(d);
      wake?.();
    },
  });
  t.after(() => w.stop());
  w.start();
  assert.equal(w.table.isListening('tcp', port, 4), true, 'start() reads at once');
  const waitFor = async (pred: () => boolean, what: string): Promise<number> => {
    const t0 = performance.now();
    while (!pred()) {
      const left = 1000 - (performance.now() - t0);
      assert.ok(left > 0, `${what} not reported within 1 s`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, left);
      });
    }
    return performance.now() - t0;
  };
  await close(srv);
  const tookClose = await waitFor(() => diffs.some((d) => d.proto === 'tcp' && d.closed.includes(port)), `closing port ${port}`);
  assert.equal(w.table.isListening('tcp', port, 4), false);
  const again = await listenTcp('127.0.0.1');
  t.after(() => close(again));
  const tookOpen = await waitFor(() => diffs.some((d) => d.proto === 'tcp' && d.opened.includes(portOf(again))), `opening port ${portOf(again)}`);
  t.diagnostic(`with the default 500 ms interval: close noticed after ${tookClose.toFixed(0)} ms, open after ${tookOpen.toFixed(0)} ms`);
  // A port is reported once, not on every poll.
  assert.equal(diffs.filter((d) => d.closed.includes(port)).length, 1);
});

test('an outbound TCP connection is seen as a 4-tuple from both ends (IPv4, IPv6 and IPv4 through a dual-stack socket)', async (t) => {
  const hosts: [string, string][] = [['127.0.0.1', '127.0.0.1']];
  if (HAVE_IPV6) hosts.push(['::', '::1'], ['::', '127.0.0.1']);
  const w = new SocketWatcher();
  for (const [bindHost, peer] of hosts) {
    const srv = await listenTcp(bindHost);
    const client = await connectTcp(peer, portOf(srv));
    t.after(async () => {
      client.destroy();
      await close(srv);
    });
    const table = w.refresh();
    const local = client.localPort ?? -1;
    assert.equal(table.hasConnection('tcp', local, peer, portOf(srv)), true, `client end ${peer}`);
    assert.equal(table.hasConnection('tcp', portOf(srv), peer, local), true, `server end ${bindHost} <- ${peer}`);
    assert.equal(table.hasConnection('tcp', local, peer, portOf(srv) === 65535 ? 1 : portOf(srv) + 1), false);
    assert.equal(table.isListening('tcp', local, 4), false, 'a client port is not a listener');
    // After our side closes, the connection lingers (FIN_WAIT/TIME_WAIT) and still counts: a late
    // FIN or ACK from the peer is not a probe.
    await new Promise<void>((resolve) => client.end(resolve));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(w.refresh().hasConnection('tcp', local, peer, portOf(srv)), true, `closing connection from ${local}`);
  }
});

test('a bound UDP socket listens; a connected one is a connection', async (t) => {
  const srv = await bindUdp('udp4', '127.0.0.1');
  const cli = await bindUdp('udp4', '127.0.0.1');
  t.after(() => {
    srv.close();
    cli.close();
  });
  await new Promise<void>((resolve, reject) => cli.connect(srv.address().port, '127.0.0.1', (e?: Error) => (e ? reject(e) : resolve())));
  const w = new SocketWatcher();
  const table = w.refresh();
  assert.equal(table.isListening('udp', srv.address().port, 4), true);
  assert.equal(table.isListening('tcp', srv.address().port, 4), false);
  assert.equal(table.isListening('udp', cli.address().port, 4), true, 'a connected UDP socket still receives on its port');
  assert.equal(table.hasConnection('udp', cli.address().port, '127.0.0.1', srv.address().port), true);
  assert.equal(table.hasConnection('udp', srv.address().port, '127.0.0.1', cli.address().port), false, 'the unconnected end has no peer');
  if (HAVE_IPV6) {
    const dual = await bindUdp('udp6', '::');
    const viaV4 = await bindUdp('udp6', '::');
    t.after(() => {
      dual.close();
      viaV4.close();
    });
    await new Promise<void>((resolve, reject) => viaV4.connect(dual.address().port, '::ffff:127.0.0.1', (e?: Error) => (e ? reject(e) : resolve())));
    const t2 = w.refresh();
    assert.equal(t2.isListening('udp', dual.address().port, 4), true);
    assert.equal(t2.isListening('udp', dual.address().port, 6), true);
    assert.equal(t2.hasConnection('udp', viaV4.address().port, '127.0.0.1', dual.address().port), true);
  }
});

test('procRoot: files a test wrote; a missing file is empty; an unreadable one throws FS_READ and keeps the snapshot', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ps-sockets-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'net'));
  writeFileSync(join(root, 'net', 'tcp'), PROC_TCP);
  const diffs: ListeningDiff[] = [];
  const w = new SocketWatcher({ procRoot: root, littleEndian: true, onChange: (d) => diffs.push(d) });
  assert.equal(w.table.size, 0, 'empty before the first read');
  const first = w.refresh();
  assert.equal(first.size, 7);
  assert.equal(first.isListening('tcp', 34425, 4), true);
  assert.equal(first.listeningPorts('udp').size, 0);
  assert.deepEqual(diffs, [], 'the first read is not a change');
  writeFileSync(join(root, 'net', 'udp6'), PROC_UDP6);
  writeFileSync(join(root, 'net', 'tcp6'), PROC_TCP6);
  w.refresh();
  assert.deepEqual(diffs, [
    { proto: 'tcp', opened: [43573, 45165], closed: [] },
    { proto: 'udp', opened: [41716, 59278], closed: [] },
  ]);
  mkdirSync(join(root, 'net', 'udp')); // reading a directory fails with EISDIR, not ENOENT
  const before = w.table;
  assert.throws(() => w.refresh(), (e: unknown) => e instanceof FileStateError && e.code === 'FS_READ' && e.path === join(root, 'net', 'udp'));
  assert.equal(w.table, before);
});

test('a failing read is throttled too: refreshIfStale does not retry it on every packet', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ps-sockets-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'net', 'tcp'), { recursive: true }); // EISDIR on read
  let now = 0;
  const w = new SocketWatcher({ procRoot: root, now: () => now });
  assert.throws(() => w.refreshIfStale(100), FileStateError);
  let thrown = 0;
  for (let i = 0; i < 1000; i++) {
    now += 0.05; // 1000 packets in 50 ms
    try {
      w.refreshIfStale(100);
    } catch {
      thrown++;
    }
  }
  assert.equal(thrown, 0, 'no retry within maxAge of the failed attempt');
  now += 100;
  assert.throws(() => w.refreshIfStale(100), FileStateError);
});

test('refreshIfStale re-reads only an old snapshot, and a flood of calls costs few reads', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ps-sockets-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'net'));
  writeFileSync(join(root, 'net', 'tcp'), PROC_TCP);
  let now = 1000;
  const w = new SocketWatcher({ procRoot: root, now: () => now });
  assert.equal(w.refreshIfStale(100), true, 'never read: stale');
  assert.equal(w.stats.refreshes, 1);
  // An FTP client opens a data port: a packet to it finds it unknown and asks.
  writeFileSync(join(root, 'net', 'tcp'), `${PROC_TCP}  7: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9 1 0 100 0 0 10 0\n`);
  now += 50;
  assert.equal(w.refreshIfStale(100), false, '50 ms old is fresh enough for maxAge 100');
  assert.equal(w.table.isListening('tcp', 5000, 4), false);
  now += 60;
  assert.equal(w.refreshIfStale(100), true);
  assert.equal(w.table.isListening('tcp', 5000, 4), true);
  // A flood: 100 000 packets over one simulated second, asking with maxAge 0 each time.
  const reads = w.stats.refreshes;
  for (let i = 0; i < 100_000; i++) {
    now += 0.01;
    w.refreshIfStale(0);
  }
  const extra = w.stats.refreshes - reads;
  assert.ok(extra <= 1000 / MIN_STALE_MS + 1, `${extra} reads in one second`);
  assert.ok(extra >= 1000 / MIN_STALE_MS - 1, `${extra} reads in one second`);
});

test('refreshIfStale waits longer after a slow read, bounding the share of time spent reading', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ps-sockets-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'net'));
  writeFileSync(join(root, 'net', 'tcp'), PROC_TCP);
  // Every reading of this clock moves it on by 3 ms, so each read of the files "takes" 3 ms
  // (refresh() reads the clock before and after) and each call of refreshIfStale at least 3 ms.
  let clock = 0;
  const w = new SocketWatcher({
    procRoot: root,
    now: () => {
      const v = clock;
      clock += 3;
      return v;
    },
  });
  w.refresh();
  assert.equal(w.stats.lastReadMs, 3);
  const reads = w.stats.refreshes;
  const from = clock;
  for (let i = 0; i < 10_000; i++) w.refreshIfStale(0);
  const extra = w.stats.refreshes - reads;
  const share = (extra * 3) / (clock - from);
  assert.ok(extra > 0);
  // MIN_STALE_MS alone would allow a read every 10 ms, i.e. 3 ms in 13 (23%).
  assert.ok(share <= 1 / STALE_COST_FACTOR, `${extra} reads of 3 ms in ${clock - from} ms: ${(share * 100).toFixed(1)}%`);
});

test('micro-measure: refresh() on this machine', async (t) => {
  // A few hundred extra sockets so the number says something about a busy host.
  const servers: Server[] = [];
  for (let i = 0; i < 100; i++) servers.push(await listenTcp('127.0.0.1'));
  const clients = await Promise.all(servers.map((s) => connectTcp('127.0.0.1', portOf(s))));
  t.after(async () => {
    for (const c of clients) c.destroy();
    for (const s of servers) await close(s);
  });
  const w = new SocketWatcher();
  w.refresh();
  const n = 50;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) w.refresh();
  const per = (performance.now() - t0) / n;
  t.diagnostic(`refresh() of ${w.table.size} sockets: ${(per * 1000).toFixed(0)} µs each (mean of ${n}); mostly kernel time walking the connection hash`);
  assert.ok(w.table.size >= 300, 'the extra sockets are in the table');
  // Lookups: no measurement claim, just that the hot path answers for every extra port.
  for (const s of servers) assert.equal(w.table.isListening('tcp', portOf(s), 4), true);
});
