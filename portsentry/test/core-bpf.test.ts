import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildCaptureFilter, classifyPacket, decodeFrame, LINKTYPE, planPortRanges, readPcap, selectedPorts,
} from '../src/core/index.js';
import type { CaptureFilterSpec, DecodeResult } from '../src/core/index.js';
import { concat, ether, frag6, hbh, ipv4, ipv6, sll2, tcp, udp, writePcap } from './packets.js';

const HAVE_TCPDUMP = spawnSync('tcpdump', ['--version']).status === 0;
const ROOT = process.getuid?.() === 0;
// tcpdump drops to its own user before writing; keep root so it can write into our private temp dir.
const KEEP_ROOT = ROOT ? ['-Z', 'root'] : [];

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'ps-bpf-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Compiles `expr` for a link type with real libpcap (through tcpdump); returns the instruction count. */
function compile(expr: string, linkType: number): number {
  return withTmp((dir) => {
    const file = join(dir, 'empty.pcap');
    writeFileSync(file, writePcap([], { linkType }));
    const out = execFileSync('tcpdump', ['-d', '-r', file, expr], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.trim().split('\n').length;
  });
}

/** Runs the filter over frames with real libpcap; returns the indices of the frames it passed. */
function runFilter(expr: string, frames: Uint8Array[], linkType: number): number[] {
  return withTmp((dir) => {
    const input = join(dir, 'in.pcap');
    const output = join(dir, 'out.pcap');
    writeFileSync(input, writePcap(frames, { linkType }));
    execFileSync('tcpdump', [...KEEP_ROOT, '-r', input, '-w', output, expr], { stdio: 'ignore' });
    const res = readPcap(readFileSync(output));
    assert.ok(res.ok);
    const index = new Map(frames.map((f, i) => [Buffer.from(f).toString('hex'), i]));
    return res.records.map((r) => index.get(Buffer.from(r.data).toString('hex'))!);
  });
}

test('planPortRanges joins neighbours, and merges the narrowest gaps beyond the limit', () => {
  assert.deepEqual(planPortRanges([1, 2, 3, 7, 9, 10]), { ranges: [{ from: 1, to: 3 }, { from: 7, to: 7 }, { from: 9, to: 10 }], exact: true });
  // Gaps: 3->7 (4), 7->9 (2), 10->100 (90): with two ranges allowed the 2-wide gap closes first, then the 4.
  assert.deepEqual(planPortRanges([1, 2, 3, 7, 9, 10, 100], 2), { ranges: [{ from: 1, to: 10 }, { from: 100, to: 100 }], exact: false });
  assert.deepEqual(planPortRanges([5, 6000, 65535], 1), { ranges: [{ from: 5, to: 65535 }], exact: false });
  assert.deepEqual(planPortRanges([]), { ranges: [], exact: true });
});

test('selectedPorts: stealth lists are sorted and de-duplicated; advanced is below N minus excluded', () => {
  assert.deepEqual(selectedPorts({ mode: 'stealth', ports: [31337, 1, 1, 79] }), [1, 79, 31337]);
  assert.deepEqual(selectedPorts({ mode: 'advanced', below: 10, exclude: [3, 4, 99] }), [0, 1, 2, 5, 6, 7, 8, 9]);
  assert.throws(() => selectedPorts({ mode: 'stealth', ports: [70000] }), RangeError);
  assert.throws(() => buildCaptureFilter({ detectAckScans: true }), RangeError);
});

test('the filter compiles with real libpcap for every link type, in every mode', { skip: HAVE_TCPDUMP ? false : 'needs tcpdump' }, () => {
  const specs: CaptureFilterSpec[] = [
    { tcp: { mode: 'stealth', ports: [1, 11, 15, 79, 111, 119, 143, 540, 635, 1080, 1524, 2000, 12345, 12346, 31337, 32771, 32772] }, detectAckScans: true },
    { udp: { mode: 'stealth', ports: [1, 7, 9, 69, 161, 162, 513, 635, 640, 641, 700, 37444, 34555, 31335] }, detectAckScans: true },
    { tcp: { mode: 'advanced', below: 1024, exclude: [113, 139] }, udp: { mode: 'advanced', below: 1024, exclude: [520, 138, 137, 67] }, detectAckScans: false },
    { tcp: { mode: 'advanced', below: 65536, exclude: [] }, detectAckScans: true, fragments: false },
  ];
  for (const spec of specs) {
    for (const lt of [LINKTYPE.EN10MB, LINKTYPE.LINUX_SLL, LINKTYPE.LINUX_SLL2, LINKTYPE.RAW, LINKTYPE.NULL]) {
      assert.ok(compile(buildCaptureFilter(spec), lt) > 0);
    }
  }
});

test('thousands of scattered ports stay within the kernel limit of 4096 instructions', { skip: HAVE_TCPDUMP ? false : 'needs tcpdump' }, () => {
  const ports = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 65536);
  const exclude = Array.from({ length: 3000 }, (_, i) => (i * 104729) % 65536);
  const expr = buildCaptureFilter({
    tcp: { mode: 'stealth', ports }, udp: { mode: 'advanced', below: 65536, exclude }, detectAckScans: true,
  });
  const n = compile(expr, LINKTYPE.EN10MB);
  assert.ok(n <= 4096, `${n} instructions`);
});

