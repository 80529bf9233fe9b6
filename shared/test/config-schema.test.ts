import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s, parseLayers, loadLayeredConfig } from '../src/config/index.js';
import type { Infer, PortRange } from '../src/config/index.js';
import type { ReadonlyAddressSet } from '../src/net/index.js';
import { parseAddress } from '../src/net/index.js';
import { ConfigErrors } from '../src/errors.js';
import type { ConfigError } from '../src/errors.js';

const BACKENDS = ['nftables', 'ipset', 'iptables', 'route', 'hosts-deny', 'dry-run'] as const;

const schema = s.object({
  blocking: s.object({
    backend: s.enumOf(BACKENDS, { default: 'nftables', doc: 'Firewall backend used to block.' }),
    timeout: s.duration({ default: 48 * 3600, doc: 'How long a block lasts.' }),
    enabled: s.boolean({ default: true }),
  }),
  trigger: s.integer({ min: 0, max: 10, default: 0, doc: 'Probes before a block.' }),
  ports: s.portList({ default: [{ from: 1, to: 1024 }] }),
  ignore: s.addressList({ default: ['127.0.0.1'] }),
  names: s.list(s.string(), { default: [] }),
  logfile: s.optional(s.path({ absolute: true })),
  listen: s.port({ default: 514 }),
  syslog: s.object({ facility: s.string({ default: 'daemon' }) }),
});
type Config = Infer<typeof schema>;

const FILE = '/etc/trisentry/portsentry.yaml';

function errorsOf(fn: () => unknown): readonly ConfigError[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigErrors) return e.errors;
    throw e;
  }
  assert.fail('expected ConfigErrors');
}

function oneError(yaml: string): ConfigError {
  const errs = errorsOf(() => parseLayers(schema, [{ file: FILE, text: yaml }]));
  assert.equal(errs.length, 1, errs.map((e) => e.message).join('\n'));
  return errs[0] as ConfigError;
}

test('defaults fill an empty file; inferred types compile; the result is deep-frozen', () => {
  const c: Config = parseLayers(schema, [{ file: FILE, text: '# nothing\n' }]);
  // Typed assignments: these lines fail to compile if inference breaks.
  const backend: (typeof BACKENDS)[number] = c.blocking.backend;
  const timeout: number = c.blocking.timeout;
  const ports: readonly PortRange[] = c.ports;
  const ignore: ReadonlyAddressSet = c.ignore;
  const logfile: string | undefined = c.logfile;
  const names: readonly string[] = c.names;
  // @ts-expect-error an enum field is typed as its names, not as any string-accepting type such as number
  const notANumber: number = c.blocking.backend;
  void notANumber;
  assert.equal(backend, 'nftables');
  assert.equal(timeout, 172800);
  assert.deepEqual(ports, [{ from: 1, to: 1024 }]);
  assert.ok(ignore.has(parseAddress('127.0.0.1')));
  assert.equal(logfile, undefined);
  assert.deepEqual(names, []);
  assert.equal(c.syslog.facility, 'daemon');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.blocking) && Object.isFrozen(c.ports) && Object.isFrozen(c.ports[0]));
  // ESM modules run in strict mode: writing a frozen object throws.
  assert.throws(() => {
    (c.blocking as { backend: string }).backend = 'route';
  }, TypeError);
  assert.throws(() => {
    (c.names as string[]).push('x');
  }, TypeError);
});

test('values of every kind parse', () => {
  const c = parseLayers(schema, [
    {
      file: FILE,
      text: 'blocking:\n  backend: dry-run\n  timeout: 1h30m\n  enabled: false\ntrigger: 3\nports: [22, "6000-6010", 23]\nignore: [198.18.0.0/15, "2001:db8::/32"]\nnames: [a, b]\nlogfile: /var/log/x\nlisten: 1514\n',
    },
  ]);
  assert.equal(c.blocking.backend, 'dry-run');
  assert.equal(c.blocking.timeout, 5400);
  assert.equal(c.blocking.enabled, false);
  assert.deepEqual(c.ports, [{ from: 22, to: 23 }, { from: 6000, to: 6010 }]);
  assert.ok(c.ignore.has(parseAddress('198.19.0.1')) && c.ignore.has(parseAddress('2001:db8::1')) && !c.ignore.has(parseAddress('127.0.0.1')));
  assert.deepEqual(c.names, ['a', 'b']);
  assert.equal(c.logfile, '/var/log/x');
  assert.equal(c.listen, 1514);
});

