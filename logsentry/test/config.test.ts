import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigErrors, parseLayers, parseYamlText, type ConfigNode, type Field } from '@trisentry/shared';
import { checkLogsentryConfig, cronProblem, logsentrySchema } from '../src/config.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const SHIPPED = join(ROOT, 'etc', 'logsentry.yaml');

/** A temp dir holding a copy of the shipped file, plus any extra files; removed after the test. */
function withCopy(t: { after: (fn: () => void) => void }, extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'ls-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(SHIPPED, join(dir, 'logsentry.yaml'));
  for (const [name, text] of Object.entries(extra)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return join(dir, 'logsentry.yaml');
}

function errorsOf(fn: () => unknown): ConfigErrors {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigErrors) return e;
    throw e;
  }
  assert.fail('expected ConfigErrors');
}

/** Every leaf key path of an object schema. */
function schemaLeaves(f: Field<unknown>, prefix = ''): string[] {
  if (f.kind !== 'object') return [prefix];
  const shape = f.meta['shape'] as Record<string, Field<unknown>>;
  return Object.entries(shape).flatMap(([k, sub]) => schemaLeaves(sub, prefix === '' ? k : `${prefix}.${k}`));
}

function hasKey(root: ConfigNode | undefined, path: string): boolean {
  let node = root;
  for (const k of path.split('.')) {
    if (node?.kind !== 'map') return false;
    node = node.entries.get(k)?.value;
  }
  return node !== undefined;
}

test('the shipped logsentry.yaml loads and gives the documented defaults', () => {
  const c = checkLogsentryConfig(SHIPPED);
  assert.equal(c.report.level, 'server');
  assert.equal(c.report.max_size, 10 * 1024 * 1024);
  assert.equal(c.report.intro, true);
  assert.equal(c.report.subject.fqdn, true);
  assert.equal(c.report.subject.date_format, '%Y-%m-%d %H:%M %z');
  assert.equal(c.rules.dir, '/etc/logcheck');
  assert.equal(c.rules.locale, 'C');
  assert.deepEqual(c.inputs.list_files, ['/etc/logcheck/logcheck.logfiles']);
  assert.deepEqual(c.inputs.list_dirs, ['/etc/logcheck/logcheck.logfiles.d']);
  assert.equal(c.inputs.journal, 'auto');
  assert.equal(c.inputs.normalize_timestamps, true);
  assert.equal(c.state_dir, '/var/lib/logsentry');
  assert.equal(c.schedule, '2 * * * *');
  assert.equal(c.mail.transport, 'sendmail');
  assert.equal(c.mail.smtp.security, 'none');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.mail.to));
});

test('the shipped file writes every key, each with exactly the schema default', () => {
  const text = readFileSync(SHIPPED, 'utf8');
  const tree = parseYamlText(text, SHIPPED).root;
  const missing = schemaLeaves(logsentrySchema).filter((k) => !hasKey(tree, k));
  assert.deepEqual(missing, []);
  // An empty file gives the schema's defaults; the shipped file must say the same.
  assert.deepEqual(parseLayers(logsentrySchema, [{ file: SHIPPED, text }]), parseLayers(logsentrySchema, [{ file: 'empty.yaml', text: '' }]));
  // Each key line has a comment above it (or on the run of comments above its section) with "Default:".
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const m = /^\s*([a-z_]+):\s*\S/.exec(line);
    if (m === null) return;
    assert.match(lines[i - 1] ?? '', /Default: /, `line ${i + 1} (${m[1]}) has no "Default:" comment above it`);
  });
});

test('an unknown key is reported at its file:line:col with the dotted key', (t) => {
  const file = withCopy(t, { 'logsentry.local.yaml': 'report:\n  level: server\n  intor: false\n' });
  const e = errorsOf(() => checkLogsentryConfig(file));
  assert.equal(e.errors.length, 1);
  const err = e.errors[0]!;
  assert.equal(err.code, 'CFG_UNKNOWN_KEY');
  assert.equal(err.key, 'report.intor');
  assert.deepEqual(err.pos, { file: join(file, '..', 'logsentry.local.yaml'), line: 3, col: 3 });
  assert.match(err.message, /logsentry\.local\.yaml:3:3: report\.intor: unknown key "intor".*intro/);
});

