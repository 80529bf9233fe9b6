import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const CLI = join(ROOT, 'trisentry', 'bin', 'trisentry.js');

function run(args: string[], opts: { uid?: number; env?: NodeJS.ProcessEnv } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, uid: opts.uid, gid: opts.uid, env: opts.env ?? process.env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A temp suite: trisentry.yaml + a portsentry.conf on high ports, state under the same dir. */
function suite(extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'ts-cli-'));
  chmodSync(dir, 0o755);
  const port = 42000 + Math.floor(Math.random() * 900);
  writeFileSync(
    join(dir, 'portsentry.conf'),
    `TCP_PORTS="${port}"\nUDP_PORTS="${port}"\nIGNORE_FILE="portsentry.ignore"\nBLOCK_TCP="0"\nBLOCK_UDP="0"\nSCAN_TRIGGER="0"\nSTATE_FILE="state/portsentry.state.json"\n`,
  );
  writeFileSync(join(dir, 'portsentry.ignore'), '127.0.0.1\n');
  // hostsentry follows a wtmp of the test's own (empty until a login is appended) and logs to stderr.
  writeFileSync(join(dir, 'wtmp'), '');
  writeFileSync(
    join(dir, 'hostsentry.yaml'),
    `database: ${join(dir, 'state', 'hostsentry', 'history')}\ninputs:\n  wtmp:\n    path: ${join(dir, 'wtmp')}\n  utmp:\n    enabled: false\n  wtmpdb:\n    enabled: false\n  sshd:\n    source: off\nresponses:\n  syslog:\n    sinks: [stderr]\n`,
  );
  writeFileSync(
    join(dir, 'trisentry.yaml'),
    `state_dir: state\nsyslog:\n  sinks: [stderr]\nsentries:\n  portsentry:\n    args: [-tcp, -udp]\n  logsentry:\n    enabled: false\n  hostsentry:\n    enabled: true\nrestart:\n  backoff: 1s\n${extra}`,
  );
  return dir;
}

async function waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function collect(child: ChildProcess): { text: () => string } {
  let buf = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (buf += d));
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => (buf += d));
  return { text: () => buf };
}

function exited(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((res, rej) => {
    if (child.exitCode !== null) return res(child.exitCode);
    const t = setTimeout(() => rej(new Error('process did not exit')), ms);
    child.once('exit', (code) => {
      clearTimeout(t);
      res(code);
    });
  });
}

test('check-config accepts the shipped defaults', () => {
  const r = run(['-c', join(ROOT, 'etc', 'trisentry.yaml'), 'check-config']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /etc\/trisentry\.yaml: ok/);
  assert.match(r.stdout, /portsentry: .*etc\/portsentry\.conf: ok/);
  assert.match(r.stdout, /logsentry: .*etc\/logsentry\.yaml: ok/);
  assert.match(r.stdout, /hostsentry: .*etc\/hostsentry\.yaml: ok/);
});

