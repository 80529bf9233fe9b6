import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { YearInferrer, parseLogLine, toTraditional } from '../src/syslog/parse.js';
import type { LogLine } from '../src/syslog/parse.js';

const fixture = (name: string): string[] =>
  readFileSync(fileURLToPath(new URL(`../../test/fixtures/syslog/${name}`, import.meta.url)), 'utf8').replace(/\n$/, '').split('\n');

const UTC = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number => Date.UTC(y, mo - 1, d, h, mi, s, ms);

// The ERE logcheck's rules start with (POSIX classes spelled out for JS; every rule in Debian's
// logcheck-database begins this way).
const LOGCHECK_PREFIX = /^\w{3} [ :0-9]{11} [._A-Za-z0-9-]+ /;

function pick(l: LogLine): Partial<LogLine> {
  return { format: l.format, time: l.time, host: l.host, program: l.program, pid: l.pid, tag: l.tag, message: l.message };
}

test('traditional file lines spanning New Year, read on Jan 2: years inferred right', () => {
  const years = new YearInferrer({ refTime: UTC(2027, 1, 2, 8), tz: 0 });
  const got = fixture('newyear.log').map((l) => parseLogLine(l, { years }));
  assert.deepEqual(got.map(pick), [
    { format: 'rfc3164', time: UTC(2026, 12, 31, 23, 59, 58), host: 'gw1', program: 'CRON', pid: 1201, tag: 'CRON[1201]:', message: '(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)' },
    { format: 'rfc3164', time: UTC(2026, 12, 31, 23, 59, 59), host: 'gw1', program: 'postfix/smtpd', pid: 12, tag: 'postfix/smtpd[12]:', message: 'connect from unknown[198.18.0.9]' },
    { format: 'rfc3164', time: UTC(2027, 1, 1, 0, 0, 0), host: 'gw1', program: 'kernel', pid: undefined, tag: 'kernel:', message: '[  1.234567] Linux version 6.1.0-18-amd64' },
    { format: 'rfc3164', time: UTC(2027, 1, 1, 0, 0, 1), host: 'gw1', program: '', pid: undefined, tag: '', message: '-- MARK --' },
    { format: 'rfc3164', time: UTC(2027, 1, 1, 0, 0, 2), host: 'gw1', program: '', pid: undefined, tag: '', message: 'last message repeated 3 times' },
    { format: 'rfc3164', time: UTC(2027, 1, 1, 0, 0, 3), host: 'gw1', program: 'systemd-logind', pid: 1, tag: 'systemd-logind[1]:', message: 'New session 5 of user root.' },
    { format: 'rfc3164', time: UTC(2027, 1, 1, 0, 0, 4), host: 'gw1', program: 'sshd', pid: 4242, tag: 'sshd[4242]:', message: 'Failed password for invalid user admin from 198.18.0.7 port 50022 ssh2' },
    { format: 'rfc3164', time: UTC(2027, 1, 1, 0, 0, 5), host: 'gw1', program: 'dhclient', pid: undefined, tag: 'dhclient:', message: 'DHCPREQUEST for 198.18.0.2 on eth0' },
  ]);
  // A traditional line renders back to itself.
  for (const l of fixture('newyear.log')) assert.equal(toTraditional(parseLogLine(l)), l);
});

test('year inference: December read in January is last year; tolerance; Feb 29; zones', () => {
  const jan = new YearInferrer({ refTime: UTC(2027, 1, 5), tz: 0 });
  assert.equal(jan.infer(11, 20, 10, 0, 0), UTC(2026, 12, 20, 10));
  assert.equal(jan.infer(0, 5, 12, 0, 0), UTC(2027, 1, 5, 12), 'same day, a little after the reference: within tolerance');
  assert.equal(jan.infer(0, 7, 0, 0, 0), UTC(2026, 1, 7), 'two days in the future: last year');
  assert.equal(jan.infer(1, 29, 0, 0, 0), UTC(2024, 2, 29), 'Feb 29 goes back to a leap year');
  assert.equal(jan.infer(1, 30, 0, 0, 0), undefined, 'Feb 30 exists in no year');
  const plus2 = new YearInferrer({ refTime: UTC(2026, 6, 1), tz: 120 });
  assert.equal(plus2.infer(5, 1, 10, 0, 0), UTC(2026, 6, 1, 8), 'wall clock in +02:00');
  const ctx = { refTime: UTC(2026, 11, 22), tz: 0 } as const;
  assert.equal(parseLogLine('Nov 21 10:00:01 h p: m', ctx).time, UTC(2026, 11, 21, 10, 0, 1));
  assert.equal(parseLogLine('Nov 21 10:00:01 h p: m').time, undefined, 'no year source: time unknown');
});

