import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, ConfigError, ExecError, TriSentryError, exitCodeOf, EXIT } from '../src/errors.js';

const docPath = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

test('docs/errors.md lists exactly the codes in ERROR_CODES, with the same exit status', () => {
  const rows = new Map<string, number>();
  for (const line of readFileSync(docPath, 'utf8').split('\n')) {
    const m = /^\| `([A-Z0-9_]+)` \| (\d+) \|/.exec(line);
    if (m) rows.set(m[1]!, Number(m[2]));
  }
  const inCode = new Map(Object.entries(ERROR_CODES).map(([k, v]) => [k, v.exit as number]));
  assert.deepEqual([...rows.keys()].sort(), [...inCode.keys()].sort(), 'code list and docs/errors.md differ');
  for (const [k, exit] of inCode) assert.equal(rows.get(k), exit, `exit status of ${k} differs in docs/errors.md`);
});

test('every code has a known prefix and a summary', () => {
  for (const [k, v] of Object.entries(ERROR_CODES)) {
    assert.match(k, /^(CFG|SYS|EXEC|FS|NET|USAGE|LAB|PS|LS|HS|TS)_[A-Z0-9_]+$/);
    assert.ok(v.summary.length > 10, `${k} needs a summary`);
  }
});

test('ConfigError names file:line:col and key; exit status is 78', () => {
  const e = new ConfigError('CFG_UNKNOWN_KEY', 'unknown key', { pos: { file: '/etc/x.yaml', line: 3, col: 5 }, key: 'syslog.facilty' });
  assert.equal(e.message, '/etc/x.yaml:3:5: syslog.facilty: unknown key');
  assert.equal(e.exitCode, 78);
  assert.equal(exitCodeOf(e), EXIT.CONFIG);
  assert.ok(e instanceof TriSentryError);
  assert.equal(e.name, 'ConfigError');
});

test('ExecError keeps argv, status and stderr; a plain Error maps to 70', () => {
  const e = new ExecError('EXEC_FAILED', 'failed', { argv: ['false'], status: 1, stderr: 'x' });
  assert.equal(e.status, 1);
  assert.deepEqual(e.argv, ['false']);
  assert.equal(exitCodeOf(new Error('bug')), 70);
});
