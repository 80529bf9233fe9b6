// hostsentry hands an intruder's address to a running portsentry, so the suite keeps one ban list:
// the real portsentry daemon (classic -tcp, blocking through KILL_HOSTS_DENY into the test's own
// hosts.deny) and the real hostsentry daemon following a wtmp built by utmpdump -r. portsentry's
// safety applies to handed-off addresses too: an address on its ignore list is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PORTSENTRY = fileURLToPath(new URL('../../../portsentry/bin/portsentry.js', import.meta.url));
const HOSTSENTRY = fileURLToPath(new URL('../../../hostsentry/bin/hostsentry.js', import.meta.url));

function hasUtmpdump(): boolean {
  try {
    execFileSync('utmpdump', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const pad = (n: number): string => String(n).padStart(2, '0');
function rec(pid: number, user: string, tty: string, host: string, day: number, hh: number): Buffer {
  const text = `[7] [${String(pid).padStart(5, '0')}] [${tty.replace('pts/', 'ts/')}] [${user}] [${tty}] [${host}] [${host}] [2026-11-${pad(day)}T${pad(hh)}:00:00,000000+00:00]\n`;
  return execFileSync('utmpdump', ['-r'], { input: text, stdio: ['pipe', 'pipe', 'ignore'] });
}

function run(file: string, args: string[]): { child: ChildProcess; text: () => string } {
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
  let buf = '';
  for (const s of [child.stdout, child.stderr]) {
    s?.setEncoding('utf8');
    s?.on('data', (d: string) => (buf += d));
  }
  return { child, text: () => buf };
}

async function waitFor(pred: () => boolean, ms: number, what: string, show: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output:\n${show()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('hostsentry hands an intruder to portsentry, which blocks it; an ignored address is refused', { skip: hasUtmpdump() ? false : 'needs utmpdump (util-linux)', timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-handoff-'));
  const procs: ChildProcess[] = [];
  try {
    const port = 43000 + Math.floor(Math.random() * 900);
    const state = join(dir, 'portsentry.state.json');
    const deny = join(dir, 'hosts.deny');
    writeFileSync(join(dir, 'portsentry.ignore'), '127.0.0.1\n192.0.2.99\n');
    const psConf = join(dir, 'portsentry.conf');
    writeFileSync(
      psConf,
      [
        `TCP_PORTS="${port}"`,
        `IGNORE_FILE="${join(dir, 'portsentry.ignore')}"`,
        `HISTORY_FILE="${join(dir, 'portsentry.history')}"`,
        `BLOCKED_FILE="${join(dir, 'portsentry.blocked')}"`,
        `STATE_FILE="${state}"`,
        'BLOCK_TCP="1"',
        'BLOCK_BACKEND="none"',
        `HOSTS_DENY_FILE="${deny}"`,
        'KILL_HOSTS_DENY="ALL: $TARGET$ : DENY"',
        'SCAN_TRIGGER="0"',
        '',
      ].join('\n'),
    );
    const ps = run(PORTSENTRY, ['-c', psConf, '--foreground', '--syslog', 'stderr', '-tcp']);
    procs.push(ps.child);
    await waitFor(() => existsSync(`${state}.sock`) && ps.text().includes('PortSentry is now active'), 15_000, 'portsentry', ps.text);

    const wtmp = join(dir, 'wtmp');
    writeFileSync(wtmp, rec(100, 'alice', 'pts/1', '192.0.2.10', 1, 9));
    const hsConf = join(dir, 'hostsentry.yaml');
    writeFileSync(
      hsConf,
      [
        `database: ${join(dir, 'hs', 'history')}`,
        'learning_period: 0',
        'inputs:',
        `  wtmp: { path: ${wtmp} }`,
        '  utmp: { enabled: false }',
        '  wtmpdb: { enabled: false }',
        '  sshd: { source: "off" }',
        'responses:',
        '  syslog: { sinks: [stderr] }',
        `  portsentry: { enabled: true, min_severity: medium, socket: ${state}.sock }`,
        '',
      ].join('\n'),
    );
    const hs = run(HOSTSENTRY, ['-c', hsConf]);
    procs.push(hs.child);
    await waitFor(() => hs.text().includes('started: following'), 15_000, 'hostsentry', hs.text);

    // A login from a new network: NewSource (medium) hands 198.51.100.7 over.
    appendFileSync(wtmp, rec(101, 'alice', 'pts/2', '198.51.100.7', 2, 10));
    await waitFor(() => hs.text().includes('198.51.100.7 handed to portsentry for blocking'), 10_000, 'the hand-off', () => hs.text() + ps.text());
    assert.match(ps.text(), /attackalert: Block requested for host: 198\.51\.100\.7 by hostsentry NewSource: user alice/);
    assert.match(readFileSync(deny, 'utf8'), /^ALL: 198\.51\.100\.7 : DENY$/m);
    const list = spawnSync(process.execPath, [PORTSENTRY, '-c', psConf, 'list'], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /198\.51\.100\.7/);

    // From an address on portsentry's ignore list: refused, and hostsentry says so.
    appendFileSync(wtmp, rec(102, 'alice', 'pts/3', '192.0.2.99', 3, 11));
    await waitFor(() => /could not hand 192\.0\.2\.99 to portsentry: .*ignore list/.test(hs.text()), 10_000, 'the refusal', () => hs.text() + ps.text());
    assert.doesNotMatch(readFileSync(deny, 'utf8'), /192\.0\.2\.99/);
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
