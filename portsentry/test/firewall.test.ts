/**
 * The native firewall backends against real kernels, with real traffic.
 *
 * Two network namespaces of our own, joined by a veth pair made inside them (nothing is created in
 * the machine's root namespace):
 *   ts-fw-1  ts-fw-v1  198.18.31.1/24  2001:db8:31::1/64   the host whose firewall is changed
 *   ts-fw-2  ts-fw-v2  198.18.31.2/24  2001:db8:31::2/64   the "scanner" that pings it
 * Every backend runs with commandPrefix ['ip','netns','exec','ts-fw-1'], so its rules live and die
 * in ts-fw-1. Pings are bounded (-c, -W) and go only to these addresses.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseAddress, runCommand, TriSentryError } from '@trisentry/shared';
import type { IpAddress } from '@trisentry/shared';
import {
  BACKEND_NAMES,
  DryRunBackend,
  FirewallError,
  createBackend,
  createNftablesBackend,
  detectBackend,
  parseBackendName,
  parseNftJsonElements,
} from '../src/adapters/response/firewall.js';
import type { BackendName, FirewallBackend, NftablesBackend } from '../src/adapters/response/firewall.js';

const NS1 = 'ts-fw-1';
const NS2 = 'ts-fw-2';
const IF1 = 'ts-fw-v1';
const IF2 = 'ts-fw-v2';
const T4 = '198.18.31.1';
const T6 = '2001:db8:31::1';
const S4 = parseAddress('198.18.31.2');
const S6 = parseAddress('2001:db8:31::2');
// An extra source address of ts-fw-2 inside the 100,000-address block of the scale test.
const SCALE_MEMBER = '198.18.64.5';
const PREFIX = ['ip', 'netns', 'exec', NS1] as const;

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' }).status === 0;
}

function labSkip(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root: network namespaces and firewall changes';
  for (const t of ['ip', 'ping']) if (!has(t)) return `needs ${t}`;
  const probe = spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  if (probe.status !== 0) return 'needs `ip netns` (network namespaces)';
  return undefined;
}

const TOOLS: Record<BackendName, readonly string[]> = {
  nftables: ['nft'],
  ipset: ['ipset', 'iptables', 'ip6tables'],
  iptables: ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore'],
  route: ['ip'],
  'dry-run': [],
};

function skipFor(name: BackendName): string | false {
  const lab = labSkip();
  if (lab) return lab;
  const missing = TOOLS[name].filter((t) => !has(t));
  return missing.length ? `needs ${missing.join(', ')}` : false;
}

async function sh(argv: readonly string[], allowFail = false): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const [file, ...args] = argv;
  try {
    const r = await runCommand(file ?? 'false', args, { timeoutMs: 20_000, maxOutput: 64 << 20 });
    return { ok: true, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    if (!allowFail) throw e;
    return { ok: false, stdout: '', stderr: e instanceof Error ? e.message : String(e) };
  }
}

const in1 = (...argv: string[]): string[] => ['ip', 'netns', 'exec', NS1, ...argv];
const in2 = (...argv: string[]): string[] => ['ip', 'netns', 'exec', NS2, ...argv];

async function removeLab(): Promise<void> {
  for (const ns of [NS1, NS2]) await sh(['ip', 'netns', 'del', ns], true);
  // A veth end would only be in the root namespace if a crashed run left it there.
  for (const l of [IF1, IF2]) await sh(['ip', 'link', 'del', l], true);
}

async function buildLab(): Promise<void> {
  await removeLab();
  await sh(['ip', 'netns', 'add', NS1]);
  await sh(['ip', 'netns', 'add', NS2]);
  // Made inside NS1 with the peer sent straight to NS2: the root namespace never holds either end.
  await sh(in1('ip', 'link', 'add', IF1, 'type', 'veth', 'peer', 'name', IF2, 'netns', NS2));
  for (const [ins, ifn, a4, a6] of [
    [in1, IF1, `${T4}/24`, `${T6}/64`],
    [in2, IF2, `${S4.toString()}/24`, `${S6.toString()}/64`],
  ] as const) {
    await sh(ins('ip', 'link', 'set', 'lo', 'up'));
    await sh(ins('ip', 'addr', 'add', a4, 'dev', ifn));
    await sh(ins('ip', '-6', 'addr', 'add', a6, 'dev', ifn, 'nodad'));
    await sh(ins('ip', 'link', 'set', ifn, 'up'));
  }
  await sh(in2('ip', 'addr', 'add', `${SCALE_MEMBER}/32`, 'dev', IF2));
  await sh(in1('ip', 'route', 'add', `${SCALE_MEMBER}/32`, 'dev', IF1));
  assert.ok(await waitFor(() => ping(4), 10_000), 'lab: IPv4 ping between the namespaces never worked');
  assert.ok(await waitFor(() => ping(6), 10_000), 'lab: IPv6 ping between the namespaces never worked');
}

async function ping(fam: 4 | 6, from?: string): Promise<boolean> {
  const argv = fam === 4 ? ['ping', '-4', '-n', '-c1', '-W1', ...(from ? ['-I', from] : []), T4] : ['ping', '-6', '-n', '-c1', '-W1', T6];
  return (await sh(in2(...argv), true)).ok;
}

/** Traffic works: a ping gets through within a few tries (the first may wait for ARP/ND). */
async function reachable(fam: 4 | 6): Promise<boolean> {
  for (let i = 0; i < 3; i++) if (await ping(fam)) return true;
  return false;
}

