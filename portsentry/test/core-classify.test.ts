import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyPacket, classifyTcpFlags, decodeFrame, LINKTYPE, scanMessage } from '../src/core/index.js';
import type { ScanKind } from '../src/core/index.js';
import { ipv4, ipv6, tcp, udp } from './packets.js';

// Flag bits: FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32.
// Expected kinds written out from PortSentry 1.2's ReportPacketType and its ACK/RST pre-filter.
const NAMED_12: ReadonlyMap<number, ScanKind> = new Map<number, ScanKind>([
  [0x00, 'NULL'],
  [0x29, 'XMAS'], // FIN+PSH+URG
  [0x2b, 'XMAS'], // SYN+FIN+PSH+URG: 1.2 tested FIN&&URG&&PSH only
  [0x01, 'FIN'],
  [0x02, 'SYN'],
]);
const NAMED_ACK: ReadonlyMap<number, ScanKind> = new Map<number, ScanKind>([
  [0x3f, 'FULL-XMAS'],
  [0x10, 'ACK'],
  [0x11, 'MAIMON'],
]);

test('all 64 combinations of the six classic flags, ACK-scan detection on and off', () => {
  let unknown = 0;
  let ignoredOn = 0;
  for (let f = 0; f < 64; f++) {
    const ackOrRst = (f & 0x14) !== 0;
    const on = classifyTcpFlags(f, { detectAckScans: true });
    const off = classifyTcpFlags(f, { detectAckScans: false });
    if (ackOrRst) {
      assert.equal(on, NAMED_ACK.get(f) ?? null, `flags 0x${f.toString(16)} on`);
      assert.equal(off, null, `flags 0x${f.toString(16)} off: 1.2 never looked at ACK/RST packets`);
      if (on === null) ignoredOn++;
    } else {
      const expected = NAMED_12.get(f) ?? 'UNKNOWN-FLAGS';
      assert.equal(on, expected, `flags 0x${f.toString(16)}`);
      assert.equal(off, expected, `flags 0x${f.toString(16)} off`);
      if (expected === 'UNKNOWN-FLAGS') unknown++;
    }
  }
  assert.equal(unknown, 11);
  assert.equal(ignoredOn, 45);
});

test('ECE and CWR never change the verdict', () => {
  for (let f = 0; f < 64; f++) {
    for (const ecn of [0x40, 0x80, 0xc0]) assert.equal(classifyTcpFlags(f | ecn), classifyTcpFlags(f));
  }
  assert.equal(classifyTcpFlags(0xc2), 'SYN'); // an ECN-setup SYN
});

test('default options detect ACK scans', () => {
  assert.equal(classifyTcpFlags(0x10), 'ACK');
});

test('1.2 wording, word for word', () => {
  const cases: [ScanKind, string][] = [
    ['NULL', ' TCP NULL scan'],
    ['XMAS', 'TCP XMAS scan'],
    ['FIN', 'TCP FIN scan'],
    ['SYN', 'TCP SYN/Normal scan'],
    ['FULL-XMAS', 'TCP FULL-XMAS scan'],
    ['ACK', 'TCP ACK scan'],
    ['MAIMON', 'TCP Maimon scan'],
    ['UDP', 'UDP scan'],
    ['CONNECT', 'Connect'],
  ];
  for (const [k, text] of cases) assert.equal(scanMessage(k), text);
  assert.equal(scanMessage('UNKNOWN-FLAGS', 0x03), 'Unknown Type: TCP Packet Flags: SYN: 1 FIN: 1 ACK: 0 PSH: 0 URG: 0 RST: 0');
  assert.equal(scanMessage('UNKNOWN-FLAGS', 0x28), 'Unknown Type: TCP Packet Flags: SYN: 0 FIN: 0 ACK: 0 PSH: 1 URG: 1 RST: 0');
  assert.equal(scanMessage('UNKNOWN-FLAGS', 0xff), 'Unknown Type: TCP Packet Flags: SYN: 1 FIN: 1 ACK: 1 PSH: 1 URG: 1 RST: 1');
});

test('classifyPacket: UDP is a UDP scan; ACK and Maimon with payload are not probes', () => {
  const u = decodeFrame(ipv6({ next: 17 }, udp({ dport: 7 })), LINKTYPE.IPV6);
  assert.equal(u.kind === 'udp' ? classifyPacket(u) : u.kind, 'UDP');
  const cases: [number, number[], ScanKind | null][] = [
    [0x10, [], 'ACK'],
    [0x10, [1], null],
    [0x11, [], 'MAIMON'],
    [0x11, [1, 2], null],
    [0x3f, [1], 'FULL-XMAS'],
    [0x02, [1], 'SYN'],
  ];
  for (const [flags, data, expected] of cases) {
    const p = decodeFrame(ipv4({}, tcp({ flags, data })), LINKTYPE.RAW);
    assert.equal(p.kind === 'tcp' ? classifyPacket(p) : p.kind, expected, `flags ${flags} data ${data.length}`);
  }
  const p = decodeFrame(ipv4({}, tcp({ flags: 0x10 })), LINKTYPE.RAW);
  assert.equal(p.kind === 'tcp' ? classifyPacket(p, { detectAckScans: false }) : p.kind, null);
});
