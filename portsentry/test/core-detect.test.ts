// The stealth detector's own decisions (packet bytes in, event out): watched ports, local listeners,
// this host's connections (from the socket table and from its own SYNs/datagrams in the capture),
// destinations, the ignore list, the trigger window, and counters for everything dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSet, parsePrefix } from '@trisentry/shared';
import { LINKTYPE } from '../src/core/linktype.js';
import { NO_SOCKETS, OWN_FLOW_TTL_MS, StealthDetector, replayContext, type FrameContext, type HostSockets } from '../src/core/detect.js';
import { eventLines } from '../src/core/messages.js';
import { DST4, SRC4, SRC6, DST6, ipv4, ipv6, tcp, udp } from './packets.js';

const RAW = LINKTYPE.RAW;
const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const US = '198.51.100.9'; // DST4
const THEM = '192.0.2.7'; // SRC4

function set(...prefixes: string[]): AddressSet {
  const s = new AddressSet();
  for (const p of prefixes) s.add(parsePrefix(p));
  return s.freeze() as AddressSet;
}

function detector(trigger = 0, windowMs = 60_000): StealthDetector {
  return new StealthDetector({
    tcp: { mode: 'advanced', below: 65536, exclude: [113] },
    udp: { mode: 'stealth', ports: [69, 40000] },
    classify: { detectAckScans: true },
    trigger: { trigger, windowMs, maxSources: 1000 },
  });
}

const live = (over: Partial<FrameContext> = {}): FrameContext => ({
  sockets: NO_SOCKETS,
  ignore: set(),
  destinations: set(`${US}/32`, '2001:db8::9/128', '255.255.255.255/32'),
  own: set(`${US}/32`, '2001:db8::9/128'),
  ...over,
});

const inbound = (flags: number, dport: number, sport = 40001, data: number[] = []): Uint8Array => ipv4({}, tcp({ flags, dport, sport, data }));
const outbound = (flags: number, sport: number, dport: number): Uint8Array => ipv4({ src: DST4, dst: SRC4 }, tcp({ flags, sport, dport }));

test('a SYN to an unused port is a detection with the 1.2 line', () => {
  const d = detector();
  const e = d.process(inbound(SYN, 111), RAW, inbound(SYN, 111).length, 1000, live());
  assert.ok(e && e.type === 'detection');
  assert.deepEqual(eventLines(e, THEM), [`attackalert: TCP SYN/Normal scan from host: ${THEM}/${THEM} to TCP port: 111`]);
  assert.equal(d.stats.detections, 1);
});

test('excluded ports, and ports a local service listens on, are not probes', () => {
  const d = detector();
  const listening: HostSockets = { isListening: (p, port) => p === 'tcp' && port === 22, hasConnection: () => false };
  const f1 = inbound(SYN, 113);
  assert.equal(d.process(f1, RAW, f1.length, 1, live()), null);
  const f2 = inbound(SYN, 22);
  assert.equal(d.process(f2, RAW, f2.length, 2, live({ sockets: listening })), null);
  assert.equal(d.stats.notWatched, 1);
  assert.equal(d.stats.listening, 1);
});

test('replies to a connection this host opened are not probes, from the capture alone', () => {
  const d = detector();
  // Our SYN from ephemeral port 45000 to their 80 is noted...
  const syn = outbound(SYN, 45000, 80);
  assert.equal(d.process(syn, RAW, syn.length, 10_000, live()), null);
  // ...so their bare ACK and FIN+ACK back to 45000 are part of it, not ACK / Maimon scans.
  for (const [flags, t] of [[ACK, 10_050], [FIN | ACK, 10_100]] as const) {
    const f = inbound(flags, 45000, 80);
    assert.equal(d.process(f, RAW, f.length, t, live()), null);
  }
  assert.equal(d.stats.connection, 2);
  // The same ACK from another source port is a probe.
  const other = inbound(ACK, 45000, 81);
  assert.equal(d.process(other, RAW, other.length, 10_200, live())?.type, 'detection');
  // And after the flow's time is up, it counts again.
  const late = inbound(ACK, 45000, 80);
  assert.equal(d.process(late, RAW, late.length, 10_000 + OWN_FLOW_TTL_MS + 1, live())?.type, 'detection');
});

