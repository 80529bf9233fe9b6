import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateError } from '@trisentry/shared';
import { BlockFiles, formatBlockedLine, parseBlockedLine, readBlocked, sanitizeHostName } from '../src/adapters/response/files.js';

const FILES_JS = new URL('../src/adapters/response/files.js', import.meta.url).href;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ps-files-'));
}

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v "$1"`, 'sh', cmd], { stdio: 'ignore' }).status === 0;
}

test('the line is 1.2 byte for byte in UTC and in New York (DST and standard time), seconds cut', () => {
  // 2023-11-14 22:13:20 UTC; New York is on EST (UTC-5) then.
  assert.equal(
    formatBlockedLine(1_700_000_000_999, 'scanner.example', '192.0.2.1', 80, 'TCP', 'UTC'),
    '1700000000 - 11/14/2023 22:13:20 Host: scanner.example/192.0.2.1 Port: 80 TCP Blocked\n',
  );
  assert.equal(
    formatBlockedLine(1_700_000_000_000, '192.0.2.1', '192.0.2.1', 80, 'TCP', 'America/New_York'),
    '1700000000 - 11/14/2023 17:13:20 Host: 192.0.2.1/192.0.2.1 Port: 80 TCP Blocked\n',
  );
  // 2023-07-22 04:26:40 UTC: EDT (UTC-4) gives 00:26:40 — midnight hour zero-padded, not "24".
  assert.equal(
    formatBlockedLine(1_690_000_000_000, 'h', '2001:db8::1', 53, 'UDP', 'America/New_York'),
    '1690000000 - 07/22/2023 00:26:40 Host: h/2001:db8::1 Port: 53 UDP Blocked\n',
  );
  // Every field that can be one digit, padded.
  const t = Date.UTC(2024, 0, 2, 3, 4, 5);
  assert.equal(formatBlockedLine(t, 'a', '198.51.100.9', 1, 'UDP', 'UTC'), `${t / 1000} - 01/02/2024 03:04:05 Host: a/198.51.100.9 Port: 1 UDP Blocked\n`);
});

test("the line equals C's printf with 1.2's format and localtime(3), in several zones, with and without the tz option", (t) => {
  if (!commandExists('cc')) {
    t.skip('needs a C compiler (cc) to build the reference printer');
    return;
  }
  const dir = tempDir();
  try {
    // The format string and fields of 1.2's WriteBlocked, printed by glibc.
    writeFileSync(
      join(dir, 'ref.c'),
      [
        '#include <stdio.h>',
        '#include <stdlib.h>',
        '#include <time.h>',
        'int main(int argc, char **argv) {',
        '  for (int i = 1; i < argc; i++) {',
        '    time_t now = (time_t) atoll(argv[i]);',
        '    struct tm *tm = localtime(&now);',
        '    printf("%ld - %02d/%02d/%04d %02d:%02d:%02d Host: %s/%s Port: %d %s Blocked\\n", (long) now, tm->tm_mon + 1,',
        '      tm->tm_mday, tm->tm_year + 1900, tm->tm_hour, tm->tm_min, tm->tm_sec, "n.example", "203.0.113.5", 8080, "TCP");',
        '  }',
        '  return 0;',
        '}',
        '',
      ].join('\n'),
    );
    execFileSync('cc', ['-o', join(dir, 'ref'), join(dir, 'ref.c')]);
    // New Year in several zones, both DST edges of 2024 in New York, a leap day, 1.2's own era.
    const epochs = [0, 946_684_799, 1_054_000_000, 1_709_164_800, 1_710_054_000, 1_710_054_001, 1_730_613_600, 1_735_689_599, 1_735_689_600, 2_000_000_000];
    for (const zone of ['UTC', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham']) {
      const ref = execFileSync(join(dir, 'ref'), epochs.map(String), { env: { TZ: zone }, encoding: 'utf8' });
      const ours = epochs.map((e) => formatBlockedLine(e * 1000 + 500, 'n.example', '203.0.113.5', 8080, 'TCP', zone)).join('');
      assert.equal(ours, ref, `tz option ${zone}`);
      // Without the option the process's local time is used, as 1.2 did: run in a child with TZ set.
      const child = execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { formatBlockedLine } from ${JSON.stringify(FILES_JS)};
           process.stdout.write(${JSON.stringify(epochs)}.map((e) => formatBlockedLine(e * 1000, 'n.example', '203.0.113.5', 8080, 'TCP')).join(''));`,
        ],
        { env: { ...process.env, TZ: zone }, encoding: 'utf8' },
      );
      assert.equal(child, ref, `process TZ ${zone}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hostile resolved name stays on one line, cut to 254 characters, and cannot hide the address', () => {
  const hostile = `$(touch /tmp/pwned)"'\`x\nFAKE 1 - 01/01/2000 00:00:00 Host: x/6.6.6.6 Port: 1 TCP Blocked\r\u2028\u001b[31m\u202e\u0000/6.6.6.6 Port: 9 TCP Blocked ${'A'.repeat(5000)}`;
  const line = formatBlockedLine(1_700_000_000_000, hostile, '192.0.2.44', 443, 'TCP', 'UTC');
  assert.equal(line.indexOf('\n'), line.length - 1, 'exactly one newline, at the end');
  assert.doesNotMatch(line.slice(0, -1), /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
  const rec = parseBlockedLine(line.slice(0, -1));
  assert.ok(rec);
  assert.equal(rec.ip, '192.0.2.44');
  assert.equal(rec.port, 443);
  assert.equal(rec.name.length, 254);
  assert.ok(line.startsWith('1700000000 - 11/14/2023 22:13:20 Host: $(touch /tmp/pwned)"\'`xFAKE 1'));
  // Nothing printable left: the address stands in, as 1.2 printed the address when it had no name.
  assert.equal(sanitizeHostName('\n\r\t\u0007', '192.0.2.1'), '192.0.2.1');
  // A cut never leaves half a surrogate pair behind.
  assert.equal(sanitizeHostName(`${'a'.repeat(253)}😀😀`, 'x'), 'a'.repeat(253));
});