async function waitFor(pred: () => Promise<boolean>, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function texts(list: readonly IpAddress[]): string[] {
  return list.map((a) => a.toString()).sort();
}

/** What the backend left in NS1, as text; empty when it removed everything it made. */
async function leftovers(name: BackendName): Promise<string> {
  switch (name) {
    case 'nftables':
      return (await sh(in1('nft', 'list', 'ruleset'))).stdout.trim();
    case 'ipset': {
      const sets = (await sh(in1('ipset', 'list', '-n'))).stdout.trim();
      const r4 = (await sh(in1('iptables', '-S', 'INPUT'))).stdout.split('\n').filter((l) => l.includes('match-set'));
      const r6 = (await sh(in1('ip6tables', '-S', 'INPUT'))).stdout.split('\n').filter((l) => l.includes('match-set'));
      return [sets, ...r4, ...r6].filter(Boolean).join('\n');
    }
    case 'iptables': {
      const r4 = (await sh(in1('iptables', '-S'))).stdout.split('\n').filter((l) => l && !l.startsWith('-P '));
      const r6 = (await sh(in1('ip6tables', '-S'))).stdout.split('\n').filter((l) => l && !l.startsWith('-P '));
      return [...r4, ...r6].join('\n');
    }
    case 'route': {
      const r4 = (await sh(in1('ip', '-4', 'route', 'show', 'type', 'blackhole'))).stdout.trim();
      const r6 = (await sh(in1('ip', '-6', 'route', 'show', 'type', 'blackhole'))).stdout.trim();
      return [r4, r6].filter(Boolean).join('\n');
    }
    case 'dry-run':
      return '';
    default: {
      const never: never = name;
      return never;
    }
  }
}

const anyRealBackend = (['nftables', 'ipset', 'iptables', 'route'] as const).some((n) => skipFor(n) === false);
if (anyRealBackend) {
  before(buildLab);
  after(removeLab);
}

const VARIANTS: ReadonlyArray<{ label: string; name: BackendName; make: () => FirewallBackend }> = [
  { label: 'nftables', name: 'nftables', make: () => createBackend('nftables', { commandPrefix: PREFIX }) },
  // Debian 12's 6.1 kernel keeps an element's old timeout on re-add: this is its path.
  { label: 'nftables, delete+add re-block (kernels before 6.10)', name: 'nftables', make: () => createNftablesBackend({ commandPrefix: PREFIX, reblock: 'delete-add' }) },
  { label: 'ipset', name: 'ipset', make: () => createBackend('ipset', { commandPrefix: PREFIX }) },
  { label: 'iptables', name: 'iptables', make: () => createBackend('iptables', { commandPrefix: PREFIX }) },
  { label: 'route', name: 'route', make: () => createBackend('route', { commandPrefix: PREFIX }) },
];

for (const { label, name, make } of VARIANTS) {
  const skip = skipFor(name);
  describe(`${label} backend in a namespace`, { skip }, () => {
    let fw: FirewallBackend;
    before(async () => {
      fw = make();
      await fw.destroy(); // a crashed earlier run may have left its table behind
      assert.equal(await leftovers(name), '', 'namespace not clean before the test');
    });
    after(async () => {
      await fw.destroy().catch(() => undefined);
      await fw.close();
    });

    test('init; traffic flows before a block, stops after it, flows again after unblock', async () => {
      await fw.init();
      assert.ok(await reachable(4), 'IPv4 ping fails before any block');
      assert.ok(await reachable(6), 'IPv6 ping fails before any block');
      await fw.block([
        { address: S4, expiresAt: null },
        { address: S6, expiresAt: null },
      ]);
      assert.deepEqual(texts(await fw.list()), [S6.toString(), S4.toString()].sort());
      assert.equal(await ping(4), false, 'IPv4 ping still works after block');
      assert.equal(await ping(6), false, 'IPv6 ping still works after block');
      await fw.unblock([S4, S6]);
      assert.deepEqual(await fw.list(), []);
      assert.ok(await reachable(4), 'IPv4 ping fails after unblock');
      assert.ok(await reachable(6), 'IPv6 ping fails after unblock');
    });

    test('blocking twice and unblocking what is not blocked are not errors; an IPv4-mapped address blocks its IPv4 address', async () => {
      const mapped = parseAddress(`::ffff:${S4.toString()}`);
      await fw.block([{ address: S4, expiresAt: null }]);
      await fw.block([
        { address: mapped, expiresAt: null },
        { address: S4, expiresAt: Date.now() + 3_600_000 },
      ]);
      assert.deepEqual(texts(await fw.list()), [S4.toString()]);
      await fw.unblock([mapped]);
      await fw.unblock([mapped, S6]);
      assert.deepEqual(await fw.list(), []);
    });

    test('init twice keeps the blocks', async () => {
      await fw.block([{ address: S4, expiresAt: null }]);
      await fw.init();
      await fw.init();
      assert.deepEqual(texts(await fw.list()), [S4.toString()]);
      assert.equal(await ping(4), false, 'the block was lost by a second init');
      await fw.flush();
      assert.deepEqual(await fw.list(), []);
      assert.ok(await reachable(4), 'flush did not lift the block');
    });

    test('reconcile {A,B} -> {B,C}: B stays blocked throughout (continuous ping gets no reply)', async (t) => {
      const A = parseAddress('198.18.31.200');
      const C = parseAddress('198.18.31.201');
      const B = S4;
      const now = Date.now();
      await fw.reconcile(
        [
          { address: A, expiresAt: null },
          { address: B, expiresAt: null },
        ],
        now,
      );
      assert.deepEqual(texts(await fw.list()), texts([A, B]));
      const nft = name === 'nftables' ? (fw as NftablesBackend) : undefined;
      const batchesBefore = nft ? nft.stats.channelBatches + nft.stats.forkBatches : 0;
      // 150 echo requests over ~1.5 s from B while reconcile flips the set back and forth: any
      // moment without B's block would let a reply through.
      let done = false;
      const prober = sh(in2('ping', '-4', '-n', '-q', '-i', '0.01', '-c', '150', '-W', '1', T4), true).finally(() => {
        done = true;
      });
      let passes = 0;
      let even = true;
      while (!done || !even) {
        await fw.reconcile(
          [
            { address: B, expiresAt: null },
            { address: even ? C : A, expiresAt: null },
          ],
          Date.now(),
        );
        passes++;
        even = !even;
      }
      const probe = await prober;
      t.diagnostic(`${passes} reconciles while B was probed`);
      // The loop ends after a pass to {B, A}; one more to the wanted {B, C}.
      await fw.reconcile(
        [
          { address: B, expiresAt: Date.now() + 60_000 },
          { address: C, expiresAt: null },
        ],
        Date.now(),
      );
      assert.equal(probe.ok, false, 'some ping got a reply while B should have been blocked');
      assert.match(probe.stdout + probe.stderr, /\b0 received|exited with status 1/);
      assert.deepEqual(texts(await fw.list()), texts([B, C]));
      if (nft) assert.equal(nft.stats.channelBatches + nft.stats.forkBatches - batchesBefore, passes + 1, 'each reconcile must be exactly one nft transaction');
      await fw.reconcile([], Date.now());
      assert.deepEqual(await fw.list(), []);
    });

    if (name === 'nftables' || name === 'ipset') {
      test('an element with a 2 s expiry disappears by itself; blocking again updates the expiry', async () => {
        const t0 = Date.now();
        // S4: first for an hour, then re-blocked for 2 s: the shorter expiry must win.
        await fw.block([{ address: S4, expiresAt: t0 + 3_600_000 }]);
        // S6: first for 2 s, then re-blocked with no expiry: it must outlive S4.
        await fw.block([
          { address: S4, expiresAt: t0 + 2000 },
          { address: S6, expiresAt: t0 + 2000 },
        ]);
        await fw.block([{ address: S6, expiresAt: null }]);
        assert.deepEqual(texts(await fw.list()), texts([S4, S6]));
        assert.equal(await ping(4), false, 'the expiring block does not block');
        const gone = await waitFor(async () => !texts(await fw.list()).includes(S4.toString()), 8000, 100);
        const took = Date.now() - t0;
        assert.ok(gone, 'the element did not expire');
        assert.ok(took >= 1500, `the element vanished too early (${took} ms)`);
        assert.ok(await reachable(4), 'traffic does not flow after the expiry');
        await new Promise((r) => setTimeout(r, 1200));
        assert.deepEqual(texts(await fw.list()), [S6.toString()], 're-blocking without expiry did not make the block permanent');
        assert.equal(await ping(6), false);
        await fw.unblock([S6]);
      });
    }

    test('destroy leaves nothing behind, and is idempotent', async () => {
      await fw.block([{ address: S4, expiresAt: null }]);
      await fw.destroy();
      assert.equal(await leftovers(name), '');
      await fw.destroy();
      assert.ok(await reachable(4));
      await fw.init(); // back for the after hook and later tests
    });
  });
}

describe('nftables specifics', { skip: skipFor('nftables') }, () => {
  test('a failing batch is a PS_FIREWALL error quoting nft, and the warm channel keeps working', async () => {
    const fw = createNftablesBackend({ commandPrefix: PREFIX, name: 'tsfwerr' });
    try {
      await fw.destroy();
      await assert.rejects(fw.block([{ address: S4, expiresAt: null }]), (e: unknown) => {
        assert.ok(e instanceof FirewallError);
        assert.equal(e.code, 'PS_FIREWALL');
        assert.equal(e.exitCode, 71);
        assert.match(e.message, /No such file or directory/, 'nft stderr missing from the message');
        return true;
      });
      await fw.init();
      await fw.block([{ address: S4, expiresAt: null }]);
      assert.deepEqual(texts(await fw.list()), [S4.toString()]);
      assert.equal(fw.stats.channelFailures, 0, 'a rejected batch must not be taken for a broken channel');
      assert.ok(fw.stats.channelBatches >= 2);
    } finally {
      await fw.destroy();
      await fw.close();
    }
  });

  test('when the nft -i process dies, the batch is replayed with nft -f and a new channel starts', async () => {
    const fw = createNftablesBackend({ commandPrefix: PREFIX, name: 'tsfwdie' });
    try {
      await fw.init();
      await fw.block([{ address: parseAddress('198.18.30.1'), expiresAt: null }]);
      const pid = fw.channelPid;
      assert.ok(pid !== undefined, 'no warm channel after a block');
      process.kill(pid, 'SIGKILL'); // the nft process this backend started
      assert.ok(await waitFor(async () => fw.channelPid === undefined, 2000, 20), 'nft -i did not die');
      const forks = fw.stats.forkBatches;
      await fw.block([{ address: parseAddress('198.18.30.2'), expiresAt: null }]);
      assert.equal(fw.stats.channelFailures, 1);
      assert.equal(fw.stats.forkBatches, forks + 1, 'the batch was not replayed with nft -f');
      await fw.block([{ address: parseAddress('198.18.30.3'), expiresAt: null }]);
      assert.ok(fw.channelPid !== undefined && fw.channelPid !== pid, 'no new channel after the failure');
      assert.deepEqual(texts(await fw.list()), ['198.18.30.1', '198.18.30.2', '198.18.30.3']);
    } finally {
      await fw.destroy();
      await fw.close();
    }
  });

  test('per-block latency: warm nft -i channel vs one nft -f fork per block (diagnostic)', async (t) => {
    const N = 200;
    const prefixes: Array<[string, readonly string[]]> = [
      ['ip netns exec', PREFIX],
      ...(has('nsenter') ? [['nsenter --net', ['nsenter', `--net=/run/netns/${NS1}`]] as [string, readonly string[]]] : []),
    ];
    for (const [label, commandPrefix] of prefixes) {
      for (const warm of [true, false]) {
        const fw = createNftablesBackend({ commandPrefix, name: 'tsfwlat', warmChannel: warm });
        try {
          await fw.init();
          if (warm) t.diagnostic(`kernel replaces an element's timeout on a plain add: ${fw.refreshesTimeoutOnAdd}`);
          await fw.block([{ address: parseAddress('198.18.30.1'), expiresAt: null }]); // starts the channel
          const forks = fw.stats.forkBatches;
          const t0 = performance.now();
          for (let i = 0; i < N; i++) await fw.block([{ address: parseAddress(`198.18.30.${(i % 250) + 2}`), expiresAt: Date.now() + 600_000 }]);
          const ms = (performance.now() - t0) / N;
          t.diagnostic(`nftables block of 1 address, ${warm ? 'warm nft -i channel' : 'nft -f - per block'}, prefix ${label}: ${ms.toFixed(2)} ms/block (${N} blocks)`);
          if (warm) assert.equal(fw.stats.forkBatches, forks, 'the warm path forked nft');
          else assert.equal(fw.stats.channelBatches, 0, 'the fork path used the channel');
        } finally {
          await fw.destroy();
          await fw.close();
        }
      }
    }
  });

  test('scale: 100,000 blocked addresses in batches; unblocked traffic still flows, a member is blocked', async (t) => {
    const fw = createNftablesBackend({ commandPrefix: PREFIX, name: 'tsfwscale', timeoutMs: 60_000 });
    try {
      await fw.init();
      // 198.18.64.0 + i for i < 100,000 stays inside 198.18.0.0/15 and outside the lab's 198.18.31.0/24.
      const base = (198 << 24) | (18 << 16) | (64 << 8);
      const batch = 10_000;
      const t0 = performance.now();
      for (let start = 0; start < 100_000; start += batch) {
        const entries = [];
        for (let i = start; i < start + batch; i++) {
          const v = (base + i) >>> 0;
          entries.push({ address: parseAddress(`${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`), expiresAt: i % 2 ? Date.now() + 3_600_000 : null });
        }
        await fw.block(entries);
      }
      const total = performance.now() - t0;
      t.diagnostic(`nftables: 100,000 addresses in 10 batches of 10,000: ${total.toFixed(0)} ms (${((total / 100_000) * 1000).toFixed(1)} us/address)`);
      const t1 = performance.now();
      const listed = await fw.list();
      t.diagnostic(`nftables: list() of 100,000 elements: ${(performance.now() - t1).toFixed(0)} ms`);
      assert.equal(listed.length, 100_000);
      const t2 = performance.now();
      await fw.block([{ address: parseAddress('198.18.30.77'), expiresAt: null }]);
      t.diagnostic(`nftables: one more block with 100,000 in the set: ${(performance.now() - t2).toFixed(2)} ms`);
      assert.ok(await reachable(4), 'a source outside the set is blocked too');
      assert.equal(await ping(4, SCALE_MEMBER), false, `${SCALE_MEMBER} (in the set) is not blocked`);
      const t3 = performance.now();
      await fw.flush();
      t.diagnostic(`nftables: flush of 100,001 elements: ${(performance.now() - t3).toFixed(0)} ms`);
      assert.ok(await waitFor(() => ping(4, SCALE_MEMBER), 3000), 'flush did not lift the scale block');
    } finally {
      await fw.destroy();
      await fw.close();
    }
  });
});

test('detectBackend picks nftables where nft works', { skip: skipFor('nftables') }, async () => {
  assert.equal(await detectBackend({ commandPrefix: PREFIX }), 'nftables');
});

test('dry-run records what it would do and touches nothing', async () => {
  const fw = createBackend('dry-run', { commandPrefix: ['/nonexistent/never-run'] });
  assert.ok(fw instanceof DryRunBackend);
  const A = parseAddress('198.18.31.200');
  const now = Date.now();
  await fw.init();
  await fw.block([
    { address: S4, expiresAt: null },
    { address: A, expiresAt: now + 60_000 },
    { address: parseAddress('198.18.31.9'), expiresAt: now - 1 }, // already over: not blocked
  ]);
  assert.deepEqual(texts(await fw.list()), texts([A, S4]));
  await fw.reconcile([{ address: S6, expiresAt: null }, { address: S4, expiresAt: null }], now);
  assert.deepEqual(texts(await fw.list()), texts([S4, S6]));
  await fw.unblock([S4]);
  await fw.flush();
  await fw.destroy();
  await fw.close();
  assert.deepEqual(fw.log, [
    'init portsentry',
    `block ${S4.toString()} forever`,
    `block ${A.toString()} until ${new Date(now + 60_000).toISOString()}`,
    `reconcile add [${S6.toString()}] delete [${A.toString()}]`,
    `unblock ${S4.toString()}`,
    'flush',
    'destroy portsentry',
    'close',
  ]);
});

test('backend names: registry, parse, bad names are config errors', () => {
  assert.deepEqual([...BACKEND_NAMES], ['nftables', 'ipset', 'iptables', 'route', 'dry-run']);
  assert.equal(parseBackendName('ipset'), 'ipset');
  assert.throws(() => parseBackendName('pf'), (e: unknown) => e instanceof TriSentryError && e.code === 'CFG_UNKNOWN_NAME' && /nftables, ipset/.test(e.message));
  for (const bad of ['', 'a b', 'x;flush ruleset', '1abc', 'a'.repeat(28)]) {
    assert.throws(() => createBackend('nftables', { name: bad }), (e: unknown) => e instanceof TriSentryError && e.code === 'CFG_BAD_VALUE', bad);
  }
});

test('a missing tool is PS_FIREWALL_UNAVAILABLE (exit 69)', async () => {
  const fw = createBackend('ipset', { commandPrefix: ['/nonexistent/portsentry-no-such-tool'] });
  await assert.rejects(fw.list(), (e: unknown) => e instanceof FirewallError && e.code === 'PS_FIREWALL_UNAVAILABLE' && e.exitCode === 69);
});

test('nft JSON listing: bare and timed elements, other sets ignored', () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { set: { family: 'inet', name: 'blocked4', table: 'portsentry', type: 'ipv4_addr', elem: ['198.18.31.2', { elem: { val: '198.18.31.3', timeout: 5, expires: 4 } }] } },
      { set: { family: 'inet', name: 'blocked6', table: 'portsentry', type: 'ipv6_addr', elem: ['2001:db8:31::2'] } },
      { set: { family: 'inet', name: 'other', table: 'portsentry', type: 'ipv4_addr', elem: ['198.18.31.9'] } },
      { chain: { family: 'inet', name: 'prerouting' } },
    ],
  });
  assert.deepEqual(texts(parseNftJsonElements(json, ['blocked4', 'blocked6'])), ['198.18.31.2', '198.18.31.3', '2001:db8:31::2']);
});
