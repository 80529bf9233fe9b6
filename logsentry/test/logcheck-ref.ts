// The reference side of the logcheck agreement test and of bench/logsentry-classify.mjs: a
// deterministic generator of varied syslog lines, and a runner of Debian's real logcheck 1.4
// (extracted by scripts/install-reference-tools) as the unprivileged user it insists on.
import { execFile } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ReportLevel } from '../src/core/rules.js';

const run = promisify(execFile);
/** Debian's logcheck script, extracted. */
export const REF = '/opt/trisentry-ref/logcheck/usr/sbin/logcheck';
/** logcheck-database's rule tree, extracted. */
export const DB = '/opt/trisentry-ref/logcheck-database/etc/logcheck';

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One configuration compared. */
export interface Case {
  readonly name: string;
  readonly level: ReportLevel;
  readonly sortUnique: boolean;
  readonly supportCrackingIgnore: boolean;
  readonly custom: boolean;
}

/** Deterministic varied log lines (same seed, same lines). */
export /** A varied syslog as byte strings (latin1): services, rule hits, near misses and junk. */
function generateLog(lines: number, seed: number): string[] {
  const r = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const months = ['Jan', 'Feb', 'Mar', 'Oct', 'Dec'];
  const users = ['root', 'alice', 'bob', 'www-data', 'admin', 'o.neil'];
  const ip = (): string => `198.18.${int(0, 3)}.${int(1, 254)}`;
  const host = pick(['gw', 'web-1', 'db.example.org']);
  const ts = (): string => `${pick(months)} ${String(int(1, 28)).padStart(2, ' ')} ${String(int(0, 23)).padStart(2, '0')}:${String(int(0, 59)).padStart(2, '0')}:${String(int(0, 59)).padStart(2, '0')}`;
  const pid = (): number => int(100, 99999);
  const msgs: (() => string)[] = [
    () => `sshd[${pid()}]: Accepted publickey for ${pick(users)} from ${ip()} port ${int(1024, 65535)} ssh2: RSA SHA256:abcdEFgh${int(0, 9)}`,
    () => `sshd[${pid()}]: Failed password for invalid user ${pick(users)} from ${ip()} port ${int(1024, 65535)} ssh2`,
    () => `sshd[${pid()}]: pam_unix(sshd:session): session opened for user ${pick(users)}(uid=${int(0, 1000)}) by (uid=0)`,
    () => `sshd[${pid()}]: pam_unix(sshd:session): session closed for user ${pick(users)}`,
    () => `sshd[${pid()}]: Disconnected from user ${pick(users)} ${ip()} port ${int(1024, 65535)}`,
    () => `sshd[${pid()}]: Received disconnect from ${ip()} port ${int(1024, 65535)}:11: disconnected by user`,
    () => `sudo:    ${pick(users)} : TTY=pts/${int(0, 5)} ; PWD=/home/${pick(users)} ; USER=root ; COMMAND=${pick(['/usr/bin/apt update', '/opt/ok/run', '/bin/ls', 'list', '/home/x/evil'])}`,
    () => `sudo: pam_unix(sudo:session): session opened for user root(uid=0) by ${pick(users)}(uid=${int(0, 1000)})`,
    () => `sudo: pam_unix(sudo:session): session closed for user root`,
    () => `sudo:    ${pick(users)} : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/root ; USER=root ; COMMAND=/bin/sh`,
    () => `su[${pid()}]: (to root) ${pick(users)} on pts/${int(0, 5)}`,
    () => `su[${pid()}]: pam_unix(su-l:session): session opened for user root(uid=0) by ${pick(users)}(uid=1000)`,
    () => `su[${pid()}]: FAILED SU (to root) ${pick(users)} on pts/${int(0, 5)}`,
    () => `kernel: [${String(int(0, 99999)).padStart(6, ' ')}.${int(100000, 999999)}] Oversized packet received from ${ip()}`,
    () => `kernel: Oversized packet received from 198.18.0.7`,
    () => `kernel: [ ${int(1, 999)}.${int(100000, 999999)}] end_request: I/O error, dev sda, sector ${int(1, 1e9)}`,
    () => `kernel: [ ${int(1, 999)}.${int(100000, 999999)}] EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)`,
    () => `kernel: [ ${int(1, 999)}.${int(100000, 999999)}] IPv4: martian source ${ip()} from ${ip()}, on dev eth0`,
    () => `kernel: sda: sda1 sda2 < sda5 >`,
    () => `CRON[${pid()}]: (${pick(users)}) CMD (${pick(['run-parts --report /etc/cron.hourly', 'command -v debian-sa1 > /dev/null && debian-sa1 1 1', '/usr/local/bin/backup'])})`,
    () => `CRON[${pid()}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)`,
    () => `CRON[${pid()}]: pam_unix(cron:session): session closed for user root`,
    () => `postfix/smtpd[${pid()}]: connect from unknown[${ip()}]`,
    () => `postfix/smtpd[${pid()}]: disconnect from unknown[${ip()}] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4`,
    () => `postfix/qmgr[${pid()}]: 4F${int(1000, 9999)}A: removed`,
    () => {
      const a = pick(['mx.example.org', 'bad.example']);
      const b = r() < 0.5 ? a : 'other.example';
      return `postfix/smtpd[${pid()}]: warning: ${a}: RBL lookup error: Host or domain name not found. Name service error for name=${b} type=A: Host not found, try again`;
    },
    () => `postfix/smtpd[${pid()}]: gethostby*.getanswer: asked for "${pick(['a.example', 'b.example'])}", got "${pick(['a.example', 'b.example'])}"`,
    () => `systemd[1]: Started ${pick(['Session 5 of user root', 'Daily apt upgrade and clean activities', 'logrotate.service - Rotate log files'])}.`,
    () => `systemd[1]: ${pick(['Starting', 'Stopping'])} ${pick(['Cleanup of Temporary Directories', 'User Manager for UID 0'])}...`,
    () => `systemd-logind[${pid()}]: New session ${int(1, 999)} of user ${pick(users)}.`,
    () => `dhclient[${pid()}]: DHCPREQUEST for 10.0.${int(0, 9)}.${int(2, 250)} on eth0 to 10.0.0.1 port 67`,
    () => `dhclient[${pid()}]: DHCPACK of 10.0.0.${int(2, 250)} from 10.0.0.1`,
    () => `dhclient[${pid()}]: bound to 10.0.0.${int(2, 250)} -- renewal in ${int(100, 9999)} seconds.`,
    () => `ntpd[${pid()}]: Listen normally on ${int(2, 9)} eth0 10.0.0.${int(2, 250)}:123`,
    () => `ntpd[${pid()}]: kernel reports TIME_ERROR: 0x41: Clock Unsynchronized`,
    () => `rlogind[${pid()}]: Connection from ${ip()} on illegal port`,
    () => `rshd[${pid()}]: Connection from ${ip()} on illegal port`,
    () => `in.tftpd[${pid()}]: refused connect from ${ip()}`,
    () => `uucico[${pid()}]: refused connect from ${ip()}`,
    () => `smartd[${pid()}]: Device: /dev/sd${pick(['a', 'b'])}, SMART Usage Attribute: 5 Reallocated_Sector_Ct changed from ${int(90, 100)} to ${int(1, 99)}`,
    () => `smartd[${pid()}]: Device: /dev/sda [cciss_disk_01], ${int(1, 9)} Currently unreadable (pending) sectors`,
    () => `smartd[${pid()}]: Device: /dev/sdb, ${int(1, 9)} Offline uncorrectable sectors`,
    () => `myapp[${pid()}]: ATTACK-GENERIC probe from ${ip()}`,
    () => `login[${pid()}]: FAILED LOGIN (1) on '/dev/tty1' FOR 'UNKNOWN', Authentication failure`,
  ];
  const out: string[] = [];
  const recent: string[] = [];
  for (let k = 0; k < lines; k++) {
    const x = r();
    let line: string;
    if (x < 0.05 && recent.length > 0) {
      line = pick(recent); // duplicates: logcheck keeps them unless SORTUNIQ
    } else if (x < 0.08) {
      // Junk: high bytes, control characters, odd spacing, no syslog shape at all.
      const len = int(0, 60);
      let s = '';
      for (let j = 0; j < len; j++) s += String.fromCharCode(pick([int(1, 9), int(11, 31), int(32, 126), int(32, 126), int(127, 255)]));
      line = s;
    } else if (x < 0.1) {
      line = pick(['', '   ', '\t', `${ts()}`, `  ${ts()} ${host} leading blanks`, `${ts()}\t${host}\ttabs[1]: tab separated`]);
    } else {
      line = `${ts()} ${host} ${pick(msgs)()}`;
      if (r() < 0.05) line += pick([' ', '  \t', '\r', '\x0b']); // trailing white space that logcheck's sed strips
    }
    out.push(line);
    recent.push(line);
    if (recent.length > 50) recent.shift();
  }
  return out;
}


