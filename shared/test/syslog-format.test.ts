import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../src/errors.js';
import {
  DEFAULT_MAX_BYTES,
  TRUNCATION_MARKER,
  escapeControl,
  format3164,
  format5424,
  formatHuman,
  formatLocal,
  parseFacility,
  parseSeverity,
  pri,
  timestamp3164,
  timestamp3339,
} from '../src/syslog/format.js';
import type { SyslogMessage } from '../src/syslog/format.js';

// 2026-11-01T09:05:03.042Z
const T = Date.UTC(2026, 10, 1, 9, 5, 3, 42);

function msg(over: Partial<SyslogMessage> = {}): SyslogMessage {
  return { time: T, facility: 'daemon', severity: 'notice', ident: 'portsentry', pid: 4242, hostname: 'gw1', message: 'hello', ...over };
}

test('facility and severity names, aliases and PRI', () => {
  assert.equal(parseFacility('daemon'), 'daemon');
  assert.equal(parseFacility('LOCAL7'), 'local7');
  assert.equal(parseFacility('security'), 'auth');
  assert.equal(parseFacility('authpriv'), 'authpriv');
  assert.equal(parseSeverity('warn'), 'warning');
  assert.equal(parseSeverity('error'), 'err');
  assert.equal(parseSeverity('crit'), 'crit');
  assert.equal(parseSeverity('panic'), 'emerg');
  assert.equal(pri('kern', 'emerg'), 0);
  assert.equal(pri('daemon', 'notice'), 29);
  assert.equal(pri('local7', 'debug'), 191);
  assert.equal(pri('auth', 'info'), 38);
  for (const bad of ['nope', '', 'toString', '__proto__']) {
    assert.throws(() => parseFacility(bad), (e: unknown) => e instanceof ConfigError && e.code === 'SYS_UNKNOWN_FACILITY' && /valid: kern/.test(e.message));
    assert.throws(() => parseSeverity(bad), (e: unknown) => e instanceof ConfigError && e.code === 'SYS_UNKNOWN_FACILITY');
  }
});

test('timestamps: 3164 pads the day with a space, 3339 carries the offset', () => {
  assert.equal(timestamp3164(T, 0), 'Nov  1 09:05:03');
  assert.equal(timestamp3164(T, 60), 'Nov  1 10:05:03');
  assert.equal(timestamp3164(Date.UTC(2026, 11, 21, 23, 59, 59), 0), 'Dec 21 23:59:59');
  assert.equal(timestamp3339(T, 60), '2026-11-01T10:05:03.042+01:00');
  assert.equal(timestamp3339(T, -330), '2026-11-01T03:35:03.042-05:30');
  assert.equal(timestamp3339(T, 0), '2026-11-01T09:05:03.042+00:00');
});

test("timestamps in 'local' follow the process TZ", () => {
  const d = new Date(T);
  const off = -d.getTimezoneOffset();
  assert.equal(timestamp3164(T, 'local'), timestamp3164(T, off));
  assert.equal(timestamp3339(T, 'local'), timestamp3339(T, off));
});

test('local (glibc) format: PRI, space-padded day, tag, no host, no newline', () => {
  assert.equal(formatLocal(msg(), { tz: 0, maxBytes: 8192 }), '<29>Nov  1 09:05:03 portsentry[4242]: hello');
  assert.equal(formatLocal(msg({ pid: undefined }), { tz: 0, maxBytes: 8192 }), '<29>Nov  1 09:05:03 portsentry: hello');
});

test('RFC 3164 remote format has the host', () => {
  assert.equal(format3164(msg({ severity: 'alert', facility: 'auth' }), { tz: 0, maxBytes: 8192 }), '<33>Nov  1 09:05:03 gw1 portsentry[4242]: hello');
});