test('a UDP answer to a datagram this host sent is not a probe', () => {
  const d = detector();
  const out = ipv4({ src: DST4, dst: SRC4, proto: 17 }, udp({ sport: 40000, dport: 53 }));
  assert.equal(d.process(out, RAW, out.length, 5, live()), null);
  const answer = ipv4({ proto: 17 }, udp({ sport: 53, dport: 40000 }));
  assert.equal(d.process(answer, RAW, answer.length, 6, live()), null);
  const probe = ipv4({ proto: 17 }, udp({ sport: 5353, dport: 40000 }));
  assert.equal(d.process(probe, RAW, probe.length, 7, live())?.type, 'detection');
});

test('the socket table: a packet of an existing connection is not a probe', () => {
  const d = detector();
  const sockets: HostSockets = { isListening: () => false, hasConnection: (p, lport, remote, rport) => p === 'tcp' && lport === 50000 && remote === THEM && rport === 443 };
  const f = inbound(ACK, 50000, 443);
  assert.equal(d.process(f, RAW, f.length, 1, live({ sockets })), null);
  assert.equal(d.stats.connection, 1);
});

test('packets to other hosts are not ours to report; the ignore list is silent', () => {
  const d = detector();
  const elsewhere = ipv4({ dst: [198, 51, 100, 77] }, tcp({ flags: SYN, dport: 111 }));
  assert.equal(d.process(elsewhere, RAW, elsewhere.length, 1, live()), null);
  assert.equal(d.stats.notForUs, 1);
  const f = inbound(SYN, 111);
  assert.equal(d.process(f, RAW, f.length, 2, live({ ignore: set('192.0.2.0/24') })), null);
  assert.equal(d.stats.ignored, 1);
  // IPv6 too.
  const f6 = ipv6({ src: SRC6, dst: DST6, next: 6 }, tcp({ flags: FIN, dport: 111 }));
  const e = d.process(f6, RAW, f6.length, 3, live());
  assert.ok(e && e.type === 'detection');
  assert.equal(eventLines(e, e.probe.source)[0], 'attackalert: TCP FIN scan from host: 2001:db8::7/2001:db8::7 to TCP port: 111');
});

test('SCAN_TRIGGER counts per source within the window', () => {
  const d = detector(3, 10_000);
  const f = inbound(SYN, 111);
  const at = (t: number): string | undefined => d.process(f, RAW, f.length, t, replayContext(set()))?.type;
  assert.equal(at(0), undefined);
  assert.equal(at(1000), undefined);
  assert.equal(at(2000), 'detection'); // third within 10 s
  const g = detector(3, 10_000);
  const at2 = (t: number): string | undefined => g.process(f, RAW, f.length, t, replayContext(set()))?.type;
  assert.equal(at2(0), undefined);
  assert.equal(at2(5000), undefined);
  assert.equal(at2(20_000), undefined, 'the window passed: counting started again');
  assert.equal(g.stats.belowTrigger, 3);
});

test('garbage is counted and dropped, never thrown', () => {
  const d = detector();
  let n = 0;
  for (let len = 0; len < 80; len++) {
    const junk = new Uint8Array(len).map((_, i) => (i * 37 + len) & 0xff);
    for (const lt of [RAW, LINKTYPE.EN10MB, LINKTYPE.LINUX_SLL, 9999]) {
      d.process(junk, lt, junk.length, n++, live());
    }
  }
  const s = d.stats;
  assert.equal(s.frames, n);
  assert.ok(s.malformed + s.other + s.notWatched + s.notForUs + s.notProbe + s.detections + s.badIpHeaders + s.hiddenHeaders + s.laterFragments + s.outgoing > 0);
});
