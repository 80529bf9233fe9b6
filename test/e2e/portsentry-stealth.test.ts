// End to end: the real `portsentry` CLI in the stealth and advanced modes (-stcp -sudp, -atcp -audp),
// run inside the target namespace of a scan lab, against real nmap and hping3 scans over IPv4 and
// IPv6 from the scan host. Also what must raise nothing: the ignored friend host, a client of a real
// service, and connections the target itself opens (replies to watched ports).
// Lab: prefix 'ts-ps', subnet 12 (198.18.12.0/24, 2001:db8:12::/64).
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labSkipReason, missingTools, tcpConnect, waitFor, withLab } from '../lab/lab.js';
import type { Lab } from '../lab/lab.js';
import { ACTIVE, BUILT, IGNORING_TCP, IGNORING_UDP, SHUTDOWN, STEP_MS, startDaemon, writeConf, type Daemon } from './portsentry-daemon.js';

const PREFIX = 'ts-ps';
const SUBNET = 12;

const TOOLS = ['nmap', 'hping3', 'nc'];
const skip = labSkipReason() ?? (missingTools(TOOLS).length > 0 ? `needs ${missingTools(TOOLS).join(', ')}` : undefined);

type L = Lab<'friend'>;

// One watched port per scan kind, so every line names exactly what was sent.
const P = { S: 111, F: 41201, N: 41202, X: 41203, A: 41204, M: 41205, W: 41206, T: 41207, FULL: 41208, ODD: 41209, V6: 41210 } as const;
const TCP_PORTS = Object.values(P).join(',');
const U = { U: 41301, U6: 41302 } as const;

function alert(kind: string, addr: string, proto: 'TCP' | 'UDP', port: number): string {
  return `attackalert: ${kind} from host: ${addr}/${addr} to ${proto} port: ${port}`;
}

function caseDir(lab: L): { dir: string; ignore: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ts-ps-'));
  const ignore = join(dir, 'portsentry.ignore');
  writeFileSync(ignore, `${lab.hosts.friend.ipv4}\n${lab.hosts.friend.ipv6}\n`);
  return { dir, ignore };
}

let ignoreFile = '';