test("rsyslog's high-precision RFC 3339 file lines, and their traditional rendering", () => {
  const got = fixture('debian12.log').map((l) => parseLogLine(l));
  assert.deepEqual(
    got.map((l) => ({ ...pick(l), off: l.utcOffsetMin })),
    [
      { format: 'rfc3339', time: UTC(2026, 11, 21, 9, 0, 1, 123), host: 'gw1', program: 'sshd', pid: 4242, tag: 'sshd[4242]:', message: 'Accepted publickey for root from 198.18.0.7 port 50022 ssh2: ED25519 SHA256:abc', off: 60 },
      { format: 'rfc3339', time: UTC(2026, 11, 21, 9, 0, 2, 0), host: 'gw1', program: 'CRON', pid: 1201, tag: 'CRON[1201]:', message: 'pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)', off: 60 },
      { format: 'rfc3339', time: UTC(2026, 11, 21, 9, 0, 3, 500), host: 'gw1', program: 'kernel', pid: undefined, tag: 'kernel:', message: '[  3.141593] usb 1-1: new high-speed USB device number 2', off: 0 },
      { format: 'rfc3339', time: UTC(2026, 11, 21, 9, 0, 4), host: 'gw1.example.org', program: 'postfix/smtpd', pid: 12, tag: 'postfix/smtpd[12]:', message: 'disconnect from unknown[198.18.0.9]', off: -300 },
    ],
  );
  const trad = got.map((l) => toTraditional(l));
  assert.deepEqual(trad, [
    'Nov 21 10:00:01 gw1 sshd[4242]: Accepted publickey for root from 198.18.0.7 port 50022 ssh2: ED25519 SHA256:abc',
    'Nov 21 10:00:02 gw1 CRON[1201]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)',
    'Nov 21 09:00:03 gw1 kernel: [  3.141593] usb 1-1: new high-speed USB device number 2',
    'Nov 21 04:00:04 gw1.example.org postfix/smtpd[12]: disconnect from unknown[198.18.0.9]',
  ]);
  for (const t of trad) assert.match(t, LOGCHECK_PREFIX);
  assert.match(toTraditional(got[0]!, { tz: 0 }), /^Nov 21 09:00:01 /, 'explicit zone');
  assert.equal(toTraditional(parseLogLine('2026-11-01T10:00:01+00:00 h p[1]: x')), 'Nov  1 10:00:01 h p[1]: x', 'day padded with a space');
});

test('RFC 5424 with and without PRI, structured data, nil values, BOM', () => {
  const a = parseLogLine('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] \ufeffAn application event log entry...');
  assert.equal(a.format, 'rfc5424');
  assert.equal(a.time, UTC(2003, 10, 11, 22, 14, 15, 3));
  assert.equal(a.facility, 20);
  assert.equal(a.severity, 5);
  assert.equal(a.host, 'mymachine.example.com');
  assert.equal(a.program, 'evntslog');
  assert.equal(a.pid, undefined);
  assert.equal(a.procid, '');
  assert.equal(a.msgid, 'ID47');
  assert.equal(a.message, 'An application event log entry...');
  assert.deepEqual(a.structuredData, [
    { id: 'exampleSDID@32473', params: [['iut', '3'], ['eventSource', 'Application'], ['eventID', '1011']] },
    { id: 'examplePriority@32473', params: [['class', 'high']] },
  ]);
  const b = parseLogLine('1 2026-11-21T10:00:01.5-07:00 h app 99 - [x@1 v="a\\"b\\]c\\\\d"]');
  assert.equal(b.format, 'rfc5424');
  assert.equal(b.pid, 99);
  assert.equal(b.tag, 'app[99]:');
  assert.equal(b.message, '');
  assert.equal(b.msgid, undefined);
  assert.deepEqual(b.structuredData, [{ id: 'x@1', params: [['v', 'a"b]c\\d']] }]);
  const c = parseLogLine('<34>1 - - - - - - nil everything');
  assert.equal(c.format, 'rfc5424');
  assert.equal(c.time, undefined);
  assert.equal(c.host, '');
  assert.equal(c.message, 'nil everything');
  assert.equal(parseLogLine('<34>1 2026-11-21T10:00:01Z h a p m [broken').format, 'unparsed');
});

