// The hostsentry daemon as it runs: the real CLI following a real wtmp built by util-linux's
// utmpdump -r. A first start learns the wtmp already there without alerting; a login appended while it
// runs is judged within a second; the command response gets exactly the parsed address; a record
// appended while it is stopped is read once after the restart; a rotated wtmp loses nothing; a host
// name with control characters never breaks a log line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasUtmpdump, utmpdumpR, utmpLine } from './utmpdump.js';

const CLI = fileURLToPath(new URL('../../bin/hostsentry.js', import.meta.url));

const rec = utmpLine;
const wtmpBytes = utmpdumpR;

interface Running {
  child: ChildProcess;
  text: () => string;
  lines: () => string[];
}

function start(conf: string): Running {
  const child = spawn(process.execPath, [CLI, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
  let buf = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (buf += d));
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => (buf += d));
  return { child, text: () => buf, lines: () => buf.split('\n').filter(Boolean) };
}

async function waitFor(pred: () => boolean, ms: number, what: string, show: () => string): Promise<number> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}; output:\n${show()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

async function stop(r: Running): Promise<number | null> {
  if (r.child.exitCode !== null) return r.child.exitCode;
  const done = new Promise<number | null>((res) => r.child.once('exit', (code) => res(code)));
  r.child.kill('SIGTERM');
  return done;
}

const anomalies = (r: Running): string[] => r.lines().filter((l) => /(securityalert|attackalert): hostsentry: \w+:/.test(l));

test('the daemon follows a live wtmp: learns, judges new logins within a second, survives restart and rotation', { skip: hasUtmpdump() ? false : 'needs utmpdump (util-linux)', timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hs-daemon-'));
  const running: Running[] = [];
  try {
    const wtmp = join(dir, 'wtmp');
    let text = '';
    for (let day = 1; day <= 10; day++) {
      text += rec(7, 2000 + day, 'alice', 'pts/1', '192.0.2.10', day, 9, 5);
      text += rec(8, 2000 + day, '', 'pts/1', '', day, 17, 30);
    }
    writeFileSync(wtmp, wtmpBytes(text));
    const argvLog = join(dir, 'argv.log');
    const script = join(dir, 'record-argv');
    writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$#" "$@" >> '${argvLog}'\n`);
    chmodSync(script, 0o755);
    const conf = join(dir, 'hostsentry.yaml');
    writeFileSync(
      conf,
      [
        `database: ${join(dir, 'db', 'history')}`,
        'inputs:',
        `  wtmp: { path: ${wtmp} }`,
        '  utmp: { enabled: false }',
        '  wtmpdb: { enabled: false }',
        '  sshd: { source: "off" }',
        // This host's real homes are not the test's business (the home checks have their own test below).
        'modules:',
        '  history_truncated: { enabled: false }',
        '  history_suspicious: { enabled: false }',
        '  rhosts_check: { enabled: false }',
        '  odd_dirnames: { enabled: false }',
        'responses:',
        '  syslog: { sinks: [stderr] }',
        `  command: { template: "${script} $TARGET$", min_severity: medium }`,
        '',
      ].join('\n'),
    );

    // First start: ten days are learned, nothing is answered.
    let d = start(conf);
    running.push(d);
    await waitFor(() => d.text().includes('started: following'), 10_000, 'the start', d.text);
    assert.match(d.text(), /first start: learned 20 login records and 0 sshd lines already on disk \(0 anomalies in them not answered/);
    assert.deepEqual(anomalies(d), []);

    // Day 11: at the office and still logged in; 03:00 next night from a new network.
    appendFileSync(wtmp, wtmpBytes(rec(7, 3000, 'alice', 'pts/1', '192.0.2.10', 11, 9, 0) + rec(7, 3001, 'alice', 'pts/2', '198.51.100.7', 12, 3, 0)));
    const ms = await waitFor(() => anomalies(d).length >= 3, 5_000, 'three anomalies', d.text);
    assert.ok(ms <= 1000, `the appended login was judged after ${ms} ms, not within a second`);
    const mods = anomalies(d).map((l) => /hostsentry: (\w+):/.exec(l)?.[1]).sort();
    assert.deepEqual(mods, ['MultipleLogins', 'NewSource', 'OddLoginTime']);
    for (const l of anomalies(d)) assert.match(l, /user alice on pts\/2 from 198\.51\.100\.7 at 2026-11-12T03:00:00Z/);
    // The command got exactly one argument, the parsed address, once per anomaly of medium or more.
    await waitFor(() => existsSync(argvLog) && readFileSync(argvLog, 'utf8').split('\n').filter(Boolean).length >= 4, 5_000, 'the commands', d.text);
    await waitFor(() => (d.text().match(/External command run/g) ?? []).length >= 2, 5_000, 'the command lines', d.text);
    assert.equal(readFileSync(argvLog, 'utf8'), '1\n198.51.100.7\n1\n198.51.100.7\n', 'NewSource and MultipleLogins (medium) ran it; OddLoginTime (low) did not');

    assert.equal(await stop(d), 0);
    assert.match(d.text(), /stopped: 22 records, 3 anomalies, 0 bad records/);

    // Appended while stopped: read once after the restart; nothing before it is judged again.
    appendFileSync(wtmp, wtmpBytes(rec(7, 3100, 'alice', 'pts/3', '203.0.113.5', 12, 10, 0)));
    d = start(conf);
    running.push(d);
    await waitFor(() => anomalies(d).length >= 1 && d.text().includes('started: following'), 10_000, 'the record appended while stopped', d.text);
    assert.doesNotMatch(d.text(), /first start/);
    assert.equal(anomalies(d).filter((l) => l.includes('203.0.113.5')).length, anomalies(d).length);
    assert.ok(anomalies(d).some((l) => /NewSource: user alice on pts\/3 from 203\.0\.113\.5/.test(l)), d.text());

    // Rotation: the old file moves to wtmp.1 and a new one starts; a login in each is read once.
    const before = anomalies(d).length;
    appendFileSync(wtmp, wtmpBytes(rec(7, 3200, 'alice', 'pts/4', '100.64.1.1', 12, 11, 0)));
    renameSync(wtmp, `${wtmp}.1`);
    writeFileSync(wtmp, wtmpBytes(rec(7, 3300, 'alice', 'pts/5', '100.65.1.1', 12, 11, 5)));
    await waitFor(() => anomalies(d).some((l) => l.includes('100.64.1.1')) && anomalies(d).some((l) => l.includes('100.65.1.1')), 5_000, 'both sides of the rotation', d.text);
    await new Promise((r) => setTimeout(r, 1200));
    const after = anomalies(d).slice(before);
    assert.equal(after.filter((l) => /NewSource: .*100\.64\.1\.1/.test(l)).length, 1, after.join('\n'));
    assert.equal(after.filter((l) => /NewSource: .*100\.65\.1\.1/.test(l)).length, 1, after.join('\n'));

    // A host name with a newline and an escape sequence: escaped, every line still one log line.
    const hostile = Buffer.from(wtmpBytes(rec(7, 3400, 'alice', 'pts/6', 'x', 12, 11, 10)));
    Buffer.from('evil\n\x1b[31mhost.example\x07', 'latin1').copy(hostile, 76);
    appendFileSync(wtmp, hostile);
    await waitFor(() => anomalies(d).some((l) => l.includes('evil')), 5_000, 'the hostile record', d.text);
    const evil = anomalies(d).filter((l) => l.includes('evil'));
    for (const l of evil) {
      assert.doesNotMatch(l, /[\x00-\x08\x0a-\x1f\x7f]/, 'no control character reaches a log line');
      assert.match(l, /on pts\/6 from evil#012#033\[31mhost\.example#007 at /);
    }
    assert.equal(await stop(d), 0);
  } finally {
    for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
