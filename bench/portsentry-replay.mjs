#!/usr/bin/env node
// Replays a large synthetic capture through portsentry's stealth detectors (the same code live mode
// runs per frame: decode, classify, ports, trigger, log lines) and prints frames per second and
// memory. Run after `npm run build`:   node bench/portsentry-replay.mjs [--frames N] [--sources N]
//
// The capture mixes what a busy host sees: 60% ordinary established traffic to a local service with
// payload (what the live BPF filter keeps in the kernel; here it reaches the detector, so this is a
// worst case), 30% probes (SYN/FIN/NULL/XMAS/ACK/UDP) from `--sources` random spoofed addresses
// to watched ports, 10% garbage and fragments. Ethernet framing, IPv4 and IPv6.
//
// PortSentry 1.2 has no replay: it reads a raw socket only, so there is no figure for it on a file.
// Its live figures on the same kind of traffic come from bench/portsentry-flood.mjs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const root = new URL('..', import.meta.url).pathname;
const { loadPortsentryConfig, replayCapture } = await import(join(root, 'portsentry/dist/src/index.js'));
const { AddressSet } = await import(join(root, 'shared/dist/src/index.js'));

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const FRAMES = arg('--frames', 1_000_000);
const SOURCES = arg('--sources', 200_000);

// A small deterministic PRNG so every run replays the same bytes.
let seed = 0x2545f491;
const rnd = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x100000000;
};

const WATCHED = [1, 11, 15, 79, 111, 119, 143, 540, 635, 1080, 1524, 2000, 5742, 6667, 12345, 31337];
const US4 = [198, 18, 70, 1];
const US6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0x70, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

function eth(type, payload) {
  const b = new Uint8Array(14 + payload.length);
  b.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, type >> 8, type & 0xff]);
  b.set(payload, 14);
  return b;
}
function ip4(src, proto, l4, frag = 0) {
  const b = new Uint8Array(20 + l4.length);
  const len = b.length;
  b.set([0x45, 0, len >> 8, len & 0xff, 0, 1, frag >> 8, frag & 0xff, 64, proto, 0, 0, ...src, ...US4]);
  b.set(l4, 20);
  return eth(0x0800, b);
}
function ip6(src, proto, l4) {
  const b = new Uint8Array(40 + l4.length);
  b.set([0x60, 0, 0, 0, l4.length >> 8, l4.length & 0xff, proto, 64, ...src, ...US6]);
  b.set(l4, 40);
  return eth(0x86dd, b);
}
function tcp(sport, dport, flags, payload = 0) {
  const b = new Uint8Array(20 + payload);
  b.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 4, 0]);
  return b;
}
function udp(sport, dport) {
  return new Uint8Array([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 12, 0, 0, 1, 2, 3, 4]);
}
const src4 = () => [198, 19, Math.floor(rnd() * SOURCES) >> 8 & 0xff, Math.floor(rnd() * SOURCES) & 0xff];
const src6 = (i) => [0x20, 0x01, 0x0d, 0xb8, 0, 0x71, 0, 0, 0, 0, 0, 0, (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff];
const FLAGS = [0x02, 0x01, 0x00, 0x29, 0x10, 0x11, 0x3f];

function frame(i) {
  const r = rnd();
  const port = WATCHED[Math.floor(rnd() * WATCHED.length)];
  if (r < 0.6) return ip4([198, 19, 200, 1], 6, tcp(40000 + (i & 1023), 22, 0x18, 200)); // established, with data
  if (r < 0.75) return ip4(src4(), 6, tcp(50000, port, FLAGS[Math.floor(rnd() * FLAGS.length)]));
  if (r < 0.85) return ip6(src6(Math.floor(rnd() * SOURCES)), 6, tcp(50000, port, 0x02));
  if (r < 0.9) return ip4(src4(), 17, udp(50000, port));
  if (r < 0.95) return ip4(src4(), 6, tcp(50000, port, 0x02).subarray(0, 8), 0x2000); // tiny first fragment
  const junk = new Uint8Array(10 + Math.floor(rnd() * 40));
  for (let k = 0; k < junk.length; k++) junk[k] = Math.floor(rnd() * 256);
  return junk;
}

function buildPcap(n) {
  const frames = [];
  let bytes = 24;
  for (let i = 0; i < n; i++) {
    const f = frame(i);
    frames.push(f);
    bytes += 16 + f.length;
  }
  const out = new Uint8Array(bytes);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, 1, true); // Ethernet
  let o = 24;
  const t0 = 1_700_000_000;
  frames.forEach((f, i) => {
    dv.setUint32(o, t0 + Math.floor(i / 20_000), true); // 20,000 frames a second of capture time
    dv.setUint32(o + 4, (i % 20_000) * 50, true);
    dv.setUint32(o + 8, f.length, true);
    dv.setUint32(o + 12, f.length, true);
    out.set(f, o + 16);
    o += 16 + f.length;
  });
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'ts-bench-'));
try {
  const conf = join(dir, 'portsentry.conf');
  writeFileSync(conf, `TCP_PORTS="${WATCHED.join(',')}"\nUDP_PORTS="${WATCHED.join(',')}"\nSCAN_TRIGGER="0"\nBLOCK_TCP="0"\nBLOCK_UDP="0"\n`);
  const cfg = loadPortsentryConfig(conf);
  const ignore = new AddressSet().freeze();
  // Warm-up, so the figure is the steady state (JIT-compiled) a long-running daemon has.
  replayCapture(buildPcap(50_000), 'warm-up', cfg, ['stcp', 'sudp'], ignore);
  const pcap = buildPcap(FRAMES);
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  const res = replayCapture(pcap, 'bench.pcap', cfg, ['stcp', 'sudp'], ignore);
  const ms = performance.now() - t0;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const fps = Math.round((res.frames / ms) * 1000);
  console.log(`portsentry replay benchmark: ${res.frames.toLocaleString('en')} frames (${(pcap.length / 1e6).toFixed(1)} MB), ${SOURCES.toLocaleString('en')} spoofed sources`);
  console.log('tool                      | frames/s   | µs/frame | detections | lines     | RSS before→peak MB');
  console.log(
    `TriSentry portsentry      | ${String(fps).padStart(10)} | ${((ms * 1000) / res.frames).toFixed(2).padStart(8)} | ${String(res.detections).padStart(10)} | ${String(res.lines.length).padStart(9)} | ${(rss0 / 2 ** 20).toFixed(0)}→${(peak / 2 ** 20).toFixed(0)}`,
  );
  console.log('PortSentry 1.2            |        n/a |      n/a |        n/a |       n/a | n/a  (no replay mode: raw socket only; see portsentry-flood.mjs)');
  console.log(res.statsLine.replace(/^adminalert: /, ''));
  console.log(JSON.stringify({ bench: 'portsentry-replay', frames: res.frames, ms: Math.round(ms), framesPerSecond: fps, detections: res.detections, rssMB: Math.round(peak / 2 ** 20) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