test('reset empties BLOCKED_FILE.<mode> (0600); record appends to both; the history survives a reset', async () => {
  const dir = tempDir();
  try {
    const history = join(dir, 'portsentry.history');
    const blocked = join(dir, 'portsentry.blocked');
    writeFileSync(`${blocked}.atcp`, 'left over from the last run\n', { mode: 0o640 });
    const files = new BlockFiles({ historyFile: history, blockedFile: blocked, mode: 'atcp', tz: 'UTC' });
    assert.equal(files.blockedPath, `${blocked}.atcp`);
    await files.reset();
    assert.equal(readFileSync(`${blocked}.atcp`, 'utf8'), '');
    await files.record({ epochMs: 1_700_000_000_000, name: 'one.example', ip: '192.0.2.1', port: 21, proto: 'TCP' });
    await files.record({ epochMs: 1_700_000_001_000, name: '2001:db8::7', ip: '2001:DB8:0::7', port: 53, proto: 'UDP' });
    const expected =
      '1700000000 - 11/14/2023 22:13:20 Host: one.example/192.0.2.1 Port: 21 TCP Blocked\n' +
      '1700000001 - 11/14/2023 22:13:21 Host: 2001:db8::7/2001:db8::7 Port: 53 UDP Blocked\n';
    assert.equal(readFileSync(history, 'utf8'), expected);
    assert.equal(readFileSync(`${blocked}.atcp`, 'utf8'), expected);
    assert.equal(statSync(history).mode & 0o777, 0o600, 'created 0600');
    assert.equal(statSync(`${blocked}.atcp`).mode & 0o777, 0o640, "an existing file keeps the administrator's mode");

    await files.reset();
    assert.equal(readFileSync(`${blocked}.atcp`, 'utf8'), '');
    assert.equal(readFileSync(history, 'utf8'), expected, 'history is never emptied');
    await files.record({ epochMs: 1_700_000_002_000, name: 'x', ip: '198.51.100.1', port: 1, proto: 'TCP' });
    assert.equal(readFileSync(history, 'utf8').split('\n').length, 4);

    // The same BLOCKED_FILE under another mode is another file.
    const udp = new BlockFiles({ blockedFile: blocked, mode: 'sudp' });
    await udp.reset();
    assert.equal(statSync(`${blocked}.sudp`).mode & 0o777, 0o600, 'created 0600');
    assert.equal(udp.historyPath, undefined);

    await assert.rejects(files.record({ epochMs: 0, name: 'x', ip: '1.2.3.4; rm -rf /', port: 1, proto: 'TCP' }), { code: 'NET_BAD_ADDRESS' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing directory is FileStateError FS_WRITE naming the path, and the other file is still written', async () => {
  const dir = tempDir();
  try {
    const missing = join(dir, 'no', 'such', 'dir', 'portsentry.blocked');
    const history = join(dir, 'portsentry.history');
    const files = new BlockFiles({ historyFile: history, blockedFile: missing, mode: 'tcp' });
    await assert.rejects(files.reset(), (e: unknown) => {
      assert.ok(e instanceof FileStateError);
      assert.equal(e.code, 'FS_WRITE');
      assert.equal(e.path, `${missing}.tcp`);
      assert.match(e.message, /no\/such\/dir\/portsentry\.blocked\.tcp: .*directory does not exist/);
      return true;
    });
    await assert.rejects(files.record({ epochMs: 1_700_000_000_000, name: 'n', ip: '192.0.2.1', port: 1, proto: 'TCP' }), (e: unknown) => {
      assert.ok(e instanceof FileStateError);
      assert.equal(e.code, 'FS_WRITE');
      assert.equal(e.path, `${missing}.tcp`);
      return true;
    });
    assert.equal(readFileSync(history, 'utf8').split('\n').length, 2, 'the history line was written anyway');

    const both = new BlockFiles({ historyFile: join(dir, 'nope', 'h'), blockedFile: join(dir, 'nope', 'b'), mode: 'udp' });
    await assert.rejects(both.record({ epochMs: 0, name: 'n', ip: '192.0.2.1', port: 1, proto: 'UDP' }), /nope\/b\.udp: .*; also .*nope\/h: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readBlocked: the addresses of record lines, garbage counted, a missing file empty', () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'blocked.tcp');
    assert.equal(readBlocked(p).size, 0);
    writeFileSync(
      p,
      [
        '1700000000 - 11/14/2023 22:13:20 Host: a.example/192.0.2.1 Port: 80 TCP Blocked',
        'garbage',
        '1700000000 - 11/14/2023 22:13:20 Host: evil/10.0.0.1 Port: 1 TCP Blocked/x/192.0.2.2 Port: 81 UDP Blocked',
        '1700000000 - 11/14/2023 22:13:20 Host: 2001:DB8::0:1/2001:DB8::0:1 Port: 80 TCP Blocked',
        '1700000000 - 11/14/2023 22:13:20 Host: x/300.1.1.1 Port: 80 TCP Blocked',
        '1700000000 - 11/14/2023 22:13:20 Host: x/192.0.2.9 Port: 99999 TCP Blocked',
        '1700000000 - 11/14/2023 22:13:20 Host: no-slash Port: 80 TCP Blocked',
        '',
        '\u0000\u00ff binary',
        '1700000000 - 11/14/2023 22:13:20 Host: a.example/192.0.2.1 Port: 81 TCP Blocked',
      ].join('\n'),
    );
    const set = readBlocked(p);
    assert.deepEqual([...set].sort(), ['192.0.2.1', '192.0.2.2', '2001:db8::1']);
    assert.equal(set.garbageLines, 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('removeBlocked drops every line of one address (any spelling) atomically and keeps the rest', async () => {
  const dir = tempDir();
  try {
    const files = new BlockFiles({ blockedFile: join(dir, 'portsentry.blocked'), mode: 'stcp', tz: 'UTC' });
    assert.equal(await files.removeBlocked('192.0.2.1'), 0, 'no file: nothing to remove');
    await files.reset();
    await files.record({ epochMs: 1_700_000_000_000, name: 'a', ip: '2001:db8::1', port: 1, proto: 'TCP' });
    await files.record({ epochMs: 1_700_000_000_000, name: 'b', ip: '192.0.2.1', port: 2, proto: 'TCP' });
    await files.record({ epochMs: 1_700_000_000_000, name: 'c', ip: '2001:db8::1', port: 3, proto: 'TCP' });
    writeFileSync(files.blockedPath!, 'a garbage line stays\n', { flag: 'a' });
    assert.equal(await files.removeBlocked('2001:DB8:0:0::1'), 2);
    assert.equal(
      readFileSync(files.blockedPath!, 'utf8'),
      '1700000000 - 11/14/2023 22:13:20 Host: b/192.0.2.1 Port: 2 TCP Blocked\na garbage line stays\n',
    );
    assert.equal(statSync(files.blockedPath!).mode & 0o777, 0o600);
    assert.equal(await files.removeBlocked('198.51.100.1'), 0);
    await assert.rejects(files.removeBlocked('not-an-ip'), { code: 'NET_BAD_ADDRESS' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two processes appending at once never interleave inside a line', async () => {
  const dir = tempDir();
  try {
    const history = join(dir, 'history');
    const N = 400;
    const writer = (tag: string): Promise<number | null> =>
      new Promise((resolve) => {
        const child = spawn(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `import { BlockFiles } from ${JSON.stringify(FILES_JS)};
             const f = new BlockFiles({ historyFile: ${JSON.stringify(history)}, mode: 'tcp' });
             const name = ${JSON.stringify(tag)}.repeat(200);
             const all = [];
             for (let i = 0; i < ${N}; i++) all.push(f.record({ epochMs: Date.now(), name, ip: '192.0.2.' + (i % 250 + 1), port: i + 1, proto: 'TCP' }));
             await Promise.all(all);`,
          ],
          { stdio: 'inherit' },
        );
        child.on('exit', (code) => resolve(code));
      });
    const codes = await Promise.all([writer('a'), writer('b')]);
    assert.deepEqual(codes, [0, 0]);
    const lines = readFileSync(history, 'utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 2 * N);
    const seen = { a: new Set<number>(), b: new Set<number>() };
    for (const l of lines) {
      const rec = parseBlockedLine(l);
      assert.ok(rec, `torn line: ${l.slice(0, 80)}`);
      assert.match(rec.name, /^(a{200}|b{200})$/);
      seen[rec.name[0] as 'a' | 'b'].add(rec.port);
    }
    assert.equal(seen.a.size, N);
    assert.equal(seen.b.size, N);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The extracted Debian fail2ban package: its fail2ban-regex, filter and python package dir. */
function findFail2ban(): { regex: string; filter: string; pythonPath: string; python: string } | string {
  const root = process.env.TRISENTRY_FAIL2BAN_ROOT ?? '/opt/trisentry-ref/fail2ban';
  const regex = join(root, 'usr/bin/fail2ban-regex');
  const filter = join(root, 'etc/fail2ban/filter.d/portsentry.conf');
  const pythonPath = join(root, 'usr/lib/python3/dist-packages');
  if (!existsSync(regex) || !existsSync(filter) || !existsSync(join(pythonPath, 'fail2ban'))) {
    return `fail2ban is not extracted under ${root} (run scripts/install-reference-tools as root)`;
  }
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  if (spawnSync(python, ['--version'], { stdio: 'ignore' }).status !== 0) return 'python3 is not installed';
  return { regex, filter, pythonPath, python };
}

test("fail2ban's stock portsentry filter matches every history line and takes the right address", async (t) => {
  const f2b = findFail2ban();
  if (typeof f2b === 'string') {
    t.skip(f2b);
    return;
  }
  const dir = tempDir();
  try {
    const history = join(dir, 'portsentry.history');
    const files = new BlockFiles({ historyFile: history, mode: 'atcp' });
    const entries = [
      { name: 'scanner.example.net', ip: '192.0.2.10', port: 1, proto: 'TCP' as const },
      { name: '198.51.100.20', ip: '198.51.100.20', port: 65535, proto: 'UDP' as const },
      { name: '2001:db8::30', ip: '2001:db8::30', port: 8080, proto: 'TCP' as const },
      { name: 'evil/6.6.6.6 Port: 1 TCP Blocked\n1 - x Host: y/7.7.7.7 Port: 2 UDP Blocked', ip: '203.0.113.40', port: 22, proto: 'TCP' as const },
      { name: `$(touch ${dir}/pwned) "quoted" ${'z'.repeat(5000)}`, ip: '203.0.113.50', port: 23, proto: 'UDP' as const },
    ];
    const base = Date.now() - 60_000;
    for (const [i, e] of entries.entries()) await files.record({ epochMs: base + i * 1000, ...e });
    const env = { ...process.env, PYTHONPATH: f2b.pythonPath };
    const summary = execFileSync(f2b.python, [f2b.regex, history, f2b.filter], { env, encoding: 'utf8' });
    const m = /Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed/.exec(summary);
    assert.ok(m, `no summary in fail2ban-regex output:\n${summary}`);
    assert.deepEqual(m.slice(1).map(Number), [entries.length, 0, entries.length, 0], summary);
    const ips = execFileSync(f2b.python, [f2b.regex, '-o', 'ip', history, f2b.filter], { env, encoding: 'utf8' });
    assert.deepEqual(ips.trim().split('\n'), entries.map((e) => e.ip));
    assert.equal(existsSync(join(dir, 'pwned')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