test('check-config finds a bad logsentry or hostsentry config through the suite config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-cli-'));
  try {
    writeFileSync(join(dir, 'trisentry.yaml'), `sentries:\n  portsentry:\n    config: ${join(ROOT, 'etc', 'portsentry.conf')}\n`);
    writeFileSync(join(dir, 'logsentry.yaml'), 'report:\n  level: paranoidd\n');
    writeFileSync(join(dir, 'hostsentry.yaml'), 'learning_period: soon\n');
    const r = run(['-c', join(dir, 'trisentry.yaml'), 'check-config']);
    assert.equal(r.status, 78);
    assert.match(r.stderr, new RegExp(`${join(dir, 'logsentry.yaml')}:2:10: report\\.level: .*paranoid`));
    assert.match(r.stderr, new RegExp(`${join(dir, 'hostsentry.yaml')}:1:18: learning_period: .*\\[CFG_BAD_DURATION\\]`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check-config names file:line:col and key for each problem, exit 78', () => {
  const dir = suite('bogus: 1\n');
  try {
    writeFileSync(join(dir, 'trisentry.local.yaml'), 'restart:\n  window: 10 minutes\n');
    const r = run(['-c', join(dir, 'trisentry.yaml'), 'check-config']);
    assert.equal(r.status, 78);
    assert.match(r.stderr, new RegExp(`${join(dir, 'trisentry.yaml')}:13:1: bogus: unknown key`));
    assert.match(r.stderr, new RegExp(`${join(dir, 'trisentry.local.yaml')}:2:11: restart.window: .*\\[CFG_BAD_DURATION\\]`));
    // A bad portsentry.conf is found through the suite config too.
    const ok = suite();
    writeFileSync(join(ok, 'portsentry.conf'), 'TCP_PORTS="1,2"\nBLOCK_TPC="1"\n');
    const r2 = run(['-c', join(ok, 'trisentry.yaml'), 'check-config']);
    assert.equal(r2.status, 78);
    assert.match(r2.stderr, /portsentry\.conf:2:1: BLOCK_TPC: unknown key.*did you mean "BLOCK_TCP"/);
    rmSync(ok, { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors exit 64', () => {
  assert.equal(run(['frobnicate']).status, 64);
  assert.equal(run([]).status, 64);
  assert.equal(run(['--help']).status, 0);
});

test('start runs the sentries, status reports them, SIGHUP reloads, SIGTERM stops cleanly', async () => {
  const dir = suite();
  const cfg = join(dir, 'trisentry.yaml');
  const child = spawn(process.execPath, [CLI, '-c', cfg, 'start'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(child);
  try {
    await waitFor(() => out.text().includes('PortSentry is now active and listening.'), 10_000, 'portsentry to listen');
    await waitFor(() => /hostsentry: .*started: following /.test(out.text()), 10_000, 'hostsentry to start');
    let st = run(['-c', cfg, 'status']);
    assert.equal(st.status, 0, st.stdout + st.stderr);
    assert.match(st.stdout, /^trisentry: running, pid \d+/);
    assert.match(st.stdout, /portsentry\s+running\s+pid \d+/);
    assert.match(st.stdout, /logsentry\s+disabled/);
    assert.match(st.stdout, /hostsentry\s+running\s+pid \d+/);
    const psPid = Number(/portsentry\s+running\s+pid (\d+)/.exec(st.stdout)![1]);

    // Reload: a .local.yaml disables hostsentry; portsentry keeps running (and reloads its own config).
    writeFileSync(join(dir, 'trisentry.local.yaml'), 'sentries:\n  hostsentry:\n    enabled: false\n');
    child.kill('SIGHUP');
    await waitFor(() => out.text().includes('configuration reloaded from'), 10_000, 'suite reload');
    await waitFor(() => out.text().includes('portsentry: ') && /portsentry: .*configuration reloaded from/.test(out.text()), 10_000, 'portsentry reload via SIGHUP');
    st = run(['-c', cfg, 'status']);
    assert.match(st.stdout, /hostsentry\s+disabled/);
    assert.match(st.stdout, new RegExp(`portsentry\\s+running\\s+pid ${psPid}\\b`), 'portsentry was not restarted by the reload');

    // A broken reload keeps the running configuration.
    writeFileSync(join(dir, 'trisentry.local.yaml'), 'sentries:\n  hostsentry:\n    enabled: maybe\n');
    child.kill('SIGHUP');
    await waitFor(() => out.text().includes('reload failed, keeping the running configuration'), 10_000, 'reload failure');
    assert.match(out.text(), /trisentry\.local\.yaml:3:14: sentries\.hostsentry\.enabled/);

    child.kill('SIGTERM');
    assert.equal(await exited(child, 15_000), 0);
    assert.match(out.text(), /portsentry: .*securityalert: PortSentry is shutting down/);
    assert.throws(() => process.kill(psPid, 0), 'the portsentry child is gone');
    rmSync(join(dir, 'trisentry.local.yaml'));
    st = run(['-c', cfg, 'status']);
    assert.equal(st.status, 3);
    assert.match(st.stdout, /not running \(last state stopped\)/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with no sentry able to run, start says so and exits 69', async () => {
  const dir = suite();
  try {
    writeFileSync(join(dir, 'trisentry.local.yaml'), 'sentries:\n  portsentry:\n    enabled: false\n  hostsentry:\n    enabled: false\n');
    const child = spawn(process.execPath, [CLI, '-c', join(dir, 'trisentry.yaml'), 'start'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = collect(child);
    assert.equal(await exited(child, 15_000), 69);
    assert.match(out.text(), /no sentry is running \(portsentry disabled, logsentry disabled, hostsentry disabled\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the main job starts as an unprivileged user and says what it cannot do', { skip: process.getuid?.() !== 0 ? 'needs root to switch to the nobody user' : false }, async () => {
  const dir = suite();
  try {
    // Watch a port below 1024 too: an unprivileged user cannot bind it, and must be told why.
    const conf = join(dir, 'portsentry.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/TCP_PORTS="(\d+)"/, 'TCP_PORTS="$1,79"'));
    const home = join(dir, 'home');
    spawnSync('install', ['-d', '-o', 'nobody', home]);
    writeFileSync(join(dir, 'trisentry.local.yaml'), `state_dir: ${join(home, 'state')}\n`);
    const child = spawn(process.execPath, [CLI, '-c', join(dir, 'trisentry.yaml'), 'start'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: 65534,
      gid: 65534,
      env: { PATH: process.env['PATH'], HOME: home },
    });
    const out = collect(child);
    try {
      await waitFor(() => out.text().includes('PortSentry is now active and listening.'), 10_000, 'portsentry to listen as nobody');
      assert.match(out.text(), /running without root: .*cannot watch ports below 1024, capture packets or block/);
      assert.match(out.text(), /could not bind TCP socket: 79\. Attempting to continue/);
      assert.match(out.text(), /TCP port 79 needs root or CAP_NET_BIND_SERVICE/);
      child.kill('SIGTERM');
      assert.equal(await exited(child, 15_000), 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a sentry started by the suite gets the node flags of its bin script\'s shebang (logsentry\'s young generation)', async () => {
  const { sentryArgv } = await import('../src/paths.js');
  const argv = sentryArgv('logsentry');
  const bin = argv[argv.length - 1]!;
  const shebang = readFileSync(bin, 'utf8').split('\n')[0]!;
  assert.match(shebang, /--max-semi-space-size=32/);
  assert.deepEqual(argv, [process.execPath, '--max-semi-space-size=32', bin]);
  // Those flags really start node.
  const r = spawnSync(argv[0]!, [...argv.slice(1), '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /usage: logsentry/);
});
