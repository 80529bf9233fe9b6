// The scan lab itself: it builds the LAB.md shape, carries IPv4/IPv6 ICMP and TCP between its hosts,
// stays apart from the root namespace, and leaves nothing behind (after a failing body, and after
// an earlier crashed run). Uses subnets 250 and 251 and the prefix 'ts-lab'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createLab, labLeftovers, labSkipReason, missingTools, tcpConnect, waitFor, withLab } from './lab.js';
import type { Lab } from './lab.js';
import { runArgv } from './exec.js';

const PREFIX = 'ts-lab';
const skip = labSkipReason();

async function rootIp(args: readonly string[]): Promise<string> {
  return (await runArgv(['ip', ...args], { timeoutMs: 5000 })).stdout;
}

/** Resolves once the child has exited (at most `ms`), and says whether it did. */
async function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), ms).unref());
  return Promise.race([once(child, 'exit').then(() => true), timer]);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function ping(lab: Lab<'friend'>, from: 'scan' | 'friend', addr: string, family: 4 | 6): Promise<void> {
  const r = await lab.run(from, ['ping', `-${family}`, '-n', '-c', '1', '-W', '1', addr], { timeoutMs: 4000, allowFail: true });
  assert.equal(r.status, 0, `ping -${family} ${addr} from ${from} failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /1 received/);
}

test('scan lab', { skip: skip ?? false, timeout: 30_000 }, async (t) => {
  await t.test('rejects bad options before touching the system', async () => {
    await assert.rejects(createLab({ prefix: 'x', subnet: 250 }), RangeError);
    await assert.rejects(createLab({ prefix: 'ts-toolongname', subnet: 250 }), RangeError);
    await assert.rejects(createLab({ prefix: 'ts lab', subnet: 250 }), RangeError);
    await assert.rejects(createLab({ prefix: PREFIX, subnet: 0 }), RangeError);
    await assert.rejects(createLab({ prefix: PREFIX, subnet: 255 }), RangeError);
    await assert.rejects(createLab({ prefix: PREFIX, subnet: 250, hosts: ['Bad-Name'] }), RangeError);
    await assert.rejects(createLab({ prefix: PREFIX, subnet: 250, hosts: ['scan'] }), RangeError);
  });

  await t.test('builds the shape; ICMP and TCP flow over IPv4 and IPv6; apart from the root namespace', async (t) => {
    await withLab({ prefix: PREFIX, subnet: 250, hosts: ['friend'] }, async (lab) => {
      const { target, scan, friend } = lab.hosts;
      assert.deepEqual(
        [target, scan, friend].map((h) => [h.ns, h.ipv4, h.ipv6, h.ifname]),
        [
          ['ts-lab-target', '198.18.250.1', '2001:db8:250::1', 'ts-lab-br'],
          ['ts-lab-scan', '198.18.250.2', '2001:db8:250::2', 'ts-lab-e2'],
          ['ts-lab-friend', '198.18.250.3', '2001:db8:250::3', 'ts-lab-e3'],
        ],
      );
      const live = await labLeftovers(PREFIX);
      assert.deepEqual(live.namespaces.sort(), ['ts-lab-friend', 'ts-lab-scan', 'ts-lab-target']);
      assert.deepEqual(live.links, [], 'no lab link may exist in the root namespace');

      // Each host sees lo up and its own addresses, usable (not tentative) at once.
      for (const name of ['target', 'scan', 'friend'] as const) {
        const h = lab.hosts[name];
        const addrs = (await lab.run(name, ['ip', '-o', 'addr', 'show'], { timeoutMs: 3000 })).stdout;
        assert.match(addrs, new RegExp(`${h.ifname}\\s+inet ${h.ipv4.replaceAll('.', '\\.')}/24`));
        assert.match(addrs, new RegExp(`${h.ifname}\\s+inet6 ${h.ipv6}/64`));
        assert.doesNotMatch(addrs, /scope global .*tentative/);
        assert.match(addrs, /lo\s+inet 127\.0\.0\.1\/8/);
      }

      // The root namespace has no address or route into the lab, and the lab no route out of it.
      const rootAddrs = await rootIp(['-o', 'addr', 'show']);
      const rootRoutes = (await rootIp(['-4', 'route', 'show', 'table', 'all'])) + (await rootIp(['-6', 'route', 'show', 'table', 'all']));
      for (const text of [rootAddrs, rootRoutes]) {
        assert.doesNotMatch(text, /198\.18\.250\./);
        assert.doesNotMatch(text, /2001:db8:250:/);
      }
      const out = await lab.run('scan', ['ip', 'route', 'get', '192.0.2.1'], { timeoutMs: 3000, allowFail: true });
      assert.notEqual(out.status, 0, `the scan host must have no route out of the lab: ${out.stdout}`);

      await t.test('run is bounded: a timeout kills the command and what it forked', async () => {
        // `timeout 20 sleep 20` forks: the sleep is a grandchild, and must die with the group.
        await assert.rejects(lab.run('scan', ['timeout', '20', 'sleep', '20'], { timeoutMs: 300 }), { code: 'LAB_COMMAND', message: /timed out after 300 ms/ });
        const r = await lab.run('scan', ['sleep', '5'], { timeoutMs: 200, allowFail: true });
        assert.equal(r.timedOut, true);
        assert.equal(r.signal, 'SIGKILL');
        await waitFor(async () => (await rootIp(['netns', 'pids', scan.ns])).trim() === '', { timeoutMs: 2000, what: 'no process left in scan' });
        const echoed = await lab.run('scan', ['cat'], { timeoutMs: 2000, input: 'round trip' });
        assert.equal(echoed.stdout, 'round trip');
        await assert.rejects(lab.run('scan', ['false'], { timeoutMs: 2000 }), { code: 'LAB_COMMAND', message: /exited with status 1/ });
      });

      await t.test('ping target from scan and friend, IPv4 and IPv6', async (t) => {
        const missing = missingTools(['ping']);
        if (missing.length > 0) {
          t.skip(`needs ${missing.join(', ')} (Debian package iputils-ping)`);
          return;
        }
        for (const from of ['scan', 'friend'] as const) {
          await ping(lab, from, target.ipv4, 4);
          await ping(lab, from, target.ipv6, 6);
        }
        // Through the bridge, host to host.
        await ping(lab, 'scan', friend.ipv4, 4);
      });

      await t.test('TCP from scan to a listener in target, IPv4 and IPv6', async (t) => {
        const missing = missingTools(['nc', 'ss']);
        if (missing.length > 0) {
          t.skip(`needs ${missing.join(', ')} (Debian packages netcat-openbsd, iproute2)`);
          return;
        }
        // One listener per family; each takes a single connection and prints what it receives.
        const l4 = lab.spawn('target', ['nc', '-l', '-n', target.ipv4, '8080'], { timeoutMs: 15_000 });
        const l6 = lab.spawn('target', ['nc', '-l', '-n', target.ipv6, '8080'], { timeoutMs: 15_000 });
        const got4: Buffer[] = [];
        l4.stdout?.on('data', (b: Buffer) => got4.push(b));
        l6.stdout?.resume();
        await waitFor(async () => {
          const ss = (await lab.run('target', ['ss', '-ltnH'], { timeoutMs: 3000 })).stdout;
          return ss.includes('198.18.250.1:8080') && ss.includes('[2001:db8:250::1]:8080');
        }, { timeoutMs: 5000, intervalMs: 20, what: 'nc listening on 8080 in target' });

        const sent = await lab.run('scan', ['nc', '-n', '-N', '-w', '2', target.ipv4, '8080'], { timeoutMs: 5000, input: 'hello from scan\n' });
        assert.equal(sent.status, 0);
        assert.ok(await exited(l4, 3000), 'the IPv4 listener should end after its one connection');
        assert.equal(Buffer.concat(got4).toString('utf8'), 'hello from scan\n');

        assert.equal(await tcpConnect(lab, 'scan', target.ipv6, 8080, 2000), true, 'IPv6 connect to the listener');
        // Nothing listens on 8081: the connection is refused, so false comes quickly.
        const t0 = Date.now();
        assert.equal(await tcpConnect(lab, 'scan', target.ipv4, 8081, 2000), false);
        assert.ok(Date.now() - t0 < 1500, 'a refused port should answer at once');
      });
    });
    const left = await labLeftovers(PREFIX);
    assert.deepEqual(left, { namespaces: [], links: [] });
  });

  await t.test('cleanup kills spawned processes and removes everything even when the body throws', async () => {
    let sleeper: ChildProcess | undefined;
    await assert.rejects(
      withLab({ prefix: PREFIX, subnet: 251, hosts: ['friend'] }, async (lab) => {
        sleeper = lab.spawn('target', ['sleep', '30'], { timeoutMs: 20_000 });
        await waitFor(async () => (await runArgv(['ip', 'netns', 'pids', lab.hosts.target.ns], { timeoutMs: 3000 })).stdout.trim() !== '', {
          timeoutMs: 3000,
          what: 'sleep running in target',
        });
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.ok(sleeper !== undefined);
    assert.ok(await exited(sleeper, 2000), 'the spawned process must be dead after cleanup');
    assert.deepEqual(await labLeftovers(PREFIX), { namespaces: [], links: [] });
  });

  await t.test('cleanup is idempotent and the lab refuses work afterwards', async () => {
    const lab = await createLab({ prefix: PREFIX, subnet: 251 });
    const first = lab.cleanup();
    const second = lab.cleanup();
    await Promise.all([first, second]);
    await lab.cleanup();
    assert.deepEqual(await labLeftovers(PREFIX), { namespaces: [], links: [] });
    await assert.rejects(lab.run('scan', ['true'], { timeoutMs: 1000 }), { code: 'LAB_COMMAND' });
    assert.throws(() => lab.spawn('scan', ['true'], { timeoutMs: 1000 }), { code: 'LAB_COMMAND' });
  });

  await t.test('leftovers of a crashed run with the prefix are removed, and only those', async () => {
    // A "crashed run": namespaces with a process still inside, and a veth pair in the root namespace.
    // Decoys belong to other prefixes ('ts-labx', 'ts-lab-a') and must survive.
    const made = ['ts-lab-scan', 'ts-lab-stale', 'ts-labx-scan', 'ts-lab-a-scan'];
    const decoyLinks = ['ts-labx-v0'];
    let straggler: ChildProcess | undefined;
    try {
      for (const ns of made) await rootIp(['netns', 'add', ns]);
      await rootIp(['link', 'add', 'ts-lab-old0', 'type', 'veth', 'peer', 'name', 'ts-lab-old1']);
      await rootIp(['link', 'add', 'ts-labx-v0', 'type', 'veth', 'peer', 'name', 'ts-labx-v1']);
      straggler = spawn('ip', ['netns', 'exec', 'ts-lab-stale', 'sleep', '30'], { stdio: 'ignore' });
      const pid = straggler.pid;
      assert.ok(pid !== undefined);
      await waitFor(async () => (await rootIp(['netns', 'pids', 'ts-lab-stale'])).trim() !== '', { timeoutMs: 3000, what: 'straggler in ts-lab-stale' });
      assert.deepEqual((await labLeftovers(PREFIX)).namespaces.sort(), ['ts-lab-scan', 'ts-lab-stale']);

      const lab = await createLab({ prefix: PREFIX, subnet: 251 });
      try {
        const during = await labLeftovers(PREFIX);
        assert.deepEqual(during.namespaces.sort(), ['ts-lab-scan', 'ts-lab-target'], 'stale namespace removed, fresh ones built');
        assert.deepEqual(during.links, [], 'the stale root-namespace veth pair is removed');
        assert.ok(await exited(straggler, 2000), 'the process left in the stale namespace is killed');
        assert.equal(pidAlive(pid), false);
        // The fresh scan namespace is a new one: the lab works.
        assert.equal((await lab.run('scan', ['ip', '-o', 'addr', 'show', 'dev', 'ts-lab-e2'], { timeoutMs: 3000 })).stdout.includes('198.18.251.2/24'), true);
      } finally {
        await lab.cleanup();
      }
      const namespaces = (await rootIp(['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]);
      assert.ok(namespaces.includes('ts-labx-scan') && namespaces.includes('ts-lab-a-scan'), 'other prefixes are left alone');
      const links = await rootIp(['-o', 'link', 'show']);
      for (const l of decoyLinks) assert.match(links, new RegExp(`\\b${l}@`), `${l} is left alone`);
      assert.deepEqual(await labLeftovers(PREFIX), { namespaces: [], links: [] });
    } finally {
      if (straggler !== undefined && straggler.exitCode === null && straggler.signalCode === null) straggler.kill('SIGKILL');
      for (const ns of made) await runArgv(['ip', 'netns', 'del', ns], { timeoutMs: 5000, allowFail: true });
      for (const l of ['ts-lab-old0', 'ts-labx-v0']) await runArgv(['ip', 'link', 'del', l], { timeoutMs: 5000, allowFail: true });
    }
  });
});
