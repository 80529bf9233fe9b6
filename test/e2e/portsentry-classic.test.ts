// End to end: the real `portsentry` CLI in classic mode (-tcp -udp), run inside the target namespace
// of a scan lab and probed over real IPv4 and IPv6 connections from the scan and friend hosts. Every
// assertion is on the message part of the syslog lines the daemon writes to stderr.
// Lab: prefix 'ts-pc', subnet 11 (198.18.11.0/24, 2001:db8:11::/64).
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labSkipReason, missingTools, tcpConnect, waitFor, withLab } from '../lab/lab.js';
import type { Lab } from '../lab/lab.js';
import {
  ACTIVE,
  BUILT,
  CLI,
  Daemon,
  IGNORING_TCP,
  IGNORING_UDP,
  LINE_RE,
  SHUTDOWN,
  STEP_MS,
  catchesSighup,
  distinct,
  escapeRe,
  startDaemon,
  withDaemon,
  writeConf,
} from './portsentry-daemon.js';

const PREFIX = 'ts-pc';
const SUBNET = 11;

// 999 is below 1024: binding it shows the daemon, run as root, can watch privileged ports.
const LOW = 999;
const T1 = 41001;
const T2 = 41002;
const T3 = 41003;
const T_NEW = 41004;
const T_BUSY = 41005;
const U1 = 41101;
const BANNER = 'ts-pc: ** UNAUTHORIZED ACCESS PROHIBITED **';

const skip = labSkipReason() ?? (missingTools(['nc', 'ss']).length > 0 ? `needs ${missingTools(['nc', 'ss']).join(', ')} (netcat-openbsd, iproute2)` : undefined);

type Host = 'scan' | 'target' | 'friend';

function listen(proto: 'TCP' | 'UDP', port: number): string {
  return `adminalert: Going into listen mode on ${proto} port: ${port}`;
}

function connect(addr: string, proto: 'TCP' | 'UDP', port: number): string {
  return `attackalert: Connect from host: ${addr}/${addr} to ${proto} port: ${port}`;
}

/** A temp directory for one case, with an ignore file listing the friend host (both families). */
function caseDir(lab: Lab<'friend'>): { dir: string; ignore: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ts-pc-'));
  const ignore = join(dir, 'portsentry.ignore');
  writeFileSync(ignore, `# the friend host\n${lab.hosts.friend.ipv4}\n${lab.hosts.friend.ipv6}\n`);
  return { dir, ignore };
}

/** One UDP datagram from `from` (nc quits right after sending: -q 0). */
async function udpSend(lab: Lab<'friend'>, from: Host, addr: string, port: number): Promise<void> {
  await lab.run(from, ['nc', '-u', '-n', '-q', '0', addr, String(port)], { timeoutMs: 3_000, input: 'probe\n' });
}

async function mustConnect(lab: Lab<'friend'>, from: Host, addr: string, port: number): Promise<void> {
  assert.equal(await tcpConnect(lab, from, addr, port, 2_000), true, `TCP connect ${from} -> [${addr}]:${port} should complete`);
}

/**
 * Waits for the alert pair 1.2 logs for one triggering probe: the Connect line naming `addr`, then
 * the Ignoring line (BLOCK_*="0"). The two lines may reach the pipe in separate reads, so the wait
 * covers both.
 */
async function waitAlert(d: Daemon, addr: string, proto: 'TCP' | 'UDP', port: number): Promise<void> {
  const first = connect(addr, proto, port);
  const then = proto === 'TCP' ? IGNORING_TCP : IGNORING_UDP;
  await d.waitUntil((msgs) => {
    const i = msgs.indexOf(first);
    return i >= 0 && msgs.indexOf(then, i + 1) > i;
  }, `${JSON.stringify(first)} then ${JSON.stringify(then)}`);
}

const base = (ignore: string, tcp: string, extra: readonly (readonly [string, string])[] = []): (readonly [string, string])[] => [
  ['TCP_PORTS', tcp],
  ['UDP_PORTS', String(U1)],
  ['IGNORE_FILE', ignore],
  ['BLOCK_TCP', '0'],
  ['BLOCK_UDP', '0'],
  ...extra,
];