/**
 * Byte sequences a UTF-8 locale reads differently from C (as byte strings): letters of each case and
 * none, emoji, spaces grep and sed count or not, non-ASCII digits, bad bytes (latin1, truncated,
 * lone continuation, surrogate, overlong) and the old forms above U+10FFFF.
 */
export const NON_ASCII_MUTATIONS: readonly string[] = [
  '\xc3\xa9', '\xc3\x89', '\xe4\xb8\xad', '\xf0\x9f\x98\x80', '\xc2\xa0', '\xe3\x80\x80', '\xe9', '\xe2\x82', '\xa9',
  '\xc3\x9f', '\xc2\xaa', '\xd9\xa3', '\xef\xbc\xa1', '\xc7\x85', '\xe2\x80\xa8', '\xed\xa0\x80', '\xf4\x90\x80\x80',
  '\xc0\xaf', '\xe1\x9a\x80', '\xc2\xb2', '\xf8\x88\x80\x80\x80', '\xf5\x80\x80\x80', '\xfc\x84\x80\x80\x80\x80', '\xfe',
  '\xe2\x80\x87', '\xe2\x80\x89',
];

/**
 * `lines` each followed by `mutants` copies with one of `subs` put at a random place after the
 * timestamp (replacing a char, inserted, or appended: trailing ones meet sed's strip). Deterministic.
 */
