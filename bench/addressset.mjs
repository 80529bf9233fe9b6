#!/usr/bin/env node
// Ignore-list lookups: TriSentry's AddressSet (binary trie) against PortSentry 1.2's method, a linear
// scan of every entry for every probe (1.2's NeverBlock even re-read the file each time; the scan here is
// kept in memory, so the reference figure is a generous one). Same prefixes, same queries, one run.
// usage: node bench/addressset.mjs [prefixes=10000] [queries=1000000]
import { AddressSet, parsePrefix, addressFromBytes, prefixContains } from '@trisentry/shared';

const nPrefixes = Number(process.argv[2] ?? 10_000);
const nQueries = Number(process.argv[3] ?? 1_000_000);
let seed = 12345;
// xorshift32: exact in 32-bit integer arithmetic (an LCG multiplied in doubles loses its low bits).
const rnd = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
const rndV4 = () => `${(rnd() * 256) | 0}.${(rnd() * 256) | 0}.${(rnd() * 256) | 0}.${(rnd() * 256) | 0}`;

const prefixes = [];
for (let i = 0; i < nPrefixes; i++) prefixes.push(parsePrefix(`${rndV4()}/${16 + ((rnd() * 17) | 0)}`));
const set = new AddressSet();
for (const p of prefixes) set.add(p);
const queries = [];
for (let i = 0; i < Math.min(nQueries, 200_000); i++) {
  queries.push(addressFromBytes(new Uint8Array([(rnd() * 256) | 0, (rnd() * 256) | 0, (rnd() * 256) | 0, (rnd() * 256) | 0])));
}

function time(label, n, fn) {
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  let hits = 0;
  for (let i = 0; i < n; i++) if (fn(queries[i % queries.length])) hits++;
  const ns = Number(process.hrtime.bigint() - t0);
  console.log(`${label.padEnd(34)} ${String(n).padStart(9)} lookups  ${(ns / n).toFixed(1).padStart(9)} ns/lookup  ${(n / (ns / 1e9)).toExponential(2)} lookups/s  hits ${hits}  heap +${((process.memoryUsage().heapUsed - heap0) / 1024).toFixed(0)} KiB`);
  return hits;
}

console.log(`ignore list of ${nPrefixes} IPv4 prefixes (/16../32), random queries`);
const a = time('trisentry AddressSet.has (trie)', nQueries, (q) => set.has(q));
// The reference: 1.2-style linear scan, fewer queries since it is orders of magnitude slower.
const nLinear = Math.max(1000, Math.floor(nQueries / 1000));
const b = time('portsentry 1.2 method (linear scan)', nLinear, (q) => prefixes.some((p) => prefixContains(p, q)));
// Agreement on the queries both ran.
let agree = 0;
for (let i = 0; i < nLinear; i++) if (set.has(queries[i % queries.length]) === prefixes.some((p) => prefixContains(p, queries[i % queries.length]))) agree++;
console.log(`agreement on ${nLinear} queries: ${agree}/${nLinear}`);
void a; void b;
