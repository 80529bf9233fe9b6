// End to end: portsentry blocks the scanner with the real firewall inside the target namespace.
// After an nmap scan the scanner can no longer reach a real service (TCP and UDP), the ignored friend
// can; the history and blocked files have 1.2's lines; `portsentry list` shows the block through the
// control socket; a restart keeps it (reconciled, not re-added); `unblock` restores access; a block
// with a duration expires by itself; a spoofed flood never blocks more than BLOCK_RATE allows.
// Lab: prefix 'ts-pb', subnet 13 (198.18.13.0/24, 2001:db8:13::/64).
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labSkipReason, missingTools, tcpConnect, waitFor, withLab } from '../lab/lab.js';
import type { Lab } from '../lab/lab.js';
import { BUILT, CLI, STEP_MS, startDaemon, writeConf, type Daemon } from './portsentry-daemon.js';

const PREFIX = 'ts-pb';
const SUBNET = 13;
const TOOLS = ['nmap', 'hping3', 'nc', 'nft'];
const skip = labSkipReason() ?? (missingTools(TOOLS).length > 0 ? `needs ${missingTools(TOOLS).join(', ')}` : undefined);

type L = Lab<'friend'>;
const SERVICE = 41600; // a real TCP service on the target
const USERVICE = 41601; // a real UDP echo-ish service on the target
const WATCHED = '41611,41612,41613';

async function nftElements(lab: L): Promise<string> {
  const r = await lab.run('target', ['nft', 'list', 'table', 'inet', 'portsentry'], { timeoutMs: 3_000, allowFail: true });
  return r.stdout;
}

/** Addresses blocked now: the backend's set and the kernel fast path's, together. */
async function blockedNow(lab: L): Promise<Set<string>> {
  const out = new Set<string>();
  for (const set of ['blocked4', 'fast4']) {
    const r = await lab.run('target', ['nft', 'list', 'set', 'inet', 'portsentry', set], { timeoutMs: 3_000, allowFail: true });
    const m = /elements = \{([^}]*)\}/.exec(r.stdout);
    for (const a of m?.[1]?.match(/\d+\.\d+\.\d+\.\d+/g) ?? []) out.add(a);
  }
  return out;
}

async function admin(lab: L, conf: string, args: readonly string[]): Promise<{ code: number | null; out: string }> {
  const r = await lab.run('target', [process.execPath, CLI, '-c', conf, ...args], { timeoutMs: 15_000, allowFail: true });
  return { code: r.status, out: r.stdout + r.stderr };
}

async function udpAnswered(lab: L, from: 'scan' | 'friend', addr: string): Promise<boolean> {
  const r = await lab.run(from, ['sh', '-c', 'printf "ping\\n" | nc -u -n -w 1 "$1" "$2"', 'sh', addr, String(USERVICE)], { timeoutMs: 4_000, allowFail: true });
  return r.stdout.includes('pong');
}

