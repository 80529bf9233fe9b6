// End to end: the real `logsentry` CLI over real log files (appended, rotated) mailing a real SMTP
// server on loopback. Every reportable line reaches the administrator exactly once: across a mail
// outage (the report is spooled and sent first by the next run), across a rotation, with -t
// (nothing advances), and a run that finds the lock held does nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';

const CLI = fileURLToPath(new URL('../../bin/logsentry.js', import.meta.url));

interface Mail {
  readonly subject: string;
  readonly body: string;
}

let dir = '';
let port = 0;
let server: SMTPServer | undefined;
const mails: Mail[] = [];

function startServer(p = 0): Promise<number> {
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const [head, ...rest] = raw.split('\r\n\r\n');
        const subject = /^Subject: (.*)$/im.exec(head ?? '')?.[1] ?? '';
        let body = rest.join('\r\n\r\n').replace(/\r\n/g, '\n');
        const cte = /^Content-Transfer-Encoding: (\S+)/im.exec(head ?? '')?.[1]?.toLowerCase();
        if (cte === 'quoted-printable') body = Buffer.from(body.replace(/=\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
        else if (cte === 'base64') body = Buffer.from(body, 'base64').toString('utf8');
        mails.push({ subject, body });
        callback();
      });
    },
  });
  return new Promise((resolve) => server!.listen(p, '127.0.0.1', () => resolve((server!.server.address() as AddressInfo).port)));
}

function stopServer(): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

const LOG = (): string => join(dir, 'syslog');

/** Runs the CLI without blocking this process's event loop (the SMTP server lives here). */
function run(...args: string[]): Promise<{ status: number | null; out: string; err: string }> {
  return runWith(join(dir, 'logsentry.yaml'), ...args);
}

/** {@link run} with another config file. */
function runWith(cfg: string, ...args: string[]): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, '-c', cfg, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', (status) => resolve({ status, out, err }));
  });
}

/** Every report line (not intro, titles or underlines) in the mails so far. */
function reportedLines(): string[] {
  return mails.flatMap((m) => m.body.split('\n').filter((l) => /^Nov \d\d /.test(l)));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ls-run-'));
  const rules = join(dir, 'rules');
  for (const d of ['cracking.d', 'violations.d', 'violations.ignore.d', 'ignore.d.paranoid', 'ignore.d.server', 'ignore.d.workstation']) mkdirSync(join(rules, d), { recursive: true });
  writeFileSync(join(rules, 'cracking.d', 'test'), '^\\w{3} [ :0-9]{11} [._[:alnum:]-]+ evil\\[[0-9]+\\]: rootkit .*$\n');
  writeFileSync(join(rules, 'violations.d', 'test'), '^\\w{3} [ :0-9]{11} [._[:alnum:]-]+ sshd\\[[0-9]+\\]: Failed password .*$\n');
  writeFileSync(join(rules, 'ignore.d.server', 'test'), '^\\w{3} [ :0-9]{11} [._[:alnum:]-]+ CRON\\[[0-9]+\\]: .*$\n');
  writeFileSync(join(dir, 'logfiles'), `${LOG()}\n`);
  port = await startServer();
  writeFileSync(
    join(dir, 'logsentry.yaml'),
    [
      'report:',
      '  level: server',
      '  subject:',
      '    hostname: testhost',
      'rules:',
      `  dir: ${rules}`,
      'inputs:',
      `  list_files: [${join(dir, 'logfiles')}]`,
      '  list_dirs: []',
      '  journal: "off"',
      'mail:',
      '  transport: smtp',
      '  to: [admin@example.org]',
      '  from: logsentry@testhost',
      '  smtp:',
      '    host: 127.0.0.1',
      `    port: ${port}`,
      `state_dir: ${join(dir, 'state')}`,
      `lock_file: ${join(dir, 'lock')}`,
      '',
    ].join('\n'),
  );
});

after(async () => {
  await stopServer();
  rmSync(dir, { recursive: true, force: true });
});

test('a run mails the report: subject names the worst level, sections as logcheck', async () => {
  writeFileSync(
    LOG(),
    'Nov 21 10:00:01 testhost evil[1]: rootkit installed\n' +
      'Nov 21 10:00:02 testhost sshd[2]: Failed password for root from 192.0.2.9 port 22 ssh2\n' +
      'Nov 21 10:00:03 testhost CRON[3]: (root) CMD (true)\n' +
      'Nov 21 10:00:04 testhost kernel: something unusual\n',
  );
  const r = await run();
  assert.equal(r.status, 0, r.err);
  assert.equal(mails.length, 1);
  assert.match(mails[0]!.subject, /^testhost \d{4}-\d\d-\d\d \d\d:\d\d [+-]\d{4} Security Alerts$/);
  const body = mails[0]!.body;
  assert.match(body, /Security Alerts for test\n=-=-=-=-=-=-=-=-=-=-=-=-\nNov 21 10:00:01 testhost evil\[1\]: rootkit installed\n/);
  assert.match(body, /Security Events for test\n=-=-=-=-=-=-=-=-=-=-=-=-\nNov 21 10:00:02 testhost sshd\[2\]/);
  assert.match(body, /System Events\n=-=-=-=-=-=-=\nNov 21 10:00:04 testhost kernel: something unusual\n/);
  assert.doesNotMatch(body, /CRON/);
  // Nothing new: nothing sent.
  assert.equal((await run()).status, 0);
  assert.equal(mails.length, 1);
});

