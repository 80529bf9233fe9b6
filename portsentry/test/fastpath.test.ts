/**
 * The nftables kernel fast path against a real kernel with real packets, and no portsentry daemon
 * anywhere: every block these tests see was made by the kernel's own rule.
 *
 * Two network namespaces of our own, joined by a veth pair made inside them (nothing is created in
 * the machine's root namespace):
 *   ts-fp-t  ts-fp-vt  198.18.32.1/24  2001:db8:32::1/64   the host with the fast path and a real service
 *   ts-fp-s  ts-fp-vs  198.18.32.2/24  2001:db8:32::2/64   the scanner (hping3, nc)
 * The fast path runs with commandPrefix ['ip','netns','exec','ts-fp-t']. Every probe is bounded
 * (-c, timeout) and goes only to these addresses; the flood uses random sources but one destination.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { ConfigError, parseAddress, parsePrefix, runCommand } from '@trisentry/shared';
import type { IpAddress } from '@trisentry/shared';
import { createFastPath, fastPathSupport, mergePorts } from '../src/adapters/response/fastpath.js';
import type { NftFastPath } from '../src/adapters/response/fastpath.js';
import { createNftablesBackend } from '../src/adapters/response/nftables.js';

const NT = 'ts-fp-t';
const NS = 'ts-fp-s';
const IFT = 'ts-fp-vt';
const IFS = 'ts-fp-vs';
const T4 = '198.18.32.1';
const T6 = '2001:db8:32::1';
const S4 = '198.18.32.2';
const S6 = '2001:db8:32::2';
const PREFIX = ['ip', 'netns', 'exec', NT] as const;
// Watched ports: a few classic PortSentry ones. The real service listens on SERVICE, never watched.
const WATCHED = { tcp: [1, 111, [1080, 1090] as const, 31337], udp: [1, 31337] };
const SERVICE = 8080;

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' }).status === 0;
}

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root: network namespaces and nftables';
  for (const t of ['ip', 'nft', 'hping3', 'nc', 'timeout']) if (!has(t)) return `needs ${t}`;
  if (spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status !== 0) return 'needs `ip netns` (network namespaces)';
  return undefined;
}
const SKIP = skipReason();

interface Ran {
  ok: boolean;
  stdout: string;
  stderr: string;
}

async function sh(argv: readonly string[], allowFail = false): Promise<Ran> {
  const [file, ...args] = argv;
  try {
    const r = await runCommand(file ?? 'false', args, { timeoutMs: 30_000, maxOutput: 16 << 20 });
    return { ok: true, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    if (!allowFail) throw e;
    const x = e as { stdout?: unknown; stderr?: unknown };
    return { ok: false, stdout: typeof x.stdout === 'string' ? x.stdout : '', stderr: typeof x.stderr === 'string' ? x.stderr : String(e) };
  }
}

const inT = (...argv: string[]): string[] => ['ip', 'netns', 'exec', NT, ...argv];
const inS = (...argv: string[]): string[] => ['ip', 'netns', 'exec', NS, ...argv];

async function removeLab(): Promise<void> {
  for (const ns of [NT, NS]) await sh(['ip', 'netns', 'del', ns], true);
  // A veth end would only be in the root namespace if a crashed run left it there.
  for (const l of [IFT, IFS]) await sh(['ip', 'link', 'del', l], true);
}

let service: ChildProcess | undefined;

async function buildLab(): Promise<void> {
  await removeLab();
  await sh(['ip', 'netns', 'add', NT]);
  await sh(['ip', 'netns', 'add', NS]);
  await sh(inT('ip', 'link', 'add', IFT, 'type', 'veth', 'peer', 'name', IFS, 'netns', NS));
  for (const [ins, ifn, a4, a6] of [
    [inT, IFT, `${T4}/24`, `${T6}/64`],
    [inS, IFS, `${S4}/24`, `${S6}/64`],
  ] as const) {
    await sh(ins('ip', 'link', 'set', 'lo', 'up'));
    await sh(ins('ip', 'addr', 'add', a4, 'dev', ifn));
    await sh(ins('ip', '-6', 'addr', 'add', a6, 'dev', ifn, 'nodad'));
    await sh(ins('ip', 'link', 'set', ifn, 'up'));
  }
  // A real service on a port nobody watches: dual-stack, accepts and closes.
  service = spawn('ip', inT(process.execPath, '-e', `require('node:net').createServer((s) => s.end()).listen(${SERVICE}, '::')`).slice(1), { stdio: 'ignore', detached: true });
  assert.ok(await waitFor(() => connects(4), 10_000), 'lab: the service never answered over IPv4');
  assert.ok(await waitFor(() => connects(6), 10_000), 'lab: the service never answered over IPv6');
}

async function stopService(): Promise<void> {
  const s = service;
  service = undefined;
  if (s?.pid !== undefined && s.exitCode === null) {
    try {
      process.kill(-s.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A TCP connection from the scanner to the real service completes within a second. */
