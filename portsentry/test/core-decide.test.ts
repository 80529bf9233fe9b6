// The decide step (pure): levels, already blocked, the rate limit, durations with escalation,
// dry-run; and the parsers that keep gateways and name servers off the block list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decider, expiry, type DecidePolicy } from '../src/core/decide.js';
import { parseIpv6RouteGateways, parseProcRouteGateways, parseResolvConfNameservers } from '../src/core/localnet.js';

const base: DecidePolicy = { levelTcp: 1, levelUdp: 1, durationMs: 0, escalation: 1, maxDurationMs: 0, ratePerMinute: 0, dryRun: false };
const fresh = { blocked: false, offences: 0 };

test('levels: 0 alerts only, 1 blocks, 2 blocks with KILL_RUN_CMD only; UDP has its own level', () => {
  assert.deepEqual(new Decider({ ...base, levelTcp: 0 }).decide({ address: '192.0.2.1', proto: 'tcp', time: 0 }, fresh), { action: 'alert-only' });
  const d = new Decider({ ...base, levelUdp: 2 });
  assert.equal(d.decide({ address: '192.0.2.1', proto: 'tcp', time: 0 }, fresh).action, 'block');
  const u = d.decide({ address: '192.0.2.1', proto: 'udp', time: 0 }, fresh);
  assert.ok(u.action === 'block' && u.level === 2);
});

test('an address already blocked is not blocked again', () => {
  assert.deepEqual(new Decider(base).decide({ address: '192.0.2.1', proto: 'tcp', time: 0 }, { blocked: true, offences: 1 }), { action: 'already-blocked' });
});

test('rate limit: at most N new blocks per minute, one streak notice, refills with time', () => {
  const d = new Decider({ ...base, ratePerMinute: 3 });
  const at = (i: number, t: number) => d.decide({ address: `198.18.0.${i}`, proto: 'tcp', time: t }, fresh);
  assert.equal(at(1, 0).action, 'block');
  assert.equal(at(2, 1).action, 'block');
  assert.equal(at(3, 2).action, 'block');
  assert.deepEqual(at(4, 3), { action: 'rate-limited', firstOfStreak: true });
  assert.deepEqual(at(5, 4), { action: 'rate-limited', firstOfStreak: false });
  assert.equal(d.isLimiting, true);
  assert.equal(at(6, 20_010).action, 'block', 'one token back after 20 s at 3 per minute');
  assert.equal(d.isLimiting, false);
  assert.equal(d.takeSkipped(), 2);
  // A flood of 8,000 spoofed sources within a minute makes at most the limit of blocks.
  const f = new Decider({ ...base, ratePerMinute: 30 });
  let blocks = 0;
  for (let i = 0; i < 8000; i++) if (f.decide({ address: `10.0.${i >> 8}.${i & 255}`, proto: 'tcp', time: i * 7 }, fresh).action === 'block') blocks++;
  assert.ok(blocks <= 30 + Math.ceil((8000 * 7 * 30) / 60_000), `blocks ${blocks}`);
});

test('duration, escalation and its cap; 0 = until unblocked', () => {
  assert.equal(expiry({ durationMs: 0, escalation: 2, maxDurationMs: 0 }, 1000, 3), null);
  assert.equal(expiry({ durationMs: 60_000, escalation: 1, maxDurationMs: 0 }, 1000, 5), 61_000);
  assert.equal(expiry({ durationMs: 60_000, escalation: 2, maxDurationMs: 0 }, 0, 3), 240_000);
  assert.equal(expiry({ durationMs: 60_000, escalation: 2, maxDurationMs: 100_000 }, 0, 3), 100_000);
  const b = new Decider({ ...base, durationMs: 1000, escalation: 3 }).decide({ address: '192.0.2.9', proto: 'tcp', time: 10 }, { blocked: false, offences: 2 });
  assert.deepEqual(b, { action: 'block', level: 1, expiresAt: 9010, offence: 3, dryRun: false });
});

test('dry-run is carried on the decision', () => {
  const b = new Decider({ ...base, dryRun: true }).decide({ address: '192.0.2.1', proto: 'tcp', time: 0 }, fresh);
  assert.ok(b.action === 'block' && b.dryRun);
});

test('gateways and name servers are read from the kernel and resolver formats', () => {
  const route = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n';
  assert.deepEqual(parseProcRouteGateways(route), ['192.0.2.1']);
  const r6 = '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\nfe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n';
  assert.deepEqual(parseIpv6RouteGateways(r6), ['fe80::1']);
  assert.deepEqual(parseResolvConfNameservers('# c\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\nsearch x\nnameserver  2001:db8::53 # note\n'), ['10.255.255.53', 'fe80::1', '2001:db8::53']);
});