test('RFC 5424 format', () => {
  assert.equal(format5424(msg(), { tz: 60, maxBytes: 8192 }), '<29>1 2026-11-01T10:05:03.042+01:00 gw1 portsentry 4242 - - hello');
  assert.equal(
    format5424(msg({ pid: undefined, msgid: 'ATTACK', hostname: '', ident: 'my app' }), { tz: 0, maxBytes: 8192 }),
    '<29>1 2026-11-01T09:05:03.042+00:00 - my#040app - ATTACK - hello',
  );
  const longApp = 'a'.repeat(60);
  assert.match(format5424(msg({ ident: longApp }), { tz: 0, maxBytes: 8192 }), new RegExp(` ${'a'.repeat(48)} 4242 `));
});

test('human format for stderr', () => {
  assert.equal(formatHuman(msg(), { tz: 0, maxBytes: 8192 }), 'Nov  1 09:05:03 portsentry[4242]: hello');
});

test("control characters are escaped with rsyslog's #ooo, a message is always one line", () => {
  assert.equal(escapeControl('a\nb'), 'a#012b');
  assert.equal(escapeControl('tab\there\r\0end\x7f'), 'tab#011here#015#000end#177');
  assert.equal(escapeControl('\x1b[31mred'), '#033[31mred');
  assert.equal(escapeControl('C1 \u009b csi'), 'C1 #302#233 csi');
  assert.equal(escapeControl('ünïcödé 😀 #012'), 'ünïcödé 😀 #012');
  assert.equal(escapeControl('lone \ud800 surrogate'), 'lone \ufffd surrogate');
  // Bytes: valid UTF-8 decoded, invalid bytes escaped one by one.
  assert.equal(escapeControl(Buffer.from([0x61, 0xff, 0x62, 0xc3, 0xa9, 0xc3, 0x0a, 0xe2, 0x82])), 'a#377bé#303#012#342#202');
  assert.equal(escapeControl(Buffer.from([0xed, 0xa0, 0x80])), '#355#240#200', 'UTF-8 encoded surrogate is invalid');
  assert.equal(escapeControl(Buffer.from([0xc0, 0xaf])), '#300#257', 'overlong form is invalid');
  const line = formatLocal(msg({ message: 'one\ntwo\r\nthree', ident: 'evil\nident', hostname: 'h\nx' }), { tz: 0, maxBytes: 8192 });
  assert.equal(line, '<29>Nov  1 09:05:03 evil#012ident[4242]: one#012two#015#012three');
  assert.equal(format3164(msg({ hostname: 'h x\n' }), { tz: 0, maxBytes: 8192 }), '<29>Nov  1 09:05:03 h#040x#012 portsentry[4242]: hello');
  for (const f of [formatLocal, format3164, format5424, formatHuman]) {
    const out = f(msg({ message: Buffer.from('x\ny\0z\xff', 'latin1') }), { tz: 0, maxBytes: 8192 });
    assert.doesNotMatch(out, /[\x00-\x1f\x7f]/);
  }
});

test('long messages are cut to the byte cap with a marker, never inside a character or an escape', () => {
  assert.equal(DEFAULT_MAX_BYTES, 8192);
  const big = formatLocal(msg({ message: 'x'.repeat(20_000) }));
  assert.equal(Buffer.byteLength(big), 8192);
  assert.ok(big.endsWith(TRUNCATION_MARKER));
  const o = { tz: 0, maxBytes: 300 } as const;
  const header = '<29>Nov  1 09:05:03 portsentry[4242]: ';
  // Multi-byte characters: the cut falls on a character boundary.
  const euro = formatLocal(msg({ message: '€'.repeat(200) }), o);
  assert.ok(Buffer.byteLength(euro) <= 300);
  assert.ok(euro.startsWith(header) && euro.endsWith(TRUNCATION_MARKER));
  assert.match(euro.slice(header.length, -TRUNCATION_MARKER.length), /^€+$/);
  // Escapes: no half `#01` left before the marker, whatever the alignment.
  for (let pad = 0; pad < 4; pad++) {
    const out = formatLocal(msg({ message: 'a'.repeat(pad) + '\n'.repeat(200) }), o);
    assert.ok(Buffer.byteLength(out) <= 300);
    assert.match(out.slice(header.length, -TRUNCATION_MARKER.length), /^a*(#012)*$/);
  }
  // A message that fits is left alone.
  assert.equal(formatLocal(msg({ message: 'short' }), o), `${header}short`);
});