async function connects(fam: 4 | 6, port = SERVICE): Promise<boolean> {
  return (await sh(inS('timeout', '3', 'nc', fam === 4 ? '-4' : '-6', '-z', '-w', '1', fam === 4 ? T4 : T6, String(port)), true)).ok;
}

/** One hping3 probe from the scanner; resolves with how many replies came back. */
async function hping(args: readonly string[]): Promise<number> {
  const r = await sh(inS('timeout', '10', 'hping3', ...args, T4), true);
  const m = /(\d+) packets received/.exec(r.stdout + r.stderr);
  assert.ok(m, `hping3 printed no summary: ${r.stdout} ${r.stderr}`);
  return Number(m[1]);
}

async function waitFor(pred: () => Promise<boolean>, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const texts = (list: readonly IpAddress[]): string[] => list.map((a) => a.toString()).sort();

describe('fast path: pure helpers', () => {
  test('mergePorts sorts, joins overlapping and adjacent ranges, and rejects bad ports', () => {
    assert.deepEqual(mergePorts([80, [1, 20], [15, 30], 31, [1000, 999], 443]), [[1, 31], [80, 80], [443, 443], [999, 1000]]);
    assert.deepEqual(mergePorts([]), []);
    assert.throws(() => mergePorts([0]), ConfigError);
    assert.throws(() => mergePorts([[1, 65536]]), ConfigError);
  });

  test('SCAN_TRIGGER 0 and 1 run in the kernel; above 1 the fast path is off with a reason', () => {
    assert.deepEqual(fastPathSupport(0), { enabled: true });
    assert.deepEqual(fastPathSupport(1), { enabled: true });
    const off = fastPathSupport(3);
    assert.equal(off.enabled, false);
    assert.match(off.enabled ? '' : off.reason, /SCAN_TRIGGER=3.*userspace/);
  });

  test('createFastPath rejects bad rates, timeouts and names', () => {
    assert.throws(() => createFastPath({ timeoutS: 60, ratePerMinute: 0 }), ConfigError);
    assert.throws(() => createFastPath({ timeoutS: -1, ratePerMinute: 5 }), ConfigError);
    assert.throws(() => createFastPath({ timeoutS: 1.5, ratePerMinute: 5 }), ConfigError);
    assert.throws(() => createFastPath({ timeoutS: 60, ratePerMinute: 5, name: 'bad name' }), ConfigError);
  });
});

describe('fast path in the kernel (ts-fp-* namespaces)', { skip: SKIP ?? false }, () => {
  let fp: NftFastPath;

  before(buildLab);
  after(async () => {
    await fp?.close();
    await stopService();
    await removeLab();
  });

  // Each test starts from an empty ruleset in the target and its own fast path.
  beforeEach(async () => {
    await fp?.close();
    await sh(inT('nft', 'flush', 'ruleset'));
    fp = createFastPath({ commandPrefix: PREFIX, timeoutS: 3600, ratePerMinute: 5 });
    await fp.init({ watched: WATCHED, allowed: [] });
  });

  test('one SYN to a watched port blocks its source in the kernel; the real service is then unreachable', async () => {
    // Traffic that is not a probe to a watched port blocks nothing: a SYN to the service, an ACK to a watched port.
    assert.ok((await hping(['-S', '-c', '1', '-p', String(SERVICE)])) >= 1, 'the service answers a SYN');
    assert.ok((await hping(['-A', '-c', '1', '-p', '111'])) >= 1, 'an ACK to a watched port is answered (RST), not blocked');
    assert.deepEqual(await fp.list(), []);
    assert.ok(await connects(4));

    // The trigger probe itself is dropped: no RST tells the scanner the port is closed.
    assert.equal(await hping(['-S', '-c', '1', '-p', '111']), 0);
    assert.deepEqual(texts(await fp.list()), [S4]);
    assert.equal(await connects(4), false, 'a connection to the real (unwatched) service must fail once blocked');
    assert.equal((await fp.counters()).blocked, 1);

    // The element carries the configured timeout (3600 s).
    const set = await sh(inT('nft', '-j', 'list', 'set', 'inet', 'portsentry', 'fast4'));
    assert.match(set.stdout, /"timeout": 3600/);

    // Lifting the block works at once.
    await fp.unblock([parseAddress(S4)]);
    assert.deepEqual(await fp.list(), []);
    assert.ok(await connects(4), 'unblocked: the service answers again');
  });

  test('FIN, NULL and XMAS probes (no ACK, no RST) trigger; UDP to a watched port triggers', async () => {
    for (const flags of [['-F'], [], ['-F', '-P', '-U']]) {
      await fp.flush();
      assert.equal(await hping([...flags, '-c', '1', '-p', '1080']), 0, `flags ${flags.join('') || 'none'}`);
      assert.deepEqual(texts(await fp.list()), [S4], `flags ${flags.join('') || 'none'}`);
    }
    await fp.flush();
    await hping(['--udp', '-c', '1', '-p', '31337']);
    assert.deepEqual(texts(await fp.list()), [S4]);
  });

  test('a source in the allow set is never blocked (nested prefixes are accepted)', async () => {
    await fp.setAllowed([parsePrefix(`${S4}/32`), parsePrefix('198.18.32.0/24'), parsePrefix('::ffff:198.18.32.0/120'), parsePrefix(`${S6}/128`)]);
    assert.ok((await hping(['-S', '-c', '1', '-p', '111'])) >= 1, 'an allowed probe gets its normal RST');
    assert.equal(await connects(6, 111), false); // nothing listens on 111: refused, but not blocked
    assert.deepEqual(await fp.list(), []);
    assert.ok(await connects(4));
    assert.ok(await connects(6));

    // Taken off the allow list, the same source is blocked by its next probe.
    await fp.setAllowed([]);
    assert.equal(await hping(['-S', '-c', '1', '-p', '111']), 0);
    assert.deepEqual(texts(await fp.list()), [S4]);
  });

  test('the kernel rate limit holds under a spoofed flood: at most burst (+1 refill) new blocks', async () => {
    // 1,000 SYNs from random sources at about 5,000/s; the budget is 5/minute with a burst of 5.
    await sh(inS('timeout', '20', 'hping3', '--rand-source', '-S', '-p', '111', '-i', 'u200', '-c', '1000', T4), true);
    const blocked = await fp.list();
    assert.ok(blocked.length >= 1, 'the flood made no block at all: the fast path did not run');
    assert.ok(blocked.length <= 6, `the flood made ${blocked.length} kernel blocks; the limit allows 5 (+1 if a token refilled)`);
    // Over the budget, a probe falls through: the scanner's own SYN is answered, not blocked.
    assert.ok((await hping(['-S', '-c', '1', '-p', '111'])) >= 1, 'over the limit, the probe must pass unblocked');
    assert.ok(!texts(await fp.list()).includes(S4));
  });

  test('setWatched takes effect: a removed port no longer triggers, an added one does', async () => {
    await fp.setWatched({ tcp: [1, 31337], udp: [] });
    assert.ok((await hping(['-S', '-c', '1', '-p', '111'])) >= 1, 'port 111 is no longer watched');
    await hping(['--udp', '-c', '1', '-p', '31337']);
    assert.deepEqual(await fp.list(), [], 'UDP 31337 is no longer watched');
    await fp.setWatched({ tcp: [[100, 200]], udp: [] });
    assert.equal(await hping(['-S', '-c', '1', '-p', '150']), 0);
    assert.deepEqual(texts(await fp.list()), [S4]);
    const set = await sh(inT('nft', 'list', 'set', 'inet', 'portsentry', 'watched_tcp'));
    assert.match(set.stdout, /elements = \{ 100-200 \}/);
  });

  test('IPv6: a TCP connect attempt to a watched port blocks the source in fast6', async () => {
    assert.equal(await connects(6, 1080), false);
    assert.deepEqual(texts(await fp.list()), [S6]);
    assert.equal(await connects(6), false, 'the IPv6 service is unreachable once blocked');
    assert.ok(await connects(4), 'IPv4 from the same host is a different source and still passes');
    await fp.unblock([parseAddress(S6)]);
    assert.ok(await connects(6));
  });

  test('timeout 0 makes a permanent element; a short timeout expires on its own', async () => {
    await fp.close();
    await fp.destroy();
    fp = createFastPath({ commandPrefix: PREFIX, timeoutS: 0, ratePerMinute: 5 });
    await fp.init({ watched: WATCHED });
    await hping(['-S', '-c', '1', '-p', '1']);
    const set = await sh(inT('nft', '-j', 'list', 'set', 'inet', 'portsentry', 'fast4'));
    assert.match(set.stdout, /"elem": \[\s*"198\.18\.32\.2"\s*\]/);

    await fp.close();
    fp = createFastPath({ commandPrefix: PREFIX, timeoutS: 2, ratePerMinute: 5 });
    await fp.init();
    await fp.flush();
    await hping(['-S', '-c', '1', '-p', '1']);
    assert.deepEqual(texts(await fp.list()), [S4]);
    assert.ok(await waitFor(async () => (await fp.list()).length === 0, 5_000), 'a 2 s block is gone after 5 s');
    assert.ok(await connects(4));
  });

  test('lives beside the nftables backend: either re-inits without breaking the other; destroy leaves nothing', async () => {
    const backend = createNftablesBackend({ commandPrefix: PREFIX, warmChannel: false });
    await backend.init();
    await fp.init();
    await backend.init();
    // The backend's sets keep no size: the fast path never makes them dynamic.
    const b4 = await sh(inT('nft', '-j', 'list', 'set', 'inet', 'portsentry', 'blocked4'));
    assert.doesNotMatch(b4.stdout, /"size"/);
    assert.equal(await hping(['-S', '-c', '1', '-p', '111']), 0, 'the fast path still works after the backend re-init');
    assert.deepEqual(texts(await fp.list()), [S4]);
    assert.deepEqual(await backend.list(), []);

    // destroy takes the fast path's objects and leaves the backend's.
    await fp.destroy();
    const left = await sh(inT('nft', 'list', 'table', 'inet', 'portsentry'));
    assert.doesNotMatch(left.stdout, /fast4|fastpath|watched_|allow4|fastpath_rate/);
    assert.match(left.stdout, /blocked4/);
    assert.ok(await connects(4), 'the kernel block went with the fast path');
    await backend.destroy();
    await backend.close();

    // Alone, destroy removes the table too; twice is not an error.
    await fp.init({ watched: WATCHED });
    await fp.destroy();
    await fp.destroy();
    assert.equal((await sh(inT('nft', 'list', 'ruleset'))).stdout.trim(), '');
  });
});