test('portsentry classic mode (-tcp -udp) in the scan lab', { skip: skip ?? false, timeout: 60_000 }, async (t: TestContext) => {
  assert.ok(existsSync(BUILT), `portsentry is not built (${BUILT} missing): run npx tsc -b portsentry`);
  await withLab({ prefix: PREFIX, subnet: SUBNET, hosts: ['friend'] }, async (lab) => {
    const { target, scan, friend } = lab.hosts;

    await t.test('start-up lines: each port, then active; a port below 1024 binds as root', async (t) => {
      const { dir, ignore } = caseDir(lab);
      const conf = writeConf(dir, 'portsentry.conf', base(ignore, `${LOW},${T1},${T2}`));
      await withDaemon(lab, dir, conf, async (d) => {
        assert.deepEqual(distinct(d.messages()), [listen('TCP', LOW), listen('TCP', T1), listen('TCP', T2), listen('UDP', U1), ACTIVE]);
        assert.deepEqual(d.lines().filter((l) => !LINE_RE.test(l)), [], 'every stderr line has the syslog form');
        const pids = distinct(d.lines().map((l) => LINE_RE.exec(l)?.[1] ?? ''));
        assert.deepEqual(pids, [String(d.child.pid)], 'portsentry[PID] names the daemon itself (ip netns exec execs it)');
        const ss = await lab.run('target', ['ss', '-H', '-t', '-l', '-n'], { timeoutMs: 3_000 });
        assert.match(ss.stdout, new RegExp(`\\*:${LOW}\\s`), `TCP ${LOW} is listening on all addresses:\n${ss.stdout}`);

        await t.test('each line is written once', () => {
          assert.deepEqual(d.messages(), distinct(d.messages()));
        });
      });
    });

    await t.test('TCP over IPv4 and IPv6, UDP: Connect then Ignoring lines; PORT_BANNER reaches the client', async () => {
      const { dir, ignore } = caseDir(lab);
      const conf = writeConf(dir, 'portsentry.conf', base(ignore, `${T1},${T2}`, [['SCAN_TRIGGER', '0'], ['PORT_BANNER', BANNER]]));
      await withDaemon(lab, dir, conf, async (d) => {
        // Without -z nc reads until the daemon closes, so what it prints is exactly what was sent.
        const r = await lab.run('scan', ['nc', '-n', '-w', '2', target.ipv4, String(T1)], { timeoutMs: 4_000 });
        assert.equal(r.stdout, BANNER);
        await waitAlert(d, scan.ipv4, 'TCP', T1);

        await mustConnect(lab, 'scan', target.ipv6, T2);
        await waitAlert(d, scan.ipv6, 'TCP', T2);

        // -w 1: stay a second after sending to read the banner datagram sent back.
        const u = await lab.run('scan', ['nc', '-u', '-n', '-w', '1', target.ipv4, String(U1)], { timeoutMs: 4_000, input: 'probe\n' });
        await waitAlert(d, scan.ipv4, 'UDP', U1);
        assert.equal(u.stdout, BANNER, 'the UDP prober gets PORT_BANNER back as a datagram');
      });
    });

    await t.test('SCAN_TRIGGER="3": the first two connects raise nothing, the third does', async () => {
      const { dir, ignore } = caseDir(lab);
      const conf = writeConf(dir, 'portsentry.conf', base(ignore, `${T1},${T2},${T3}`, [['SCAN_TRIGGER', '3']]));
      await withDaemon(lab, dir, conf, async (d) => {
        // One port per connect, so the alert line itself says which probe raised it.
        for (const port of [T1, T2, T3]) await mustConnect(lab, 'scan', target.ipv4, port);
        await waitAlert(d, scan.ipv4, 'TCP', T3);
        assert.deepEqual(
          distinct(d.messages().filter((m) => m.startsWith('attackalert:'))),
          [connect(scan.ipv4, 'TCP', T3), IGNORING_TCP],
          'probes one and two raised nothing',
        );
      });
    });

    await t.test('a friend on the ignore list is never reported; the scanner is', async () => {
      const { dir, ignore } = caseDir(lab);
      const conf = writeConf(dir, 'portsentry.conf', base(ignore, `${T1}`, [['SCAN_TRIGGER', '0']]));
      await withDaemon(lab, dir, conf, async (d) => {
        // Friend first, then scan on the same sockets: the kernel hands connections and datagrams
        // over in arrival order, so once scan's lines are there the friend's probes were handled.
        await mustConnect(lab, 'friend', target.ipv4, T1);
        await mustConnect(lab, 'friend', target.ipv6, T1);
        await udpSend(lab, 'friend', target.ipv4, U1);
        await mustConnect(lab, 'scan', target.ipv4, T1);
        await udpSend(lab, 'scan', target.ipv4, U1);
        await waitAlert(d, scan.ipv4, 'TCP', T1);
        await waitAlert(d, scan.ipv4, 'UDP', U1);
        const about = d.messages().filter((m) => m.includes(friend.ipv4) || m.includes(friend.ipv6));
        assert.deepEqual(about, [], 'nothing is logged about the friend');
        assert.deepEqual(
          distinct(d.messages().filter((m) => m.startsWith('attackalert:'))).sort(),
          [connect(scan.ipv4, 'TCP', T1), connect(scan.ipv4, 'UDP', U1), IGNORING_TCP, IGNORING_UDP].sort(),
        );
      });
    });

    await t.test('a port already in use is reported and skipped; the others still detect', async () => {
      const { dir, ignore } = caseDir(lab);
      const busy = lab.spawn('target', ['nc', '-l', '-k', '-n', String(T_BUSY)], { timeoutMs: 30_000 });
      busy.stdout?.resume();
      busy.stderr?.resume();
      try {
        await waitFor(async () => (await lab.run('target', ['ss', '-H', '-t', '-l', '-n', `sport = :${T_BUSY}`], { timeoutMs: 3_000 })).stdout.trim() !== '', {
          timeoutMs: STEP_MS,
          what: `nc listening on ${T_BUSY}`,
        });
        const conf = writeConf(dir, 'portsentry.conf', base(ignore, `${T1},${T_BUSY}`, [['SCAN_TRIGGER', '0']]));
        await withDaemon(lab, dir, conf, async (d) => {
          assert.deepEqual(distinct(d.messages()), [
            listen('TCP', T1),
            listen('TCP', T_BUSY),
            `adminalert: ERROR: could not bind TCP socket: ${T_BUSY}. Attempting to continue`,
            `adminalert: TCP port ${T_BUSY} is in use by a local service and will not be monitored`,
            listen('UDP', U1),
            ACTIVE,
          ]);
          await mustConnect(lab, 'scan', target.ipv4, T1);
          await waitAlert(d, scan.ipv4, 'TCP', T1);
        });
      } finally {
        busy.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });

    await t.test('SIGHUP reloads a changed config; a broken one is refused and the old one keeps running', async () => {
      const { dir, ignore } = caseDir(lab);
      const conf = writeConf(dir, 'portsentry.conf', base(ignore, `${T1}`, [['SCAN_TRIGGER', '0']]));
      await withDaemon(lab, dir, conf, async (d) => {
        writeConf(dir, 'portsentry.conf', base(ignore, `${T1},${T_NEW}`, [['SCAN_TRIGGER', '0']]));
        d.child.kill('SIGHUP');
        await d.waitMessage(`adminalert: configuration reloaded from ${conf}`, 'reload');
        await mustConnect(lab, 'scan', target.ipv4, T_NEW);
        await waitAlert(d, scan.ipv4, 'TCP', T_NEW);

        // Line 2 indented: PortSentry 1.2 would silently drop it; here the reload is refused.
        writeConf(dir, 'portsentry.conf', [['TCP_PORTS', `${T1},${T_NEW},${T3}`], ` UDP_PORTS="${U1}"`, ['BLOCK_TCP', '0'], ['BLOCK_UDP', '0']]);
        d.child.kill('SIGHUP');
        await d.waitMatch(
          new RegExp(`^adminalert: ERROR: reload failed, keeping the running configuration: ${escapeRe(conf)}:2:2: indented key UDP_PORTS: `),
          'reload refused, naming file:line:col and the key',
        );
        // Distinct sources (IPv6 now) so these lines cannot be the earlier ones.
        await mustConnect(lab, 'scan', target.ipv6, T1);
        await mustConnect(lab, 'scan', target.ipv6, T_NEW);
        await waitAlert(d, scan.ipv6, 'TCP', T1);
        await waitAlert(d, scan.ipv6, 'TCP', T_NEW);
        assert.equal(d.messages().includes(listen('TCP', T3)), false, 'nothing of the broken config was applied');
      });
    });

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      await t.test(`${signal}: shutting-down line, exit status 0`, async () => {
        const { dir, ignore } = caseDir(lab);
        const conf = writeConf(dir, 'portsentry.conf', base(ignore, `${T1}`));
        await withDaemon(lab, dir, conf, async (d) => {
          d.child.kill(signal);
          const ended = await d.exitWithin(STEP_MS);
          assert.deepEqual(ended, { code: 0, signal: null }, `exit after ${signal}; stderr:\n${d.lines().join('\n')}`);
          assert.equal(d.messages().at(-1), SHUTDOWN);
          assert.equal(await tcpConnect(lab, 'scan', target.ipv4, T1, 1_000), false, 'the port is closed once stopped');
        });
      });
    }

    await t.test('a SIGTERM sent the moment "active" is logged still stops cleanly', async () => {
      // Several tries, each signalling from inside the read that delivers the line, to land in the
      // window as often as a test can; a correct daemon passes every one of them.
      for (let i = 0; i < 5; i++) {
        const { dir, ignore } = caseDir(lab);
        const conf = writeConf(dir, 'portsentry.conf', base(ignore, `${T1}`));
        const child = lab.spawn('target', [process.execPath, CLI, '-c', conf, '--foreground', '--syslog', 'stderr', '-tcp', '-udp'], { timeoutMs: 30_000 });
        const d = new Daemon(child, conf);
        try {
          // Exactly one signal: a second SIGTERM while stopping means "exit now" (status 1) by design.
          let sent = false;
          child.stderr?.on('data', () => {
            if (!sent && d.messages().includes(ACTIVE)) {
              sent = true;
              child.kill('SIGTERM');
            }
          });
          const ended = await d.exitWithin(STEP_MS);
          assert.deepEqual(ended, { code: 0, signal: null }, `try ${i + 1}: exit after SIGTERM; stderr:\n${d.lines().join('\n')}`);
          assert.equal(d.messages().at(-1), SHUTDOWN);
        } finally {
          await d.kill();
          rmSync(dir, { recursive: true, force: true });
        }
      }
    });
  });
});