test('inbound compiles on a live Linux interface', { skip: !HAVE_TCPDUMP ? 'needs tcpdump' : !ROOT ? 'needs root: opens lo' : false }, () => {
  const expr = buildCaptureFilter({ tcp: { mode: 'stealth', ports: [1] }, detectAckScans: true, inbound: true });
  assert.match(expr, /^inbound and \(/);
  const out = execFileSync('tcpdump', ['-d', '-i', 'lo', expr], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.ok(out.includes('ldh      [type]'));
});

// What the JavaScript side would make of a frame, given the watched ports: the filter must pass at
// least these (it may pass a superset, e.g. fragments, which JS reports).
function jsWants(r: DecodeResult, tcpPorts: Set<number>, udpPorts: Set<number>, detectAckScans: boolean): boolean {
  if (r.kind === 'tcp') return tcpPorts.has(r.dstPort) && classifyPacket(r, { detectAckScans }) !== null;
  if (r.kind === 'udp') return udpPorts.has(r.dstPort);
  return r.kind === 'fragment';
}

test('libpcap running the filter passes exactly what the classifier calls a probe', { skip: HAVE_TCPDUMP ? false : 'needs tcpdump' }, () => {
  const watchedTcp = [22, 79, 1000, 1001, 1002, 31337];
  const watchedUdp = [161, 31335];
  const frames: Uint8Array[] = [];
  const plain: boolean[] = []; // true when the frame has no IPv6 extension header / IPv4 fragment
  for (let f = 0; f < 64; f++) {
    for (const dport of [79, 1001, 80]) {
      for (const data of [[], [0x41]]) {
        const flags = f | (dport === 80 ? 0x40 : 0); // ECN bits must not matter either
        frames.push(ether(ipv4({}, tcp({ dport, flags, data })), 0x0800));
        frames.push(ether(ipv4({ options: [1, 1, 1, 0] }, tcp({ dport, flags, data })), 0x0800));
        frames.push(ether(ipv6({}, tcp({ dport, flags, data, options: [1, 1, 1, 1] })), 0x86dd));
        plain.push(true, true, true);
      }
    }
  }
  for (const dport of [161, 162, 31335]) {
    frames.push(ether(ipv4({ proto: 17 }, udp({ dport })), 0x0800), ether(ipv6({ next: 17 }, udp({ dport })), 0x86dd));
    plain.push(true, true);
  }
  frames.push(
    ether(ipv4({ frag: 0x2000 }, tcp({ dport: 5 }).subarray(0, 8)), 0x0800),
    ether(ipv4({ frag: 0x0010 }, concat([1, 2, 3, 4, 5, 6, 7, 8])), 0x0800),
    ether(ipv6({ ext: [hbh(60)] }, tcp({ dport: 22, flags: 0x02 })), 0x86dd),
    ether(ipv6({ ext: [frag6(8, false)] }, [1, 2, 3, 4, 5, 6, 7, 8]), 0x86dd),
    ether(new Uint8Array(28), 0x0806),
  );
  plain.push(false, false, false, false, true);
  for (const detectAckScans of [true, false]) {
    const expr = buildCaptureFilter({
      tcp: { mode: 'stealth', ports: watchedTcp }, udp: { mode: 'stealth', ports: watchedUdp }, detectAckScans,
    });
    const passed = new Set(runFilter(expr, frames, LINKTYPE.EN10MB));
    const tcpSet = new Set(watchedTcp);
    const udpSet = new Set(watchedUdp);
    frames.forEach((fr, i) => {
      const r = decodeFrame(fr, LINKTYPE.EN10MB);
      const want = jsWants(r, tcpSet, udpSet, detectAckScans);
      // Extension-header and fragment frames are passed wholesale for JS to walk and report.
      const expectPass = plain[i] ? want : r.kind !== 'other';
      assert.equal(passed.has(i), expectPass, `frame ${i} ${JSON.stringify({ ...r, src: undefined, dst: undefined })} ackScans=${detectAckScans}`);
    });
  }
});

test('the same agreement holds on Linux cooked (SLL2) frames and for advanced mode', { skip: HAVE_TCPDUMP ? false : 'needs tcpdump' }, () => {
  const frames: Uint8Array[] = [];
  for (let f = 0; f < 64; f++) {
    for (const dport of [0, 112, 113, 1023, 1024]) {
      frames.push(sll2(ipv4({}, tcp({ dport, flags: f })), 0x0800), sll2(ipv6({}, tcp({ dport, flags: f })), 0x86dd));
    }
  }
  const expr = buildCaptureFilter({ tcp: { mode: 'advanced', below: 1024, exclude: [113] }, detectAckScans: true });
  const passed = new Set(runFilter(expr, frames, LINKTYPE.LINUX_SLL2));
  const watched = new Set(selectedPorts({ mode: 'advanced', below: 1024, exclude: [113] }));
  frames.forEach((fr, i) => {
    const r = decodeFrame(fr, LINKTYPE.LINUX_SLL2);
    assert.equal(passed.has(i), jsWants(r, watched, new Set(), true), `frame ${i}`);
  });
});

test('on the real loopback capture, the filter passes every probe the classifier names', { skip: HAVE_TCPDUMP ? false : 'needs tcpdump' }, () => {
  const bytes = readFileSync(new URL('../../test/fixtures/loopback-probes.pcap', import.meta.url));
  const res = readPcap(bytes);
  assert.ok(res.ok);
  if (!res.ok) return;
  const frames = res.records.map((r) => r.data.slice());
  const ports = Array.from({ length: 300 }, (_, i) => 40000 + i);
  const expr = buildCaptureFilter({ tcp: { mode: 'stealth', ports }, udp: { mode: 'stealth', ports }, detectAckScans: true });
  const passed = new Set(runFilter(expr, frames, res.header.linkType));
  const all = new Set(ports);
  frames.forEach((fr, i) => {
    const r = decodeFrame(fr, res.header.linkType);
    const want = jsWants(r, all, all, true) || (r.kind === 'tcp' && r.extHeaders > 0);
    assert.equal(passed.has(i), want, `record ${i}`);
  });
});
