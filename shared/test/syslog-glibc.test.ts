// Our local format against what glibc's syslog(3) really sends: Python's syslog module calls glibc,
// which always writes to /dev/log; a private mount namespace puts a tmpfs over /dev there, so the
// test's own socket is /dev/log for that one process and the host's /dev is untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { formatLocal } from '../src/syslog/format.js';
import { parseLogLine } from '../src/syslog/parse.js';

const PY = `
import socket, syslog
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('/dev/log')
syslog.openlog('probe', syslog.LOG_PID, syslog.LOG_DAEMON)
syslog.syslog(syslog.LOG_NOTICE, 'port scan from 198.18.0.7')
syslog.closelog()
syslog.openlog('bare', 0, syslog.LOG_LOCAL3)
syslog.syslog(syslog.LOG_ERR, 'no pid here')
import sys
sys.stdout.buffer.write(s.recv(4096) + b'\\n' + s.recv(4096))
`;

function why(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root: unshare -m and mount';
  for (const b of ['/usr/bin/unshare', '/usr/bin/python3']) if (!existsSync(b)) return `needs ${b}`;
  return undefined;
}

test('formatLocal matches glibc syslog(3) byte for byte', { skip: why() }, () => {
  const out = execFileSync('/usr/bin/unshare', ['-m', '/bin/sh', '-c', 'mount -t tmpfs tmpfs /dev && exec /usr/bin/python3 -c "$0"', PY], { encoding: 'utf8', timeout: 20_000 });
  const [withPid, bare] = out.split('\n') as [string, string];
  assert.match(withPid, /^<29>\w{3} [ 0-9]\d \d\d:\d\d:\d\d probe\[\d+\]: port scan from 198\.18\.0\.7$/);
  // Rebuild each datagram from its parsed fields with our formatter: it must come out identical.
  for (const [line, facility, severity] of [
    [withPid, 'daemon', 'notice'],
    [bare, 'local3', 'err'],
  ] as const) {
    const p = parseLogLine(line, { refTime: Date.now(), tz: 'local' });
    assert.equal(p.format, 'rfc3164');
    assert.ok(p.time !== undefined);
    const ours = formatLocal({ time: p.time, facility, severity, ident: p.program, pid: p.pid, hostname: 'ignored', message: p.message }, { tz: 'local', maxBytes: 8192 });
    assert.equal(ours, line);
  }
  assert.match(bare, /^<155>\w{3} [ 0-9]\d \d\d:\d\d:\d\d bare: no pid here$/);
});
