import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration, formatDuration } from '../src/config/duration.js';
import { parsePortListText, portListHas } from '../src/config/ports.js';
import { parseClassic, loadClassicFile } from '../src/config/classic.js';
import { parseAddressList, loadAddressListFile } from '../src/config/addresslist.js';
import { ConfigError, ConfigErrors } from '../src/errors.js';
import { parseAddress, formatPrefix } from '../src/net/index.js';

// Fixtures live in the source tree, beside the compiled test's source.
const fixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/config/${name}`, import.meta.url));

const PORTSENTRY_KEYS = [
  'TCP_PORTS', 'UDP_PORTS', 'ADVANCED_PORTS_TCP', 'ADVANCED_PORTS_UDP', 'ADVANCED_EXCLUDE_TCP', 'ADVANCED_EXCLUDE_UDP',
  'IGNORE_FILE', 'HISTORY_FILE', 'BLOCKED_FILE', 'RESOLVE_HOST', 'BLOCK_UDP', 'BLOCK_TCP', 'KILL_ROUTE', 'KILL_HOSTS_DENY',
  'KILL_RUN_CMD', 'KILL_RUN_CMD_FIRST', 'SCAN_TRIGGER', 'PORT_BANNER',
];

function errorsOf(fn: () => unknown): readonly ConfigError[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigErrors) return e.errors;
    throw e;
  }
  assert.fail('expected ConfigErrors');
}

test('durations', () => {
  const ok: Array<[string, number]> = [['90s', 90], ['10m', 600], ['48h', 172800], ['7d', 604800], ['1w', 604800], ['1h30m', 5400], ['1w2d3h4m5s', 788645], ['0', 0], ['3600', 3600], ['0s', 0]];
  for (const [t, n] of ok) assert.equal(parseDuration(t), n, t);
  for (const bad of ['', '1.5h', '-5s', '10 m', '10M', '5x', '30m1h', '1h1h', 'h', '10ms', ' 1s', '1s ']) {
    assert.throws(() => parseDuration(bad), (e: unknown) => e instanceof ConfigError && e.code === 'CFG_BAD_DURATION', bad);
  }
  const e = (() => { try { parseDuration('5x', { pos: { file: 'f.yaml', line: 2, col: 3 }, key: 'a.b' }); } catch (x) { return x; } return undefined; })();
  assert.ok(e instanceof ConfigError);
  assert.match(e.message, /^f\.yaml:2:3: a\.b: bad duration "5x": unknown unit "x"/);
  assert.equal(formatDuration(5400), '1h30m');
  assert.equal(formatDuration(0), '0s');
  assert.equal(parseDuration(formatDuration(788645)), 788645);
});

test('port lists', () => {
  assert.deepEqual(parsePortListText('1-1024, 6000'), [{ from: 1, to: 1024 }, { from: 6000, to: 6000 }]);
  assert.deepEqual(parsePortListText('6000 5 4-5,3'), [{ from: 3, to: 5 }, { from: 6000, to: 6000 }]);
  for (const bad of ['', '0', '65536', '10-5', 'x', '1-2-3', '1,,a']) assert.equal(typeof parsePortListText(bad), 'string', bad);
  const r = parsePortListText('1-1024, 6000, 31337');
  assert.ok(typeof r !== 'string');
  assert.ok(portListHas(r, 1) && portListHas(r, 1024) && portListHas(r, 31337) && !portListHas(r, 1025) && !portListHas(r, 0));
});

test('the real Debian portsentry.conf loads unchanged with the values PortSentry 1.2 would read', () => {
  const c = loadClassicFile(fixture('debian-portsentry.conf'), PORTSENTRY_KEYS);
  const v = (k: string): string | undefined => c.values.get(k)?.value;
  assert.equal(v('KILL_ROUTE'), '/sbin/route add -host $TARGET$ reject');
  assert.equal(c.values.get('KILL_ROUTE')?.line, 170);
  assert.equal(v('TCP_PORTS'), '1,11,15,79,111,119,143,540,635,1080,1524,2000,5742,6667,12345,12346,20034,27665,31337,32771,32772,32773,32774,40421,49724,54320');
  assert.equal(v('ADVANCED_PORTS_TCP'), '1024');
  assert.equal(v('ADVANCED_EXCLUDE_UDP'), '520,138,137,67');
  assert.equal(v('SCAN_TRIGGER'), '0');
  assert.equal(v('RESOLVE_HOST'), '0', 'spaces around = as in Debian\'s file');
  assert.equal(v('KILL_HOSTS_DENY'), 'ALL: $TARGET$ : DENY');
  assert.equal(v('KILL_RUN_CMD'), undefined, 'commented out');
  assert.equal(c.entries.length, 15);
  assert.deepEqual(c.warnings, []);
  const e = c.values.get('SCAN_TRIGGER');
  assert.deepEqual(e && { line: e.line, col: e.col }, { line: 289, col: 15 });
});

test('a HostSentry-style config loads', () => {
  const c = loadClassicFile(fixture('hostsentry.conf'), ['DB_FILE', 'DB_TTY_FILE', 'ACTION_FILE', 'IGNORE_FILE', 'MODULE_FILE', 'MODULE_PATH', 'WTMP_FILE', 'WTMP_FORMAT']);
  assert.equal(c.values.get('WTMP_FORMAT')?.value, '384/8:32/44:32/76:256');
  assert.equal(c.values.get('WTMP_FILE')?.value, '/var/log/wtmp');
});

test('classic: first occurrence wins, later ones are warnings; comments and CRLF are fine', () => {
  const c = parseClassic('A="1"\r\n# A="x"\n   # indented comment\n\nA="2" # again\nB = "x # not a comment" # a comment\n', 'f.conf', ['A', 'B']);
  assert.equal(c.values.get('A')?.value, '1');
  assert.equal(c.values.get('B')?.value, 'x # not a comment');
  assert.deepEqual(c.warnings, ['f.conf:5: A is already set on line 1; this later setting is ignored (the first one wins, as in PortSentry 1.2)']);
  assert.ok(Object.isFrozen(c.entries));
});

test('classic: every misread of PortSentry 1.2 is an error at file:line:col, all collected', () => {
  const text = [
    'TCP_PORTS="1"', //                      1 ok
    ' UDP_PORTS="2"', //                     2 indented key
    'BLOCK_TCP=1', //                        3 no quotes
    'BLOCK_UDP="1', //                       4 unterminated
    'KILL_ROUTE="a" "b"', //                 5 trailing junk
    'SCAN_TRIGER="0"', //                    6 unknown, did you mean
    'PORT_BANNER "x"', //                    7 no =
    'RESOLVE_HOST="a\tb"', //                8 control char
    'what is this', //                       9 not a setting
    '"quoted"', //                           10 no key
  ].join('\n');
  const errs = errorsOf(() => parseClassic(text, '/etc/portsentry/portsentry.conf', PORTSENTRY_KEYS));
  const msgs = errs.map((e) => `${e.code} ${e.message}`);
  assert.deepEqual(msgs, [
    'CFG_SYNTAX /etc/portsentry/portsentry.conf:2:2: indented key UDP_PORTS: a setting must start in column 1 (PortSentry 1.2 silently ignored this line)',
    'CFG_SYNTAX /etc/portsentry/portsentry.conf:3:11: BLOCK_TCP: the value must be in double quotes, e.g. KEY="value" (PortSentry 1.2 skipped an unquoted value)',
    'CFG_SYNTAX /etc/portsentry/portsentry.conf:4:11: BLOCK_UDP: unterminated quote: the value has no closing "',
    'CFG_SYNTAX /etc/portsentry/portsentry.conf:5:16: KILL_ROUTE: unexpected text after the closing quote: "\\"b\\"" (only a # comment may follow)',
    'CFG_UNKNOWN_KEY /etc/portsentry/portsentry.conf:6:1: SCAN_TRIGER: unknown key (did you mean "SCAN_TRIGGER"?)',
    'CFG_SYNTAX /etc/portsentry/portsentry.conf:7:13: PORT_BANNER: expected "=" after the key, found "\\""',
    'CFG_SYNTAX /etc/portsentry/portsentry.conf:8:16: RESOLVE_HOST: control character "\\t" in the value (PortSentry 1.2 cut the value there)',
    'CFG_SYNTAX /etc/portsentry/portsentry.conf:9:6: what: expected "=" after the key, found "i"',
    'CFG_SYNTAX /etc/portsentry/portsentry.conf:10:1: expected KEY="value" or a # comment, found "\\"quoted\\""',
  ]);
});

test('classic: without a key list any key is accepted; an unreadable file is CFG_UNREADABLE', () => {
  assert.equal(parseClassic('ANYTHING="x"', 'f').values.get('ANYTHING')?.value, 'x');
  const errs = errorsOf(() => loadClassicFile('/nonexistent/portsentry.conf', PORTSENTRY_KEYS));
  assert.equal(errs[0]?.code, 'CFG_UNREADABLE');
  assert.match(errs[0]?.message ?? '', /^\/nonexistent\/portsentry\.conf: cannot read/);
});

test('the real Debian portsentry.ignore.static loads', () => {
  const l = loadAddressListFile(fixture('debian-portsentry.ignore.static'));
  assert.deepEqual(l.entries.map((e) => [formatPrefix(e.prefix), e.line]), [['127.0.0.1/32', 25], ['0.0.0.0/32', 26]]);
  assert.ok(l.set.has(parseAddress('127.0.0.1')));
  assert.ok(l.set.has(parseAddress('::ffff:127.0.0.1')));
  assert.ok(!l.set.has(parseAddress('127.0.0.2')));
});

test('address lists: comments, spaces, IPv6, and every bad entry reported with file:line:col', () => {
  const l = parseAddressList('  192.168.2.0/24   # lab\n\n2001:db8::/32\n10.1.2.3/8\n#x\n', 'ignore');
  assert.deepEqual(l.entries.map((e) => [e.text, e.line]), [['192.168.2.0/24', 1], ['2001:db8::/32', 3], ['10.1.2.3/8', 4]]);
  assert.ok(l.set.has(parseAddress('10.200.0.1')));
  assert.ok(l.set.has(parseAddress('2001:db8::1')));
  assert.throws(() => (l.set as unknown as { add(x: string): void }).add('1.1.1.1'), TypeError);
  const errs = errorsOf(() => parseAddressList('1.2.3.4\n 192.168.0.0/255.255.0.0\nlocalhost\n010.0.0.1\n10.0.0.1junk # x\n', 'ps.ignore'));
  assert.deepEqual(errs.map((e) => e.code), ['CFG_BAD_ADDRESS', 'CFG_BAD_ADDRESS', 'CFG_BAD_ADDRESS', 'CFG_BAD_ADDRESS']);
  assert.match(errs[0]?.message ?? '', /^ps\.ignore:2:2: bad entry "192\.168\.0\.0\/255\.255\.0\.0": a dotted netmask is not accepted/);
  assert.match(errs[1]?.message ?? '', /^ps\.ignore:3:1: bad entry "localhost"/);
  assert.match(errs[2]?.message ?? '', /^ps\.ignore:4:1: .*leading zero/);
  assert.match(errs[3]?.message ?? '', /^ps\.ignore:5:1: bad entry "10\.0\.0\.1junk"/);
});

test('address list file read from disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-al-'));
  try {
    const p = join(dir, 'portsentry.ignore');
    writeFileSync(p, '198.18.0.0/15\n');
    assert.ok(loadAddressListFile(p).set.has(parseAddress('198.19.1.1')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