test('mail down: the run fails, the report is spooled, the next run sends it first, once', async () => {
  appendFileSync(LOG(), 'Nov 21 11:00:01 testhost kernel: during the outage A\nNov 21 11:00:02 testhost kernel: during the outage B\n');
  await stopServer();
  const r = await run();
  assert.equal(r.status, 75, `LS_SMTP_UNREACHABLE is 75: ${r.err}`);
  assert.match(r.err, /LS_SMTP_UNREACHABLE|unreachable|ECONNREFUSED/i);
  assert.equal(readdirSync(join(dir, 'state', 'spool')).filter((f) => !f.startsWith('.')).length, 1, 'the report waits in the spool');
  // More lines arrive, and the log is rotated (rename and create) before the next run.
  appendFileSync(LOG(), 'Nov 21 11:30:00 testhost kernel: before the rotation\n');
  renameSync(LOG(), `${LOG()}.1`);
  writeFileSync(LOG(), 'Nov 21 12:00:01 testhost kernel: after the rotation\n');
  await startServer(port);
  const r2 = await run();
  assert.equal(r2.status, 0, r2.err);
  assert.equal(mails.length, 3, 'the spooled report, then the new one');
  const lines = reportedLines();
  assert.deepEqual(
    lines.filter((l) => !l.includes('rootkit') && !l.includes('sshd') && !l.includes('something unusual')),
    [
      'Nov 21 11:00:01 testhost kernel: during the outage A',
      'Nov 21 11:00:02 testhost kernel: during the outage B',
      'Nov 21 11:30:00 testhost kernel: before the rotation',
      'Nov 21 12:00:01 testhost kernel: after the rotation',
    ],
    'every line once, in order, across the outage and the rotation',
  );
  assert.deepEqual(readdirSync(join(dir, 'state', 'spool')).filter((f) => !f.startsWith('.')), [], 'the spool is empty again');
});

test('-t reports without advancing; -o prints instead of mailing; a held lock makes a run do nothing', async () => {
  appendFileSync(LOG(), 'Nov 21 13:00:00 testhost kernel: seen by -t\n');
  const before = mails.length;
  for (let i = 0; i < 2; i++) {
    const r = await run('-o', '-t');
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /seen by -t/, 'reported again: -t advanced nothing');
  }
  const r = await run('-o');
  assert.match(r.out, /seen by -t/);
  assert.equal((await run('-o')).out, '', 'advanced now');
  assert.equal(mails.length, before, '-o mailed nothing');

  writeFileSync(join(dir, 'lock'), `${process.pid}\n`);
  appendFileSync(LOG(), 'Nov 21 14:00:00 testhost kernel: waits for the lock\n');
  const locked = await run('-o');
  assert.equal(locked.status, 75, locked.err);
  assert.match(locked.err, /another logsentry run holds this lock/);
  rmSync(join(dir, 'lock'));
  assert.match((await run('-o')).out, /waits for the lock/, 'nothing was lost to the locked run');
});

test('-t over a backlog bigger than one batch goes through it all, every line once, and ends; the state is left as it was', async () => {
  // A config whose batches are 4 KB: the backlog below is about 30 of them.
  const cfg = join(dir, 'small-batches.yaml');
  const fsSync = await import('node:fs');
  const base = fsSync.readFileSync(join(dir, 'logsentry.yaml'), 'utf8');
  writeFileSync(cfg, base.replace('  journal: "off"\n', '  journal: "off"\n  batch_bytes: 4096\n'));
  // Every state file with its content (none at all when the directory is not there yet).
  const stateFiles = (): string[] => {
    const st = join(dir, 'state');
    const { existsSync, readFileSync, statSync } = fsSync;
    if (!existsSync(st)) return [];
    return readdirSync(st)
      .sort()
      .map((n) => (statSync(join(st, n)).isFile() ? `${n}: ${readFileSync(join(st, n), 'latin1')}` : `${n}/`));
  };
  const stateBefore = stateFiles();
  const sent = Array.from({ length: 2000 }, (_, i) => `Nov 21 15:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} testhost kernel: backlog line ${i}`);
  appendFileSync(LOG(), `${sent.join('\n')}\n`);
  const count = (out: string): Map<string, number> => {
    const m = new Map<string, number>();
    for (const l of out.split('\n')) if (l.includes('backlog line')) m.set(l, (m.get(l) ?? 0) + 1);
    return m;
  };
  const t = await runWith(cfg, '-o', '-t');
  assert.equal(t.status, 0, t.err);
  const seen = count(t.out);
  assert.equal(seen.size, sent.length, 'every backlog line reported');
  assert.ok([...seen.values()].every((c) => c === 1), 'none twice');
  assert.ok(t.out.split('System Events\n').length - 1 > 1, 'in several reports (batches)');
  assert.deepEqual(stateFiles(), stateBefore, '-t wrote nothing into the state directory');
  // A real run then reports the same backlog, once, and advances.
  const r = await runWith(cfg, '-o');
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(count(r.out), seen);
  assert.equal((await runWith(cfg, '-o')).out, '', 'advanced');
});