test('portsentry blocks scanners with nftables in the scan lab', { skip: skip ?? false, timeout: 240_000 }, async (t: TestContext) => {
  assert.ok(existsSync(BUILT), `portsentry is not built (${BUILT} missing)`);
  await withLab({ prefix: PREFIX, subnet: SUBNET, hosts: ['friend'] }, async (lab) => {
    const { target, scan, friend } = lab.hosts;
    const dir = mkdtempSync(join(tmpdir(), 'ts-pb-'));
    const ignore = join(dir, 'portsentry.ignore');
    writeFileSync(ignore, `${friend.ipv4}\n${friend.ipv6}\n`);
    const history = join(dir, 'portsentry.history');
    const blocked = join(dir, 'portsentry.blocked');
    const hostsDeny = join(dir, 'hosts.deny');
    const conf = (extra: readonly (readonly [string, string])[] = []): string =>
      writeConf(dir, 'portsentry.conf', [
        ['TCP_PORTS', WATCHED],
        ['UDP_PORTS', '41621'],
        ['IGNORE_FILE', ignore],
        ['HISTORY_FILE', history],
        ['BLOCKED_FILE', blocked],
        ['HOSTS_DENY_FILE', hostsDeny],
        ['KILL_HOSTS_DENY', 'ALL: $TARGET$ : DENY'],
        ['BLOCK_TCP', '1'],
        ['BLOCK_UDP', '1'],
        ['BLOCK_BACKEND', 'nftables'],
        ['SCAN_TRIGGER', '0'],
        ...extra,
      ]);
    // Real services on the target: a TCP listener and a UDP responder.
    const svc = lab.spawn('target', ['nc', '-l', '-k', '-n', String(SERVICE)], { timeoutMs: 200_000 });
    const usvc = lab.spawn('target', ['sh', '-c', 'while :; do printf "pong\\n" | nc -u -n -l -w 1 "$1"; done', 'sh', String(USERVICE)], { timeoutMs: 200_000 });
    let d: Daemon | undefined;
    const stop = async (): Promise<void> => {
      if (!d) return;
      d.child.kill('SIGTERM');
      assert.deepEqual(await d.exitWithin(STEP_MS), { code: 0, signal: null }, d.lines().join('\n'));
      d = undefined;
    };
    try {
      await waitFor(async () => tcpConnect(lab, 'friend', target.ipv4, SERVICE, 1_000), { timeoutMs: STEP_MS, intervalMs: 100, what: 'the real service' });
      assert.equal(await tcpConnect(lab, 'scan', target.ipv4, SERVICE, 1_000), true, 'before the scan the scanner reaches the service');
      assert.equal(await udpAnswered(lab, 'scan', target.ipv4), true, 'and the UDP service');

      const c1 = conf();
      d = await startDaemon(lab, c1, ['-stcp', '-sudp']);
      assert.ok(d.messages().includes('adminalert: Blocking through nftables; 0 blocks restored from ' + join(dir, 'portsentry.state.json')), d.messages().join('\n'));
      assert.ok(d.messages().some((m) => m.startsWith('adminalert: kernel fast path on:')), 'the kernel fast path is on');

      await t.test('a scan is blocked: the scanner loses the real services, the friend keeps them', async () => {
        await lab.run('scan', ['nmap', '-n', '-Pn', '-sS', '--max-retries', '0', '-p', WATCHED, target.ipv4], { timeoutMs: 20_000 });
        await d!.waitMessage(`attackalert: Host ${scan.ipv4} has been blocked via nftables until unblocked`, 'nftables block line');
        await d!.waitMessage(`attackalert: Host ${scan.ipv4} has been blocked via wrappers with string: "ALL: ${scan.ipv4} : DENY"`, 'hosts.deny line');
        assert.match(await nftElements(lab), new RegExp(scan.ipv4.replace(/\./g, '\\.')));
        assert.equal(await tcpConnect(lab, 'scan', target.ipv4, SERVICE, 1_000), false, 'scanner blocked (TCP)');
        assert.equal(await udpAnswered(lab, 'scan', target.ipv4), false, 'scanner blocked (UDP)');
        assert.equal(await tcpConnect(lab, 'friend', target.ipv4, SERVICE, 1_000), true, 'friend still reaches the service');
        await lab.run('friend', ['nmap', '-n', '-Pn', '-sS', '--max-retries', '0', '-p', WATCHED, target.ipv4], { timeoutMs: 20_000 });
        assert.equal(await tcpConnect(lab, 'friend', target.ipv4, SERVICE, 1_000), true, 'the ignored friend scanned and is still not blocked');
        // 1.2's files: history (fail2ban reads it) and the per-mode blocked file.
        const h = readFileSync(history, 'utf8').trim().split('\n');
        assert.equal(h.length, 1, h.join('\n'));
        assert.match(h[0]!, new RegExp(`^\\d+ - \\d\\d/\\d\\d/\\d{4} \\d\\d:\\d\\d:\\d\\d Host: ${scan.ipv4.replace(/\./g, '\\.')}/${scan.ipv4.replace(/\./g, '\\.')} Port: 4161\\d TCP Blocked$`));
        assert.equal(readFileSync(`${blocked}.stcp`, 'utf8'), readFileSync(history, 'utf8'));
        assert.equal(readFileSync(hostsDeny, 'utf8'), `ALL: ${scan.ipv4} : DENY\n`);
        // Probes after the block: logged as already blocked, never blocked twice.
        await lab.run('scan', ['hping3', '-q', '-c', '1', '-S', '-p', '41611', target.ipv4], { timeoutMs: 5_000, allowFail: true });
        await d!.waitMessage(`attackalert: Host: ${scan.ipv4}/${scan.ipv4} is already blocked Ignoring`, 'already blocked');
      });

      await t.test('portsentry list shows it through the running daemon', async () => {
        const r = await admin(lab, c1, ['list']);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, new RegExp(`^${scan.ipv4.replace(/\./g, '\\.')}\\s+\\S+\\s+never\\s+TCP 4161\\d\\s+-stcp\\s+TCP SYN/Normal scan$`, 'm'));
      });

      await t.test('a restart keeps the block (reconciled from the state file)', async () => {
        await stop();
        assert.match(await nftElements(lab), new RegExp(scan.ipv4.replace(/\./g, '\\.')), 'the block stays in the kernel while portsentry is down');
        d = await startDaemon(lab, c1, ['-stcp', '-sudp']);
        assert.ok(d.messages().includes('adminalert: Blocking through nftables; 1 block restored from ' + join(dir, 'portsentry.state.json')), d.messages().join('\n'));
        assert.equal(await tcpConnect(lab, 'scan', target.ipv4, SERVICE, 1_000), false, 'still blocked after the restart');
        assert.equal(readFileSync(`${blocked}.stcp`, 'utf8').trim().split('\n').length, 1, 'the blocked file lists the active block again');
      });

      await t.test('unblock restores access and is logged', async () => {
        const r = await admin(lab, c1, ['unblock', scan.ipv4]);
        assert.equal(r.code, 0, r.out);
        await d!.waitMessage(`attackalert: Host ${scan.ipv4} has been unblocked (portsentry unblock)`, 'unblock line');
        assert.equal(await tcpConnect(lab, 'scan', target.ipv4, SERVICE, 1_000), true, 'the scanner reaches the service again');
        assert.equal(readFileSync(`${blocked}.stcp`, 'utf8'), '', 'gone from the blocked file');
        assert.doesNotMatch((await admin(lab, c1, ['list'])).out, new RegExp(scan.ipv4.replace(/\./g, '\\.')));
      });
      await stop();

      await t.test('a block with a duration expires by itself', async () => {
        d = await startDaemon(lab, conf([['BLOCK_DURATION', '3s']]), ['-stcp', '-sudp']);
        await lab.run('scan', ['hping3', '-q', '-c', '1', '-S', '-p', '41612', target.ipv4], { timeoutMs: 5_000, allowFail: true });
        await d.waitUntil((m) => m.some((x) => x.startsWith(`attackalert: Host ${scan.ipv4} has been blocked via nftables until 20`)), 'timed block');
        assert.equal(await tcpConnect(lab, 'scan', target.ipv4, SERVICE, 1_000), false);
        await waitFor(async () => tcpConnect(lab, 'scan', target.ipv4, SERVICE, 500), { timeoutMs: 8_000, intervalMs: 300, what: 'the block to expire' });
        await d.waitMessage(`attackalert: Host ${scan.ipv4} has been unblocked (block expired)`, 'expiry line');
        await stop();
      });

      await t.test('a flood from 2,000 spoofed sources blocks at most BLOCK_RATE of them', async () => {
        await admin(lab, c1, ['flush']);
        d = await startDaemon(lab, conf([['BLOCK_RATE', '20']]), ['-stcp', '-sudp']);
        await lab.run('scan', ['hping3', '-q', '-c', '2000', '-i', 'u500', '--rand-source', '-S', '-p', '41613', target.ipv4], { timeoutMs: 20_000, allowFail: true });
        await d.waitUntil((m) => m.some((x) => x.startsWith('securityalert: Block rate limit reached (BLOCK_RATE 20 per minute)')), 'rate limit notice');
        await new Promise((r) => setTimeout(r, 1500));
        const n = (await blockedNow(lab)).size;
        assert.ok(n <= 21, `at most the rate limit (+1 refill) was blocked, got ${n}`);
        assert.ok(n >= 10, `and the limit is what stopped it, got ${n}`);
        const notices = d.messages().filter((x) => x.startsWith('securityalert: Block rate limit reached'));
        assert.equal(notices.length, 1, 'one notice per streak');
        await stop();
        await admin(lab, c1, ['flush']);
      });
    } finally {
      await d?.kill();
      svc.kill('SIGKILL');
      usvc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
