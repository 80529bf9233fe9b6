import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandTemplate, fillCommand, fillTextTemplate, runFilled, runCommand, isCanonicalAddressText } from '../src/exec/index.js';
import { ExecError, ConfigError } from '../src/errors.js';

const v4 = { family: 4 as const, toString: () => '198.18.7.2' };
const v6 = { family: 6 as const, toString: () => '2001:db8:7::2' };

test('a plain-words template becomes argv with no shell', () => {
  const t = parseCommandTemplate('/sbin/iptables -I INPUT -s $TARGET$ -j DROP');
  assert.equal(t.kind, 'argv');
  const c = fillCommand(t, { target: v4 });
  assert.equal(c.file, '/sbin/iptables');
  assert.deepEqual(c.args, ['-I', 'INPUT', '-s', '198.18.7.2', '-j', 'DROP']);
  assert.equal(c.display, '/sbin/iptables -I INPUT -s 198.18.7.2 -j DROP');
});

test('quotes are honoured as /bin/sh would, placeholders inside words and quotes', () => {
  const t = parseCommandTemplate(`/usr/bin/logger -t "port sentry" 'hit:$TARGET$' port=$PORT$ "$MODE$"`);
  assert.equal(t.kind, 'argv');
  const c = fillCommand(t, { target: v6, port: 143, mode: 'atcp' });
  assert.deepEqual([c.file, ...c.args], ['/usr/bin/logger', '-t', 'port sentry', 'hit:2001:db8:7::2', 'port=143', 'atcp']);
});

test('shell templates run under sh with values as positional parameters, result as 1.2 would give', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-exec-'));
  try {
    const out = join(dir, 'out');
    const t = parseCommandTemplate(`echo "blocked $TARGET$ on $PORT$" >> ${out}; echo '$MODE$' >> ${out}`);
    assert.equal(t.kind, 'shell');
    await runFilled(fillCommand(t, { target: v4, port: 22, mode: 'stcp' }));
    assert.equal(readFileSync(out, 'utf8'), 'blocked 198.18.7.2 on 22\nstcp\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hostile values never reach a shell: forged address objects are refused', () => {
  const t = parseCommandTemplate('echo $TARGET$ > /dev/null');
  for (const evil of ['1.2.3.4; touch /tmp/pwned', '$(id)', '1.2.3.4\nrm -rf /', '`id`', "a'b", '999.1.1.1', '::1 x']) {
    const forged = { family: (evil.includes(':') ? 6 : 4) as 4 | 6, toString: () => evil };
    assert.throws(() => fillCommand(t, { target: forged }), (e: unknown) => e instanceof ExecError && e.code === 'EXEC_BAD_VALUE', evil);
  }
  assert.throws(() => fillCommand(parseCommandTemplate('x $PORT$'), { port: 70000 }), /EXEC_BAD_VALUE|not an integer/);
  assert.throws(() => fillCommand(parseCommandTemplate('x $MODE$'), { mode: 'x;id' as never }), /not one of/);
  assert.equal(isCanonicalAddressText('::ffff:1.2.3.4', 6), true);
  assert.equal(isCanonicalAddressText('1.2.3.4 ', 4), false);
});

test('a placeholder inside single quotes in a shell template still expands safely', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-exec-'));
  try {
    const out = join(dir, 'o');
    const t = parseCommandTemplate(`printf '%s|' 'x$TARGET$y' > ${out} && true`);
    assert.equal(t.kind, 'shell');
    await runFilled(fillCommand(t, { target: v4 }));
    assert.equal(readFileSync(out, 'utf8'), 'x198.18.7.2y|');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('text templates (hosts.deny lines) are filled with checked values', () => {
  assert.equal(fillTextTemplate('ALL: $TARGET$ : DENY', { target: v4 }), 'ALL: 198.18.7.2 : DENY');
  assert.throws(() => fillTextTemplate('ALL: $TARGET$', {}), /no target/);
});

test('bad templates are config errors naming where', () => {
  assert.throws(() => parseCommandTemplate('  ', { pos: { file: 'p.conf', line: 9 }, key: 'KILL_ROUTE' }), (e: unknown) => e instanceof ConfigError && e.message.startsWith('p.conf:9: KILL_ROUTE: empty'));
  assert.throws(() => parseCommandTemplate('/sbin/route add "$TARGET$'), /unterminated double quote/);
});

test('failures carry code, status and stderr; 1.2 counted non-127 as success, we do not', async () => {
  await assert.rejects(runCommand('/bin/sh', ['-c', 'echo oops >&2; exit 3']), (e: unknown) => e instanceof ExecError && e.code === 'EXEC_FAILED' && e.status === 3 && e.stderr === 'oops');
  await assert.rejects(runCommand('/nonexistent/cmd', []), (e: unknown) => e instanceof ExecError && e.code === 'EXEC_NOT_FOUND');
  await assert.rejects(runFilled(fillCommand(parseCommandTemplate('/nonexistent/x $TARGET$ ; exit 127'), { target: v4 })), (e: unknown) => e instanceof ExecError && e.code === 'EXEC_NOT_FOUND');
  const dir = mkdtempSync(join(tmpdir(), 'ts-exec-'));
  try {
    const f = join(dir, 'noexec');
    writeFileSync(f, '#!/bin/sh\n');
    chmodSync(f, 0o644);
    await assert.rejects(runCommand(f, []), (e: unknown) => e instanceof ExecError && e.code === 'EXEC_NOT_FOUND');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a command past its timeout is killed with its whole process group', async () => {
  const t0 = Date.now();
  await assert.rejects(runCommand('/bin/sh', ['-c', 'sleep 30 | sleep 30'], { timeoutMs: 200 }), (e: unknown) => e instanceof ExecError && e.code === 'EXEC_TIMEOUT');
  assert.ok(Date.now() - t0 < 5000);
});
