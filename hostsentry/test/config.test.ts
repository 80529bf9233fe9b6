import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigErrors, parseLayers, parseYamlText, type ConfigNode, type Field } from '@trisentry/shared';
import { checkHostsentryConfig, hostsentrySchema } from '../src/config.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const SHIPPED = join(ROOT, 'etc', 'hostsentry.yaml');

/** A temp dir holding a copy of the shipped file, plus any extra files; removed after the test. */
function withCopy(t: { after: (fn: () => void) => void }, extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'hs-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(SHIPPED, join(dir, 'hostsentry.yaml'));
  for (const [name, text] of Object.entries(extra)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return join(dir, 'hostsentry.yaml');
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

test('the shipped hostsentry.yaml loads and gives the documented defaults', () => {
  const c = checkHostsentryConfig(SHIPPED);
  assert.equal(c.inputs.wtmp.path, '/var/log/wtmp');
  assert.equal(c.inputs.utmp.path, '/run/utmp');
  assert.equal(c.inputs.sshd.source, 'auto');
  assert.equal(c.database, '/var/lib/hostsentry/history');
  assert.equal(c.learning_period, 7 * 86400);
  assert.equal(c.modules.system_account_login.min_uid, 1000);
  assert.equal(c.modules.foreign_domain.enabled, false);
  assert.equal(c.modules.new_source.ipv4_prefix, 24);
  assert.equal(c.modules.record_tamper.sshd_match_window, 10);
  assert.equal(c.responses.syslog.facility, 'auth');
  assert.equal(c.responses.mail.rate_period, 3600);
  assert.equal(c.responses.command.template, '');
  assert.equal(c.responses.portsentry.enabled, false);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.modules.odd_login_time.windows));
});

test('the shipped file writes every key, each with exactly the schema default', () => {
  const text = readFileSync(SHIPPED, 'utf8');
  const tree = parseYamlText(text, SHIPPED).root;
  const missing = schemaLeaves(hostsentrySchema).filter((k) => !hasKey(tree, k));
  assert.deepEqual(missing, []);
  assert.deepEqual(parseLayers(hostsentrySchema, [{ file: SHIPPED, text }]), parseLayers(hostsentrySchema, [{ file: 'empty.yaml', text: '' }]));
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const m = /^\s*([a-z_0-9]+):\s*\S/.exec(line);
    if (m === null) return;
    assert.match(lines[i - 1] ?? '', /Default: /, `line ${i + 1} (${m[1]}) has no "Default:" comment above it`);
  });
});

test('an unknown key is reported at its file:line:col with the dotted key', (t) => {
  const file = withCopy(t, { 'hostsentry.local.yaml': 'modules:\n  new_source:\n    enabled: true\n    ipv4_prefx: 16\n' });
  const e = errorsOf(() => checkHostsentryConfig(file));
  assert.equal(e.errors.length, 1);
  const err = e.errors[0]!;
  assert.equal(err.code, 'CFG_UNKNOWN_KEY');
  assert.equal(err.key, 'modules.new_source.ipv4_prefx');
  assert.deepEqual(err.pos, { file: join(file, '..', 'hostsentry.local.yaml'), line: 4, col: 5 });
  assert.match(err.message, /hostsentry\.local\.yaml:4:5: modules\.new_source\.ipv4_prefx: unknown key.*ipv4_prefix/);
});

test('a bad value is reported at its file:line:col with the dotted key', (t) => {
  const file = withCopy(t, { 'hostsentry.local.yaml': 'modules:\n  system_account_login:\n    min_uid: -1\n' });
  const err = errorsOf(() => checkHostsentryConfig(file)).errors[0]!;
  assert.equal(err.code, 'CFG_BAD_VALUE');
  assert.equal(err.key, 'modules.system_account_login.min_uid');
  assert.deepEqual(err.pos, { file: join(file, '..', 'hostsentry.local.yaml'), line: 3, col: 14 });
});

test('a bad window is reported at the list item', (t) => {
  const file = withCopy(t, { 'hostsentry.local.yaml': 'modules:\n  odd_login_time:\n    windows: ["08:00-18:00", "8-18"]\n' });
  const err = errorsOf(() => checkHostsentryConfig(file)).errors[0]!;
  assert.equal(err.key, 'modules.odd_login_time.windows[1]');
  assert.deepEqual(err.pos, { file: join(file, '..', 'hostsentry.local.yaml'), line: 3, col: 30 });
});

test('hostsentry.local.yaml and hostsentry.d/*.yaml override the shipped values', (t) => {
  const file = withCopy(t, {
    'hostsentry.local.yaml': 'learning_period: 2d\nmodules:\n  foreign_domain:\n    enabled: true\n    allow: [192.0.2.0/24, .example.org, bastion]\n',
    'hostsentry.d/10-uid.yaml': 'modules:\n  system_account_login:\n    min_uid: 500\n',
  });
  const c = checkHostsentryConfig(file);
  assert.equal(c.learning_period, 2 * 86400);
  assert.equal(c.modules.foreign_domain.enabled, true);
  assert.deepEqual(c.modules.foreign_domain.allow, ['192.0.2.0/24', '.example.org', 'bastion']);
  assert.equal(c.modules.system_account_login.min_uid, 500);
  // Untouched siblings keep the shipped values.
  assert.equal(c.modules.foreign_domain.severity, 'high');
});

test('cross-field rules are checked and positioned where the value was set', (t) => {
  const file = withCopy(t, {
    'hostsentry.local.yaml': [
      'modules:',
      '  foreign_domain:',
      '    enabled: true',
      '  multiple_logins:',
      '    allow: [10.0.0.0/8, "bad host!"]',
      'home_checks:',
      '  history_files: [../etc/shadow]',
      'responses:',
      '  syslog:',
      '    facility: nosuch',
      '  command:',
      '    template: "/bin/notify $TARGET$ $PORT$"',
      '',
    ].join('\n'),
  });
  const e = errorsOf(() => checkHostsentryConfig(file));
  const byKey = new Map(e.errors.map((x) => [x.key, x]));
  assert.deepEqual([...byKey.keys()].sort(), [
    'home_checks.history_files[0]',
    'modules.foreign_domain.allow',
    'modules.multiple_logins.allow[1]',
    'responses.command.template',
    'responses.syslog.facility',
  ]);
  const local = join(file, '..', 'hostsentry.local.yaml');
  assert.deepEqual(byKey.get('modules.multiple_logins.allow[1]')?.pos, { file: local, line: 5, col: 25 });
  assert.deepEqual(byKey.get('responses.syslog.facility')?.pos, { file: local, line: 10, col: 15 });
  // The allow list was not set in the override: positioned at the shipped value.
  assert.equal(byKey.get('modules.foreign_domain.allow')?.pos?.file, file);
  assert.match(byKey.get('responses.command.template')?.message ?? '', /\$PORT\$ has no value/);
});