async function withStealth(lab: L, conf: (dir: string, ignore: string) => string, modes: readonly string[], body: (d: Daemon) => Promise<void>): Promise<void> {
  const { dir, ignore } = caseDir(lab);
  ignoreFile = ignore;
  let d: Daemon | undefined;
  try {
    d = await startDaemon(lab, conf(dir, ignore), modes);
    try {
      await body(d);
    } catch (e) {
      // Stop it politely first: its statistics lines at shutdown say what it saw.
      d.child.kill('SIGTERM');
      await d.exitWithin(STEP_MS);
      throw new Error(`${(e as Error).message.split('\n--- portsentry stderr')[0]}\n--- portsentry stderr, to shutdown ---\n${d.lines().join('\n')}`, { cause: e });
    }
    d.child.kill('SIGTERM');
    const end = await d.exitWithin(STEP_MS);
    assert.deepEqual(end, { code: 0, signal: null }, `stops with status 0 on SIGTERM:\n${d.lines().join('\n')}`);
    assert.ok(d.messages().includes(SHUTDOWN));
  } finally {
    await d?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function nmap(lab: L, from: 'scan' | 'friend', args: readonly string[]): Promise<string> {
  // -n no DNS, -Pn no host discovery, --max-retries 0 one probe per port; bounded by timeout.
  const r = await lab.run(from, ['nmap', '-n', '-Pn', '--max-retries', '0', '--host-timeout', '10s', ...args], { timeoutMs: 20_000 });
  return r.stdout;
}

async function hping(lab: L, from: 'scan' | 'friend', args: readonly string[]): Promise<void> {
  await lab.run(from, ['hping3', '-q', '-c', '1', ...args], { timeoutMs: 5_000, allowFail: true });
}

/** Waits for a line and its response line right after it (the two may arrive in separate reads). */
async function waitAlert(d: Daemon, line: string, proto: 'TCP' | 'UDP'): Promise<void> {
  const then = proto === 'TCP' ? IGNORING_TCP : IGNORING_UDP;
  await d.waitUntil((m) => {
    const i = m.indexOf(line);
    return i >= 0 && m.indexOf(then, i + 1) > i;
  }, `${JSON.stringify(line)} then the response line`);
}

test('portsentry stealth and advanced modes in the scan lab', { skip: skip ?? false, timeout: 240_000 }, async (t: TestContext) => {
  assert.ok(existsSync(BUILT), `portsentry is not built (${BUILT} missing): run npx tsc -b portsentry`);
  await withLab({ prefix: PREFIX, subnet: SUBNET, hosts: ['friend'] }, async (lab) => {
    const { target, scan, friend } = lab.hosts;
    const conf = (extra: readonly (readonly [string, string])[] = []) => (dir: string, ignore: string) =>
      writeConf(dir, 'portsentry.conf', [
        ['TCP_PORTS', TCP_PORTS],
        ['UDP_PORTS', Object.values(U).join(',')],
        ['IGNORE_FILE', ignore],
        ['BLOCK_TCP', '0'],
        ['BLOCK_UDP', '0'],
        ['SCAN_TRIGGER', '0'],
        ...extra,
      ]);

    await t.test('-stcp -sudp: every nmap scan type and hping3 flag set, IPv4 and IPv6', async () => {
      await withStealth(lab, conf(), ['-stcp', '-sudp'], async (d) => {
        const start = d.messages();
        for (const p of Object.values(P)) assert.ok(start.includes(`adminalert: Going into stealth listen mode on TCP port: ${p}`));
        assert.ok(start.includes(`adminalert: Going into stealth listen mode on UDP port: ${U.U}`));
        assert.ok(start.includes(ACTIVE));
        assert.ok(start.some((m) => /^adminalert: Stealth capture on .*ts-ps-br/.test(m)), `captures on the bridge:\n${start.join('\n')}`);

        const v4 = target.ipv4;
        const cases: [string[], string, number][] = [
          [['-sS', '-p', String(P.S), v4], 'TCP SYN/Normal scan', P.S],
          [['-sF', '-p', String(P.F), v4], 'TCP FIN scan', P.F],
          [['-sN', '-p', String(P.N), v4], ' TCP NULL scan', P.N],
          [['-sX', '-p', String(P.X), v4], 'TCP XMAS scan', P.X],
          [['-sA', '-p', String(P.A), v4], 'TCP ACK scan', P.A],
          [['-sM', '-p', String(P.M), v4], 'TCP Maimon scan', P.M],
          [['-sW', '-p', String(P.W), v4], 'TCP ACK scan', P.W],
          [['-sT', '-p', String(P.T), v4], 'TCP SYN/Normal scan', P.T],
        ];
        for (const [args, kind, port] of cases) {
          await nmap(lab, 'scan', args);
          await waitAlert(d, alert(kind, scan.ipv4, 'TCP', port), 'TCP');
        }
        await nmap(lab, 'scan', ['-sU', '-p', String(U.U), v4]);
        await waitAlert(d, alert('UDP scan', scan.ipv4, 'UDP', U.U), 'UDP');

        // hping3: all six flags, and an odd combination 1.2 names by its flags.
        await hping(lab, 'scan', ['-F', '-S', '-R', '-P', '-A', '-U', '-p', String(P.FULL), v4]);
        await waitAlert(d, alert('TCP FULL-XMAS scan', scan.ipv4, 'TCP', P.FULL), 'TCP');
        await hping(lab, 'scan', ['-S', '-F', '-p', String(P.ODD), v4]);
        await waitAlert(d, alert('Unknown Type: TCP Packet Flags: SYN: 1 FIN: 1 ACK: 0 PSH: 0 URG: 0 RST: 0', scan.ipv4, 'TCP', P.ODD), 'TCP');

        // IPv6: the same scanner by its IPv6 address.
        const v6 = target.ipv6;
        const cases6: [string[], string][] = [
          [['-sS'], 'TCP SYN/Normal scan'],
          [['-sF'], 'TCP FIN scan'],
          [['-sN'], ' TCP NULL scan'],
          [['-sX'], 'TCP XMAS scan'],
          [['-sA'], 'TCP ACK scan'],
          [['-sM'], 'TCP Maimon scan'],
        ];
        for (const [args, kind] of cases6) {
          await nmap(lab, 'scan', ['-6', ...args, '-p', String(P.V6), v6]);
          await waitAlert(d, alert(kind, scan.ipv6, 'TCP', P.V6), 'TCP');
        }
        await nmap(lab, 'scan', ['-6', '-sU', '-p', String(U.U6), v6]);
        await waitAlert(d, alert('UDP scan', scan.ipv6, 'UDP', U.U6), 'UDP');

        // The ignored friend host scans every port: nothing names it.
        await nmap(lab, 'friend', ['-sS', '-p', TCP_PORTS, target.ipv4]);
        await nmap(lab, 'friend', ['-6', '-sF', '-p', TCP_PORTS, target.ipv6]);
        await hping(lab, 'friend', ['--udp', '-p', String(U.U), target.ipv4]);
        // A marker scan after the friend's: once it is logged, the friend's packets were processed.
        await hping(lab, 'scan', ['-S', '-p', String(P.S), v4]);
        await d.waitUntil((m) => m.filter((x) => x === alert('TCP SYN/Normal scan', scan.ipv4, 'TCP', P.S)).length >= 2, 'marker probe');
        const named = d.messages().filter((m) => m.includes(friend.ipv4) || m.includes(friend.ipv6));
        assert.deepEqual(named, [], 'the ignored host is never named');

        // Adding the scanner to the ignore file takes effect without a SIGHUP.
        appendFileSync(ignoreFile, `${scan.ipv4}\n`);
        await d.waitMatch(/^adminalert: ignore list re-read from .*portsentry\.ignore after it changed$/, 'ignore file re-read');
        const before = d.messages().length;
        await hping(lab, 'scan', ['-S', '-p', String(P.S), v4]);
        await hping(lab, 'scan', ['-S', '-p', String(P.F), v4]);
        await nmap(lab, 'scan', ['-6', '-sS', '-p', String(P.V6), v6]);
        await waitAlert(d, alert('TCP SYN/Normal scan', scan.ipv6, 'TCP', P.V6), 'TCP');
        assert.deepEqual(d.messages().slice(before).filter((m) => m.includes(`${scan.ipv4}/`)), [], 'the newly ignored address is silent, its IPv6 twin is not');
      });
    });

    await t.test('-atcp -audp: unused ports watched, local services and own connections are not probes', async () => {
      const extra: [string, string][] = [
        ['ADVANCED_PORTS_TCP', '65535'],
        ['ADVANCED_PORTS_UDP', '65535'],
        ['ADVANCED_EXCLUDE_TCP', '113'],
        ['ADVANCED_EXCLUDE_UDP', '520'],
      ];
      // A service that is already listening when portsentry starts.
      const svc = lab.spawn('target', ['nc', '-l', '-k', '-n', '41400'], { timeoutMs: 120_000 });
      try {
        await waitFor(async () => (await lab.run('target', ['ss', '-H', '-t', '-l', '-n', 'sport = :41400'], { timeoutMs: 2_000 })).stdout.includes('41400'), {
          timeoutMs: STEP_MS,
          intervalMs: 50,
          what: 'nc listening on 41400',
        });
        await withStealth(lab, conf(extra), ['-atcp', '-audp'], async (d) => {
          const start = d.messages();
          assert.ok(start.includes('adminalert: Advanced mode will monitor first 65535 ports'));
          assert.ok(start.includes('adminalert: Advanced mode will manually exclude port: 113 '));
          assert.ok(start.includes('adminalert: Advanced Stealth scan detection mode activated. Ignored TCP port: 41400'), start.join('\n'));
          assert.ok(start.includes('adminalert: Advanced Stealth scan detection mode activated. Ignored TCP port: 113'));
          assert.ok(start.includes('adminalert: Advanced Stealth scan detection mode activated. Ignored UDP port: 520'));

          // A client of the real service: connect, send, close. Not a probe.
          assert.equal(await tcpConnect(lab, 'scan', target.ipv4, 41400, 2_000), true);
          // The target opens connections itself: TCP to a server on the scan host (its replies, ACKs
          // and FIN+ACK arrive at the target's ephemeral port, which is watched), and a UDP exchange.
          const server = lab.spawn('scan', ['nc', '-l', '-n', '41500'], { timeoutMs: 30_000 });
          const userver = lab.spawn('scan', ['nc', '-u', '-l', '-n', '41501'], { timeoutMs: 30_000 });
          try {
            await waitFor(async () => (await lab.run('scan', ['ss', '-H', '-l', '-n', 'sport = :41500 or sport = :41501'], { timeoutMs: 2_000 })).stdout.split('\n').filter(Boolean).length >= 2, {
              timeoutMs: STEP_MS,
              intervalMs: 50,
              what: 'servers on the scan host',
            });
            await lab.run('target', ['nc', '-n', '-N', '-w', '2', scan.ipv4, '41500'], { timeoutMs: 5_000, input: 'hello from target\n', allowFail: true });
            server.stdin?.end();
            // UDP: the target sends from an ephemeral port; the server's reply comes back to it.
            userver.stdout?.once('data', () => undefined);
            await lab.run('target', ['sh', '-c', 'printf "q\\n" | nc -u -n -w 1 "$1" 41501', 'sh', scan.ipv4], { timeoutMs: 5_000, allowFail: true });
          } finally {
            server.kill('SIGKILL');
            userver.kill('SIGKILL');
          }

          // A service started after portsentry: noticed within a second, then its clients are fine.
          const late = lab.spawn('target', ['nc', '-l', '-k', '-n', '41401'], { timeoutMs: 60_000 });
          try {
            await d.waitMessage('adminalert: TCP port 41401 now has a listening service and is no longer monitored', 'late service noticed');
            assert.equal(await tcpConnect(lab, 'scan', target.ipv4, 41401, 2_000), true);
          } finally {
            late.kill('SIGKILL');
          }
          await d.waitMessage('adminalert: TCP port 41401 no longer has a listening service and is monitored again', 'late service gone');

          // Now a real scan: it is reported, which shows the silence above was not blindness.
          await nmap(lab, 'scan', ['-sS', '-p', '41402', target.ipv4]);
          await waitAlert(d, alert('TCP SYN/Normal scan', scan.ipv4, 'TCP', 41402), 'TCP');
          await nmap(lab, 'scan', ['-sU', '-p', '41403', target.ipv4]);
          await waitAlert(d, alert('UDP scan', scan.ipv4, 'UDP', 41403), 'UDP');
          await nmap(lab, 'scan', ['-6', '-sA', '-p', '41404', target.ipv6]);
          await waitAlert(d, alert('TCP ACK scan', scan.ipv6, 'TCP', 41404), 'TCP');

          const alerts = d.messages().filter((m) => m.startsWith('attackalert:') && !m.startsWith('attackalert: Ignoring'));
          assert.deepEqual(
            alerts,
            [alert('TCP SYN/Normal scan', scan.ipv4, 'TCP', 41402), alert('UDP scan', scan.ipv4, 'UDP', 41403), alert('TCP ACK scan', scan.ipv6, 'TCP', 41404)],
            'only the scans raised anything',
          );
        });
      } finally {
        svc.kill('SIGKILL');
      }
    });
  });
});