test('network 3164 forms: with PRI the host is optional (glibc local form has none)', () => {
  const ctx = { refTime: UTC(2026, 12, 1), tz: 0 } as const;
  const local = parseLogLine('<29>Nov  1 09:05:03 portsentry[4242]: attack #012 from x', ctx);
  assert.deepEqual(pick(local), { format: 'rfc3164', time: UTC(2026, 11, 1, 9, 5, 3), host: '', program: 'portsentry', pid: 4242, tag: 'portsentry[4242]:', message: 'attack #012 from x' });
  assert.equal(local.facility, 3);
  assert.equal(local.severity, 5);
  const remote = parseLogLine('<33>Nov 11 09:05:03 gw1 portsentry[4242]: hello', ctx);
  assert.equal(remote.host, 'gw1');
  assert.equal(remote.program, 'portsentry');
  const bare = parseLogLine('<13>Nov 11 09:05:03 logger: hi', ctx);
  assert.equal(bare.host, '');
  assert.equal(bare.program, 'logger');
  assert.equal(toTraditional(local, { host: 'me' }), 'Nov  1 09:05:03 me portsentry[4242]: attack #012 from x');
});

test('lines that fit no format come back unparsed, never throw', () => {
  for (const raw of ['', 'hello world', 'Foo 21 10:00:01 h p: m', 'Nov 32 10:00:01 h p: m', 'Nov 21 25:00:01 h p: m', '2026-13-01T00:00:00Z h p: m', '2026-11-21T10:00:01 h p: m', '<999>Nov 21 10:00:01', '<', '1 ', '\0\0\0']) {
    const l = parseLogLine(raw);
    assert.equal(l.format, 'unparsed', JSON.stringify(raw));
    assert.equal(l.time, undefined);
    assert.equal(l.message, raw);
    assert.equal(l.raw, raw);
    assert.equal(toTraditional(l), raw);
  }
  const crlf = parseLogLine('Nov 21 10:00:01 h p: m\r\n');
  assert.equal(crlf.message, 'm');
  assert.equal(crlf.raw, 'Nov 21 10:00:01 h p: m\r\n');
});

test('1 MB hostile lines parse in linear time', () => {
  const mb = 1 << 20;
  const hostile = [
    'Nov 21 10:00:01 h ' + 'a'.repeat(mb),
    'Nov 21 10:00:01 h p[' + '1'.repeat(mb) + ']: x',
    'Nov 21 10:00:01 h ' + '['.repeat(mb) + ':',
    '<13>1 2026-11-21T10:00:01Z h a p m ' + '[x@1 a="'.repeat(mb / 8),
    '<13>1 2026-11-21T10:00:01Z h a p m [x@1' + ' a="\\"'.repeat(mb / 6) + ']',
    '2026-11-21T10:00:01.' + '1'.repeat(mb) + 'Z h p: m',
    ' '.repeat(mb),
    'Nov 21 10:00:01 ' + ' '.repeat(mb),
    '<1>' + 'Nov 21 10:00:01 '.repeat(mb / 16),
  ];
  for (const raw of hostile) {
    const t0 = performance.now();
    const l = parseLogLine(raw);
    toTraditional(l);
    const ms = performance.now() - t0;
    assert.ok(ms < 250, `${JSON.stringify(raw.slice(0, 40))}...: ${ms.toFixed(1)} ms`);
  }
});