test('a bad value is reported at its file:line:col with the dotted key', (t) => {
  const file = withCopy(t, { 'logsentry.local.yaml': 'mail:\n  smtp:\n    security: ssl\n' });
  const err = errorsOf(() => checkLogsentryConfig(file)).errors[0]!;
  assert.equal(err.code, 'CFG_UNKNOWN_NAME');
  assert.equal(err.key, 'mail.smtp.security');
  assert.deepEqual(err.pos, { file: join(file, '..', 'logsentry.local.yaml'), line: 3, col: 15 });
  assert.match(err.message, /valid: none, starttls, tls/);
});

test('rules.locale takes C, C.UTF-8, en_US.UTF-8 or auto; anything else is an error listing them', (t) => {
  for (const v of ['C', 'C.UTF-8', 'en_US.UTF-8', 'auto']) {
    const file = withCopy(t, { 'logsentry.local.yaml': `rules:\n  locale: ${v}\n` });
    assert.equal(checkLogsentryConfig(file).rules.locale, v);
  }
  const file = withCopy(t, { 'logsentry.local.yaml': 'rules:\n  locale: de_DE.UTF-8\n' });
  const err = errorsOf(() => checkLogsentryConfig(file)).errors[0]!;
  assert.equal(err.key, 'rules.locale');
  assert.deepEqual(err.pos, { file: join(file, '..', 'logsentry.local.yaml'), line: 2, col: 11 });
  assert.match(err.message, /valid: C, C\.UTF-8, en_US\.UTF-8, auto/);
});

test('logsentry.local.yaml and logsentry.d/*.yaml override the shipped values', (t) => {
  const file = withCopy(t, {
    'logsentry.local.yaml': 'report:\n  level: paranoid\nmail:\n  to: [admin@example.org, ops]\n',
    'logsentry.d/10-level.yaml': 'report:\n  level: workstation\n',
  });
  const c = checkLogsentryConfig(file);
  // The .d layer comes after .local, so it wins where both set a key.
  assert.equal(c.report.level, 'workstation');
  assert.deepEqual(c.mail.to, ['admin@example.org', 'ops']);
  // Untouched siblings keep the shipped values.
  assert.equal(c.report.intro, true);
});

test('cross-field rules are checked and positioned where the value was set', (t) => {
  const file = withCopy(t, {
    'logsentry.local.yaml': 'schedule: "61 * * * *"\nmail:\n  smtp:\n    host: mail.example.org\n    user: bob\n',
  });
  const e = errorsOf(() => checkLogsentryConfig(file));
  const byKey = new Map(e.errors.map((x) => [x.key, x]));
  assert.deepEqual([...byKey.keys()].sort(), ['mail.smtp.password_file', 'mail.smtp.security', 'schedule']);
  assert.deepEqual(byKey.get('schedule')?.pos, { file: join(file, '..', 'logsentry.local.yaml'), line: 1, col: 11 });
  assert.match(byKey.get('schedule')?.message ?? '', /minute field "61" is out of range/);
  // Not set in the override: positioned at the shipped value.
  assert.equal(byKey.get('mail.smtp.security')?.pos?.file, file);
});

test('nothing to read at all is a config error', (t) => {
  const file = withCopy(t, { 'logsentry.local.yaml': 'inputs:\n  list_files: []\n  list_dirs: []\n  journal: off\n' });
  const err = errorsOf(() => checkLogsentryConfig(file)).errors[0]!;
  assert.equal(err.key, 'inputs');
  assert.match(err.message, /nothing to read/);
});

test('cronProblem accepts cron syntax and rejects what cron would', () => {
  for (const ok of ['2 * * * *', '*/15 0-6,22-23 * * mon-fri', '0 3 1 jan,jul 0', '5 4 * * 7', '0 0 31 12 *']) assert.equal(cronProblem(ok), undefined, ok);
  for (const bad of ['* * * *', '60 * * * *', '* 24 * * *', '* * 0 * *', '* * * 13 *', '* * * * 8', '*/0 * * * *', '5-1 * * * *', 'x * * * *', '1-2-3 * * * *']) {
    assert.notEqual(cronProblem(bad), undefined, bad);
  }
});