/** Runs the CLI outside any namespace: these cases fail before anything is bound or captured. */
function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

test('portsentry refuses to start on a bad config (78) and on a mode it lacks (69)', { timeout: 30_000 }, async (t) => {
  assert.ok(existsSync(BUILT), `portsentry is not built (${BUILT} missing): run npx tsc -b portsentry`);
  const dir = mkdtempSync(join(tmpdir(), 'ts-pc-'));
  try {
    await t.test('unknown key: exit 78 naming file:line and the key', async () => {
      const conf = writeConf(dir, 'bad.conf', [['TCP_PORTS', String(T1)], ['BLOCK_TCP', '0'], ['SCAN_TRIGGERS', '2']]);
      const r = await runCli(['-c', conf, '--foreground', '--syslog', 'stderr', '-tcp', '-udp']);
      assert.equal(r.code, 78, r.stderr);
      assert.match(r.stderr, new RegExp(`^portsentry: ${escapeRe(conf)}:3:1: SCAN_TRIGGERS: unknown key`, 'm'));
      assert.doesNotMatch(r.stderr, /listen mode/, 'nothing was started');
    });

    await t.test('-tcp -stcp: exit 64, two modes would watch the same TCP ports', async () => {
      const conf = writeConf(dir, 'ok.conf', [['TCP_PORTS', String(T1)], ['BLOCK_TCP', '0'], ['BLOCK_UDP', '0']]);
      const r = await runCli(['-c', conf, '--foreground', '--syslog', 'stderr', '-tcp', '-stcp']);
      assert.equal(r.code, 64, r.stderr);
      assert.match(r.stderr, /^portsentry: -tcp and -stcp watch the same TCP ports twice/m);
      assert.doesNotMatch(r.stderr, /listen mode/, 'nothing was started');
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
