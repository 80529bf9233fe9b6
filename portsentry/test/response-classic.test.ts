import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAddress, parseCommandTemplate } from '@trisentry/shared';
import { runClassicResponses, type ClassicResponseConfig, type ClassicTarget } from '../src/adapters/response/classic.js';
import { BlockFiles } from '../src/adapters/response/files.js';

interface Lab {
  readonly dir: string;
  readonly calls: string;
  readonly hostsDeny: string;
  /** A script that appends `NAME deny=<lines in hosts.deny> [arg]...` to `calls`. */
  script(name: string): string;
  readCalls(): string[];
  done(): void;
}

function lab(): Lab {
  const dir = mkdtempSync(join(tmpdir(), 'ps-classic-'));
  const calls = join(dir, 'calls.log');
  const hostsDeny = join(dir, 'hosts.deny');
  return {
    dir,
    calls,
    hostsDeny,
    script(name: string): string {
      const path = join(dir, `${name}.sh`);
      // The command runs with a minimal environment, so the paths are written into the script.
      writeFileSync(
        path,
        [
          '#!/bin/sh',
          `out='${calls}'`,
          `deny=$(cat '${hostsDeny}' 2>/dev/null | wc -l)`,
          `printf '%s deny=%s' '${name}' "$deny" >> "$out"`,
          `for a in "$@"; do printf ' [%s]' "$a" >> "$out"; done`,
          `printf '\\n' >> "$out"`,
          '',
        ].join('\n'),
      );
      chmodSync(path, 0o755);
      return path;
    },
    readCalls(): string[] {
      return existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter((l) => l !== '') : [];
    },
    done(): void {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const TARGET: ClassicTarget = { address: parseAddress('192.0.2.7'), port: 80, proto: 'tcp', mode: 'atcp' };

function config(l: Lab, over: Partial<ClassicResponseConfig>): ClassicResponseConfig {
  return {
    blockLevel: 1,
    killRunCmdFirst: false,
    hostsDenyPath: l.hostsDeny,
    ...over,
  };
}

test('level 1, KILL_RUN_CMD_FIRST 0: hosts.deny, then the route, then the command, with 1.2 lines and exact argv', async () => {
  const l = lab();
  try {
    const route = l.script('route');
    const run = l.script('run');
    const cfg = config(l, {
      killRoute: parseCommandTemplate(`${route} -I INPUT -s $TARGET$ -j DROP --port=$PORT$ 'mode $MODE$'`),
      killHostsDeny: 'ALL: $TARGET$ : DENY',
      killRunCmd: parseCommandTemplate(`${run} $TARGET$ $PORT$`),
    });
    const out = await runClassicResponses(cfg, TARGET);
    assert.deepEqual(out, {
      ok: true,
      lines: [
        'attackalert: Host 192.0.2.7 has been blocked via wrappers with string: "ALL: 192.0.2.7 : DENY"',
        `attackalert: Host 192.0.2.7 has been blocked via dropped route using command: "${route} -I INPUT -s 192.0.2.7 -j DROP --port=80 'mode atcp'"`,
        `attackalert: External command run for host: 192.0.2.7 using command: "${run} 192.0.2.7 80"`,
      ],
    });
    assert.deepEqual(l.readCalls(), ['route deny=1 [-I] [INPUT] [-s] [192.0.2.7] [-j] [DROP] [--port=80] [mode atcp]', 'run deny=1 [192.0.2.7] [80]']);
    assert.equal(readFileSync(l.hostsDeny, 'utf8'), 'ALL: 192.0.2.7 : DENY\n');
    assert.equal(statSync(l.hostsDeny).mode & 0o777, 0o644, 'tcpd in unprivileged daemons must read it');
  } finally {
    l.done();
  }
});

test('level 1, KILL_RUN_CMD_FIRST 1: the command first, then hosts.deny, then the route', async () => {
  const l = lab();
  try {
    const route = l.script('route');
    const run = l.script('run');
    const cfg = config(l, {
      killRunCmdFirst: true,
      killRoute: parseCommandTemplate(`${route} $TARGET$`),
      killHostsDeny: 'ALL: $TARGET$',
      killRunCmd: parseCommandTemplate(`${run} $MODE$`),
    });
    const out = await runClassicResponses(cfg, { ...TARGET, proto: 'udp', mode: 'sudp', port: 53 });
    assert.equal(out.ok, true);
    assert.deepEqual(
      out.lines.map((s) => s.split(' using ')[0]!.split(' with ')[0]),
      ['attackalert: External command run for host: 192.0.2.7', 'attackalert: Host 192.0.2.7 has been blocked via wrappers', 'attackalert: Host 192.0.2.7 has been blocked via dropped route'],
    );
    assert.deepEqual(l.readCalls(), ['run deny=0 [sudp]', 'route deny=1 [192.0.2.7]']);
  } finally {
    l.done();
  }
});

test('level 2 runs only KILL_RUN_CMD; level 0 runs nothing and says so', async () => {
  const l = lab();
  try {
    const route = l.script('route');
    const run = l.script('run');
    const all = { killRoute: parseCommandTemplate(`${route} $TARGET$`), killHostsDeny: 'ALL: $TARGET$', killRunCmd: parseCommandTemplate(`${run} $TARGET$`) };
    const two = await runClassicResponses(config(l, { ...all, blockLevel: 2 }), TARGET);
    assert.deepEqual(two, { ok: true, lines: [`attackalert: External command run for host: 192.0.2.7 using command: "${run} 192.0.2.7"`] });
    assert.deepEqual(l.readCalls(), ['run deny=0 [192.0.2.7]']);
    assert.equal(existsSync(l.hostsDeny), false);

    const zeroTcp = await runClassicResponses(config(l, { ...all, blockLevel: 0 }), TARGET);
    assert.deepEqual(zeroTcp, { ok: true, lines: ['attackalert: Ignoring TCP response per configuration file setting.'] });
    const zeroUdp = await runClassicResponses(config(l, { ...all, blockLevel: 0 }), { ...TARGET, proto: 'udp', mode: 'udp' });
    assert.deepEqual(zeroUdp.lines, ['attackalert: Ignoring UDP response per configuration file setting.']);
    assert.equal(l.readCalls().length, 1, 'nothing more ran');

    // Level 1 with nothing configured: nothing to do, and nothing failed.
    assert.deepEqual(await runClassicResponses(config(l, { killHostsDeny: '' }), TARGET), { ok: true, lines: [] });
  } finally {
    l.done();
  }
});

test("an old /bin/sh template (`/bin/echo $TARGET$ >> FILE`) still works, the value passed as data", async () => {
  const l = lab();
  try {
    const outFile = join(l.dir, 'echo.out');
    const tpl = parseCommandTemplate(`/bin/echo $TARGET$ port $PORT$ >> ${outFile}`);
    assert.equal(tpl.kind, 'shell');
    const out = await runClassicResponses(config(l, { killRunCmd: tpl, blockLevel: 2 }), { ...TARGET, address: parseAddress('2001:DB8::0:9') });
    assert.deepEqual(out, { ok: true, lines: [`attackalert: External command run for host: 2001:db8::9 using command: "/bin/echo 2001:db8::9 port 80 >> ${outFile}"`] });
    assert.equal(readFileSync(outFile, 'utf8'), '2001:db8::9 port 80\n');
  } finally {
    l.done();
  }
});

test('an IPv4 peer seen as ::ffff:a.b.c.d is blocked as a.b.c.d', async () => {
  const l = lab();
  try {
    const run = l.script('run');
    const out = await runClassicResponses(config(l, { killRunCmd: parseCommandTemplate(`${run} $TARGET$`), killHostsDeny: 'ALL: $TARGET$' }), {
      ...TARGET,
      address: parseAddress('::ffff:198.51.100.3'),
    });
    assert.equal(out.ok, true);
    assert.deepEqual(l.readCalls(), ['run deny=1 [198.51.100.3]']);
    assert.equal(readFileSync(l.hostsDeny, 'utf8'), 'ALL: 198.51.100.3\n');
  } finally {
    l.done();
  }
});

test('failures: false, a status with stderr, a missing command (direct and through sh), a timeout; the others still run', async () => {
  const l = lab();
  try {
    const run = l.script('run');
    const falseRoute = await runClassicResponses(
      config(l, { killRoute: parseCommandTemplate('/bin/false $TARGET$'), killRunCmd: parseCommandTemplate(`${run} $TARGET$`) }),
      TARGET,
    );
    assert.deepEqual(falseRoute, {
      ok: false,
      lines: [
        'adminalert: ERROR: There was an error trying to block host 192.0.2.7 using command: "/bin/false 192.0.2.7" (exited with status 1)',
        `attackalert: External command run for host: 192.0.2.7 using command: "${run} 192.0.2.7"`,
      ],
    });
    assert.deepEqual(l.readCalls(), ['run deny=0 [192.0.2.7]'], 'KILL_RUN_CMD ran after the failed route');

    const stderr = await runClassicResponses(
      config(l, { blockLevel: 2, killRunCmd: parseCommandTemplate(`/bin/sh -c 'echo "boom: $1 refused" >&2; echo second >&2; exit 3' sh $TARGET$`) }),
      TARGET,
    );
    assert.equal(stderr.ok, false);
    assert.deepEqual(stderr.lines, [
      `adminalert: ERROR: There was an error trying to run command for host 192.0.2.7 using command: "/bin/sh -c 'echo "boom: $1 refused" >&2; echo second >&2; exit 3' sh 192.0.2.7" (exited with status 3: boom: 192.0.2.7 refused)`,
    ]);

    const missing = await runClassicResponses(config(l, { blockLevel: 2, killRunCmd: parseCommandTemplate(`${l.dir}/nonexistent $TARGET$`) }), TARGET);
    assert.deepEqual(missing, {
      ok: false,
      lines: [
        `adminalert: ERROR: There was an error trying to run command for host 192.0.2.7 using command: "${l.dir}/nonexistent 192.0.2.7" (exec fail: ${l.dir}/nonexistent: no such command or not executable)`,
      ],
    });

    const missingSh = await runClassicResponses(config(l, { killRoute: parseCommandTemplate(`${l.dir}/nonexistent $TARGET$ > /dev/null`) }), TARGET);
    assert.equal(missingSh.ok, false);
    assert.match(missingSh.lines[0]!, /^adminalert: ERROR: There was an error trying to block host 192\.0\.2\.7 using command: ".*\/nonexistent 192\.0\.2\.7 > \/dev\/null" \(exec fail: exited with status 127: .*not found\)$/);

    const slow = await runClassicResponses(config(l, { blockLevel: 2, timeoutMs: 200, killRunCmd: parseCommandTemplate('/bin/sleep 5') }), TARGET);
    assert.deepEqual(slow.lines, ['adminalert: ERROR: There was an error trying to run command for host 192.0.2.7 using command: "/bin/sleep 5" (did not finish within 200 ms and was killed)']);
    assert.equal(slow.ok, false);
  } finally {
    l.done();
  }
});

test('KILL_ROUTE or KILL_HOSTS_DENY without $TARGET$ is skipped with 1.2 words and counts as a failure', async () => {
  const l = lab();
  try {
    const route = l.script('route');
    const out = await runClassicResponses(config(l, { killRoute: parseCommandTemplate(`${route} all`), killHostsDeny: 'ALL: ALL' }), TARGET);
    assert.deepEqual(out, {
      ok: false,
      lines: ['adminalert: No target variable specified in KILL_HOSTS_DENY option. Skipping.', 'adminalert: No target variable specified in KILL_ROUTE option. Skipping.'],
    });
    assert.deepEqual(l.readCalls(), []);
    assert.equal(existsSync(l.hostsDeny), false);
  } finally {
    l.done();
  }
});

test('hosts.deny: appended once per address, a missing final newline mended, a missing directory reported', async () => {
  const l = lab();
  try {
    writeFileSync(l.hostsDeny, '# /etc/hosts.deny\nALL: 203.0.113.1', { mode: 0o600 });
    const cfg = config(l, { killHostsDeny: 'ALL: $TARGET$ : DENY' });
    const first = await runClassicResponses(cfg, TARGET);
    const again = await runClassicResponses(cfg, TARGET);
    const line = 'attackalert: Host 192.0.2.7 has been blocked via wrappers with string: "ALL: 192.0.2.7 : DENY"';
    assert.deepEqual(first, { ok: true, lines: [line] });
    assert.deepEqual(again, { ok: true, lines: [line] });
    await runClassicResponses(cfg, { ...TARGET, address: parseAddress('192.0.2.8') });
    assert.equal(readFileSync(l.hostsDeny, 'utf8'), '# /etc/hosts.deny\nALL: 203.0.113.1\nALL: 192.0.2.7 : DENY\nALL: 192.0.2.8 : DENY\n');
    assert.equal(statSync(l.hostsDeny).mode & 0o777, 0o600, "an existing file keeps the administrator's mode");

    const gone = join(l.dir, 'no', 'dir', 'hosts.deny');
    const bad = await runClassicResponses(config(l, { killHostsDeny: 'ALL: $TARGET$', hostsDenyPath: gone }), TARGET);
    assert.deepEqual(bad, {
      ok: false,
      lines: [`adminalert: cannot open hosts.deny file: ${gone} for blocking (cannot open for appending: its directory does not exist).`, 'securityalert: ERROR: There was an error trying to block host 192.0.2.7'],
    });
  } finally {
    l.done();
  }
});

test('a hostile resolved name reaches no command and no line: only the parsed address is used', async () => {
  const l = lab();
  try {
    const route = l.script('route');
    const run = l.script('run');
    const pwned = join(l.dir, 'pwned');
    const hostile = `$(touch ${pwned})\`touch ${pwned}\`"'; touch ${pwned}\n${'x'.repeat(5000)}`;
    // The detection as the daemon has it, name included; the responses get the whole object.
    const detection = { ...TARGET, name: hostile };
    const out = await runClassicResponses(
      config(l, {
        killRoute: parseCommandTemplate(`${route} $TARGET$ $PORT$ $MODE$`),
        killHostsDeny: 'ALL: $TARGET$',
        killRunCmd: parseCommandTemplate(`/bin/echo "$TARGET$" >> ${join(l.dir, 'sh.out')}; ${run} '$TARGET$'`),
      }),
      detection,
    );
    assert.equal(out.ok, true, out.lines.join('\n'));
    for (const line of out.lines) {
      assert.ok(!line.includes('touch') && !line.includes('xxxx') && !line.includes('\n'), line);
    }
    assert.deepEqual(l.readCalls(), ['route deny=1 [192.0.2.7] [80] [atcp]', 'run deny=1 [192.0.2.7]']);
    assert.equal(readFileSync(join(l.dir, 'sh.out'), 'utf8'), '192.0.2.7\n');
    assert.equal(readFileSync(l.hostsDeny, 'utf8'), 'ALL: 192.0.2.7\n');

    // And the record line the caller writes next keeps the name on one line.
    const files = new BlockFiles({ historyFile: join(l.dir, 'history'), mode: 'atcp' });
    await files.record({ epochMs: Date.now(), name: detection.name, ip: detection.address.toString(), port: detection.port, proto: 'TCP' });
    const history = readFileSync(join(l.dir, 'history'), 'utf8');
    assert.equal(history.split('\n').length, 2);
    assert.match(history, /\/192\.0\.2\.7 Port: 80 TCP Blocked\n$/);
    assert.equal(existsSync(pwned), false, 'no shell ever saw the name');
  } finally {
    l.done();
  }
});