test('unknown key: file:line:col, dotted key, did you mean', () => {
  const e = oneError('blocking:\n  backnd: route\n');
  assert.equal(e.code, 'CFG_UNKNOWN_KEY');
  assert.equal(e.message, `${FILE}:2:3: blocking.backnd: unknown key "backnd" (did you mean "backend"?)`);
  assert.equal(e.exitCode, 78);
});

test('bad enum lists the valid names', () => {
  const e = oneError('# c\nblocking:\n  backend: nft\n');
  assert.equal(e.code, 'CFG_UNKNOWN_NAME');
  assert.equal(e.message, `${FILE}:3:12: blocking.backend: unknown name "nft"; valid: nftables, ipset, iptables, route, hosts-deny, dry-run`);
});

test('wrong type, out of range, bad duration, bad port list, bad address', () => {
  assert.equal(oneError('trigger: many\n').message, `${FILE}:1:10: trigger: expected an integer, found the string "many"`);
  const r = oneError('trigger: 42\n');
  assert.equal(r.code, 'CFG_BAD_VALUE');
  assert.equal(r.message, `${FILE}:1:10: trigger: 42 is out of range (0..10)`);
  const d = oneError('blocking:\n  timeout: 5x\n');
  assert.equal(d.code, 'CFG_BAD_DURATION');
  assert.match(d.message, /^\/etc\/trisentry\/portsentry\.yaml:2:12: blocking\.timeout: bad duration "5x"/);
  assert.equal(oneError('ports: "1-1024, 70000"\n').message, `${FILE}:1:8: ports: "70000": ports are 1..65535`);
  const a = oneError('ignore:\n  - 10.0.0.0/8\n  - 010.0.0.1\n');
  assert.equal(a.code, 'CFG_BAD_ADDRESS');
  assert.match(a.message, /^\/etc\/trisentry\/portsentry\.yaml:3:5: ignore\[1\]: not an IPv4\/IPv6 address/);
  assert.equal(oneError('blocking: true\n').message, `${FILE}:1:11: blocking: expected a mapping, found boolean true`);
  assert.equal(oneError('names: [a, 1]\n').message, `${FILE}:1:12: names[1]: expected a string, found number 1`);
  assert.equal(oneError('logfile: rel/x\n').message, `${FILE}:1:10: logfile: "rel/x" must be an absolute path (starting with /)`);
});

test('duplicate key and syntax error', () => {
  const d = oneError('trigger: 1\nblocking:\n  enabled: true\n  enabled: false\n');
  assert.equal(d.code, 'CFG_DUPLICATE_KEY');
  assert.equal(d.message, `${FILE}:4:3: blocking.enabled: duplicate key "enabled" (first set at line 3)`);
  const errs = errorsOf(() => parseLayers(schema, [{ file: FILE, text: 'blocking:\n  backend: [nftables\ntrigger: 1\n' }]));
  assert.ok(errs.length >= 1);
  assert.equal(errs[0]?.code, 'CFG_SYNTAX');
  assert.match(errs[0]?.message ?? '', /^\/etc\/trisentry\/portsentry\.yaml:\d+:\d+: YAML syntax: /);
});

test('all errors of a load are collected into one ConfigErrors', () => {
  const errs = errorsOf(() => parseLayers(schema, [{ file: FILE, text: 'trigger: 99\nblocking:\n  backend: nft\n  timeout: soon\nextra: 1\n' }]));
  assert.deepEqual(errs.map((e) => `${e.code} ${e.pos?.line}:${e.pos?.col} ${e.key}`).sort(), [
    'CFG_BAD_DURATION 4:12 blocking.timeout',
    'CFG_BAD_VALUE 1:10 trigger',
    'CFG_UNKNOWN_KEY 5:1 extra',
    'CFG_UNKNOWN_NAME 3:12 blocking.backend',
  ]);
  const required = s.object({ name: s.string() });
  const m = errorsOf(() => parseLayers(required, [{ file: FILE, text: 'x: 1\n' }]));
  assert.deepEqual(m.map((e) => e.code).sort(), ['CFG_MISSING_KEY', 'CFG_UNKNOWN_KEY']);
});