export function mutateLog(lines: readonly string[], seed: number, mutants = 4, subs: readonly string[] = NON_ASCII_MUTATIONS): string[] {
  const r = prng(seed);
  const out: string[] = [];
  for (const l of lines) {
    out.push(l);
    if (l.length < 20) continue;
    for (let k = 0; k < mutants; k++) {
      const p = 16 + Math.floor(r() * (l.length - 16));
      const s = subs[Math.floor(r() * subs.length)]!;
      const mode = r();
      out.push(mode < 0.5 ? l.slice(0, p) + s + l.slice(p + 1) : mode < 0.8 ? l.slice(0, p) + s + l.slice(p) : l + s);
    }
  }
  return out;
}

/**
 * Runs the real logcheck (-o -t) as nobody on `log` with the rules in `ruleDir`; its stdout.
 * `locale`: the LC_ALL it runs under (C, as the agreement test compares; or a UTF-8 locale).
 */
export async function runLogcheck(work: string, ruleDir: string, log: string, c: Case, locale = 'C'): Promise<string> {
  const conf = join(work, 'logcheck.conf');
  const tmp = join(work, 'tmp');
  const lock = join(work, 'lock');
  const state = join(work, 'state');
  for (const d of [tmp, lock, state]) {
    mkdirSync(d, { recursive: true });
    chownSync(d, 65534, 65534);
  }
  // logtail2 (package logtail) is not part of the extraction; with -t and no offset file it prints
  // the whole file, which is what this stand-in does.
  const logtail = join(work, 'logtail2');
  writeFileSync(logtail, '#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -f) f=$2; shift 2;; *) shift;; esac; done\nexec cat -- "$f"\n', { mode: 0o755 });
  writeFileSync(conf, [
    'INTRO=0',
    `SORTUNIQ=${c.sortUnique ? 1 : 0}`,
    `SUPPORT_CRACKING_IGNORE=${c.supportCrackingIgnore ? 1 : 0}`,
    `TMP="${tmp}"`,
    `LOCKDIR="${lock}"`,
    `LOCKFILE="${lock}/logcheck"`,
    `LOGTAIL="${logtail}"`,
    '',
  ].join('\n'));
  const flag = c.level === 'paranoid' ? '-p' : c.level === 'server' ? '-s' : '-w';
  const argv = ['-u', 'nobody', '--', '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', `LC_ALL=${locale}`, 'HOME=/nonexistent',
    '/bin/bash', REF, '-c', conf, '-o', '-t', '-S', state, '-l', log, '-r', ruleDir, flag];
  const { stdout } = await run('/usr/sbin/runuser', argv, { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024, timeout: 300_000 });
  return stdout;
}