test('layering: default, .local, .d/*.yaml in lexical order, then flags; errors name the layer that set the value', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-layers-'));
  try {
    const base = join(dir, 'portsentry.yaml');
    writeFileSync(base, 'blocking:\n  backend: nftables\n  timeout: 1h\ntrigger: 1\nnames: [a, b]\n');
    writeFileSync(join(dir, 'portsentry.local.yaml'), 'blocking:\n  backend: ipset\ntrigger: 2\n');
    mkdirSync(join(dir, 'portsentry.d'));
    writeFileSync(join(dir, 'portsentry.d', '20-b.yaml'), 'trigger: 4\nnames: [z]\n');
    writeFileSync(join(dir, 'portsentry.d', '10-a.yaml'), 'trigger: 3\nblocking:\n  enabled: false\n');
    writeFileSync(join(dir, 'portsentry.d', 'notes.txt'), 'trigger: 9\n');
    writeFileSync(join(dir, 'portsentry.d', '.30-c.yaml'), 'trigger: 9\n');

    const r = loadLayeredConfig(schema, base);
    assert.deepEqual(r.files, [base, join(dir, 'portsentry.local.yaml'), join(dir, 'portsentry.d', '10-a.yaml'), join(dir, 'portsentry.d', '20-b.yaml')]);
    assert.equal(r.config.blocking.backend, 'ipset', '.local overrides the default');
    assert.equal(r.config.blocking.timeout, 3600, 'mappings merge deeply: untouched keys stay');
    assert.equal(r.config.blocking.enabled, false);
    assert.equal(r.config.trigger, 4, 'later conf.d files win');
    assert.deepEqual(r.config.names, ['z'], 'lists replace, not append');

    const f = loadLayeredConfig(schema, base, [
      { path: 'trigger', value: '7', origin: '--trigger' },
      { path: 'blocking.backend', value: 'route', origin: '--backend' },
      { path: 'blocking.enabled', value: 'yes', origin: '--enable' },
      { path: 'names', value: 'p, q', origin: '--names' },
      { path: 'ports', value: '1-10,20', origin: '--ports' },
    ]);
    assert.equal(f.config.trigger, 7);
    assert.equal(f.config.blocking.backend, 'route');
    assert.equal(f.config.blocking.enabled, true);
    assert.equal(f.config.blocking.timeout, 3600);
    assert.deepEqual(f.config.names, ['p', 'q']);
    assert.deepEqual(f.config.ports, [{ from: 1, to: 10 }, { from: 20, to: 20 }]);

    const fe = errorsOf(() => loadLayeredConfig(schema, base, [{ path: 'blocking.backend', value: 'nft', origin: '--backend' }]));
    assert.equal(fe[0]?.message, '--backend: blocking.backend: unknown name "nft"; valid: nftables, ipset, iptables, route, hosts-deny, dry-run');
    const fu = errorsOf(() => loadLayeredConfig(schema, base, [{ path: 'blocking.backnd', value: 'x', origin: '--set' }]));
    assert.equal(fu[0]?.code, 'CFG_UNKNOWN_KEY');
    assert.match(fu[0]?.message ?? '', /^--set: blocking\.backnd: unknown key "backnd" \(did you mean "backend"\?\)/);

    // An error in a value points at the file that set it, not at the base file.
    writeFileSync(join(dir, 'portsentry.d', '20-b.yaml'), 'trigger: 40\n');
    const le = errorsOf(() => loadLayeredConfig(schema, base));
    assert.equal(le[0]?.message, `${join(dir, 'portsentry.d', '20-b.yaml')}:1:10: trigger: 40 is out of range (0..10)`);

    // Errors of several files come together.
    writeFileSync(join(dir, 'portsentry.local.yaml'), 'blocking:\n  backend: nope\n');
    const both = errorsOf(() => loadLayeredConfig(schema, base));
    assert.equal(both.length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing base file is CFG_UNREADABLE; missing .local and .d are fine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-layers-'));
  try {
    const e = errorsOf(() => loadLayeredConfig(schema, join(dir, 'none.yaml')));
    assert.equal(e[0]?.code, 'CFG_UNREADABLE');
    writeFileSync(join(dir, 'x.yaml'), 'trigger: 5\n');
    const r = loadLayeredConfig(schema, join(dir, 'x.yaml'));
    assert.equal(r.config.trigger, 5);
    assert.equal(r.files.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
