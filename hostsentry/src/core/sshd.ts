/**
 * Reading OpenSSH's log messages (the wording of OpenSSH 7.5 to 9.x at LogLevel INFO, as Debian's
 * auth.log and the journal show them; plus `Starting session:` of LogLevel VERBOSE) into
 * {@link SshdEvent}s: accepted logins with the source address, port and method wtmp does not keep,
 * failures, invalid users, session open/close and disconnects.
 *
 * Pure: no I/O, no clock. Everything in these messages that came from the network is attacker text:
 * a user name can hold spaces, `from`, `port`, quotes or control characters, so every message is
 * anchored on the fixed text sshd itself writes at its end (` from ADDR port N ssh2`, ` ADDR port N`)
 * and read right to left, with the user name whatever lies before it. Scanning is linear in the
 * message length: plain index searches and sticky regular expressions over short tokens only.
 * Control characters are escaped (`#ooo`) before any text leaves this module.
 */
import { formatAddress, tryParseAddress } from '@trisentry/shared';
import type { LogLine } from '@trisentry/shared';
import { escapeControl, type LoginRecord } from './utmp.js';

/**
 * Syslog identifiers of sshd's processes: `sshd`, and since OpenSSH 9.8 `sshd-session` (the
 * per-connection process that logs `Accepted ...`) and since 10.0 `sshd-auth` (pre-auth messages).
 */
export const SSHD_PROGRAMS: readonly string[] = Object.freeze(['sshd', 'sshd-session', 'sshd-auth']);

/** Longer messages are not sshd's: its log buffer holds 1024 bytes (log.c MSGBUFSIZ), plus rsyslog escapes. */
export const MAX_SSHD_MESSAGE = 4096;

/** The remote end of a connection as sshd logged it. */
export interface SshdPeer {
  /** The address or name as written (a name only with `UseDNS yes`), escaped. */
  readonly host: string;
  /** Canonical address text when `host` is an IP address, else undefined. */
  readonly address: string | undefined;
  /** The source port; undefined in the few messages that carry none. */
  readonly port: number | undefined;
}

/**
 * How far a connection had got when a `Connection closed` / `Disconnected` / `Received disconnect`
 * was logged: `user` (authenticated), `authenticating` (a valid user, not yet authenticated),
 * `invalid` (a user that does not exist), `none` (no user name sent yet).
 */
export type SshdStage = 'user' | 'authenticating' | 'invalid' | 'none';

/** Fields every event has. */
export interface SshdEventBase {
  /** The line's time, epoch ms. */
  readonly time: number;
  /** The logging sshd process (the per-connection monitor for Accepted/Failed). */
  readonly pid: number | undefined;
  /** The line's program (one of {@link SSHD_PROGRAMS}). */
  readonly program: string;
}

/** `Accepted <method> for <user> from <addr> port <n> ssh2[: <key info>]`. */
export interface SshdAccepted extends SshdEventBase, SshdPeer {
  readonly kind: 'accepted';
  readonly user: string;
  readonly method: string;
  /** Key type and fingerprint (publickey), '' when none. */
  readonly info: string;
  /** The same login as a {@link LoginRecord} (origin 'sshd', tty 'ssh', pid = sshd's). */
  readonly record: LoginRecord;
}

/** `Failed <method> for [invalid user ]<user> from <addr> port <n> ssh2[: ...]`. */
export interface SshdFailed extends SshdEventBase, SshdPeer {
  readonly kind: 'failed';
  readonly user: string;
  readonly invalidUser: boolean;
  readonly method: string;
}

/** `Invalid user <user> from <addr>[ port <n>]`. */
export interface SshdInvalidUser extends SshdEventBase, SshdPeer {
  readonly kind: 'invalid-user';
  readonly user: string;
}

/** `Connection closed by [<stage> user <user> ]<addr> port <n>[ [preauth]]`. */
export interface SshdConnectionClosed extends SshdEventBase, SshdPeer {
  readonly kind: 'connection-closed';
  readonly stage: SshdStage;
  /** '' when stage is `none`. */
  readonly user: string;
  readonly preauth: boolean;
}

/** `Disconnected from [<stage> user <user> ]<addr> port <n>[ [preauth]]`. */
export interface SshdDisconnected extends SshdEventBase, SshdPeer {
  readonly kind: 'disconnected';
  readonly stage: SshdStage;
  readonly user: string;
  readonly preauth: boolean;
}

/** `Received disconnect from [<stage> user <user> ]<addr> port <n>:<code>: <reason>[ [preauth]]`. */
export interface SshdReceivedDisconnect extends SshdEventBase, SshdPeer {
  readonly kind: 'received-disconnect';
  readonly stage: SshdStage;
  readonly user: string;
  readonly code: number;
  /** The client's own words: attacker text, escaped. */
  readonly reason: string;
  readonly preauth: boolean;
}

/** `pam_unix(sshd:session): session opened for user <user>[(uid=N)] by ...`. */
export interface SshdSessionOpened extends SshdEventBase {
  readonly kind: 'session-opened';
  readonly user: string;
}

/** `pam_unix(sshd:session): session closed for user <user>`. */
export interface SshdSessionClosed extends SshdEventBase {
  readonly kind: 'session-closed';
  readonly user: string;
}

/**
 * `Starting session: <type>[ on <tty>] for <user> from <addr> port <n> id <k>` (LogLevel VERBOSE).
 * The only sshd message that says whether a pty was allocated, i.e. whether sshd wrote wtmp.
 */
export interface SshdSessionStarted extends SshdEventBase, SshdPeer {
  readonly kind: 'session-started';
  readonly user: string;
  /** `shell`, `command`, `subsystem 'sftp'`, `forced-command ...`. */
  readonly sessionType: string;
  /** The pty (`pts/3`), undefined when none was allocated. */
  readonly tty: string | undefined;
}

/** One understood sshd message. */
export type SshdEvent =
  | SshdAccepted
  | SshdFailed
  | SshdInvalidUser
  | SshdConnectionClosed
  | SshdDisconnected
  | SshdReceivedDisconnect
  | SshdSessionOpened
  | SshdSessionClosed
  | SshdSessionStarted;

/** The kinds of {@link SshdEvent}. */
export type SshdEventKind = SshdEvent['kind'];

/** True when the line's program is one of sshd's ({@link SSHD_PROGRAMS}). */
export function isSshdLine(line: LogLine): boolean {
  return SSHD_PROGRAMS.includes(line.program);
}

const PREAUTH = ' [preauth]';
// Sticky: tested at one index only, over one token and a number, so never more than linear.
const FROM_ADDR_PORT = / from ([^ ]+) port ([0-9]{1,5})/y;
const FROM_ADDR = / from ([^ ]+)/y;
const PORT_TAIL = /^ port ([0-9]{1,5})$/;
const UID_SUFFIX = /\(uid=[0-9]{1,10}\)$/;

function peerOf(hostText: string, port: number | undefined): SshdPeer {
  const a = tryParseAddress(hostText);
  return { host: escapeControl(hostText), address: a === undefined ? undefined : formatAddress(a), port };
}

function portOf(text: string): number | undefined {
  const n = Number(text);
  return n >= 0 && n <= 65535 ? n : undefined;
}

/**
 * Finds the right-most ` from ADDR port N` in `s` (searching from `end`, never before `min`) whose
 * remainder satisfies `tail`. Returns the head (text before it), the peer and the remainder.
 * Right to left because everything before is the user name (attacker text) while what follows is
 * written by sshd; each candidate costs one token, so the whole search is linear.
 */
function splitFrom(
  s: string,
  min: number,
  tail: (rest: string) => boolean,
  requirePort = true,
): { head: string; peer: SshdPeer; rest: string } | undefined {
  let at = s.length;
  for (;;) {
    at = s.lastIndexOf(' from ', at - 1);
    if (at < min) return undefined;
    const re = requirePort ? FROM_ADDR_PORT : FROM_ADDR;
    re.lastIndex = at;
    const m = re.exec(s);
    if (m !== null) {
      const rest = s.slice(re.lastIndex);
      if (tail(rest)) {
        const port = m[2] === undefined ? undefined : portOf(m[2]);
        if (!requirePort || port !== undefined) return { head: s.slice(min, at), peer: peerOf(m[1] ?? '', port), rest };
      }
    }
    if (at === 0) return undefined;
  }
}

// What sshd writes after `port N` in Accepted / Failed: ` ssh2`, optionally `: <key info>`.
const ssh2Tail = (rest: string): boolean => rest === '' || rest === ' ssh2' || rest.startsWith(' ssh2: ');
const ssh2Info = (rest: string): string => (rest.startsWith(' ssh2: ') ? rest.slice(7) : '');

/**
 * A connection id as sshd's packet layer writes it (`sshpkt_fmt_connection_id`): `ADDR port N`,
 * optionally preceded by `authenticating user U `, `invalid user U ` or `user U `. The address is
 * the last token before ` port N`; the user is everything between the preamble and it.
 */
function connectionId(s: string): { stage: SshdStage; user: string; peer: SshdPeer } | undefined {
  const p = s.lastIndexOf(' port ');
  if (p < 0) return undefined;
  const m = PORT_TAIL.exec(s.slice(p));
  if (m === null) return undefined;
  const port = portOf(m[1] ?? '');
  const sp = s.lastIndexOf(' ', p - 1);
  const addr = s.slice(sp + 1, p);
  if (addr === '') return undefined;
  const peer = peerOf(addr, port);
  if (sp < 0) return { stage: 'none', user: '', peer };
  const pre = s.slice(0, sp);
  for (const [prefix, stage] of [
    ['authenticating user ', 'authenticating'],
    ['invalid user ', 'invalid'],
    ['user ', 'user'],
  ] as const) {
    if (pre.startsWith(prefix)) return { stage, user: escapeControl(pre.slice(prefix.length)), peer };
  }
  return undefined;
}

function stripPreauth(s: string): { body: string; preauth: boolean } {
  return s.endsWith(PREAUTH) ? { body: s.slice(0, -PREAUTH.length), preauth: true } : { body: s, preauth: false };
}

/** The word starting at `from` (up to the next space) and the index after that space; undefined when it is empty or ends the message. */
function word(s: string, from: number): { w: string; next: number } | undefined {
  const sp = s.indexOf(' ', from);
  if (sp <= from) return undefined;
  return { w: s.slice(from, sp), next: sp + 1 };
}

/**
 * The event one sshd log line describes, or undefined when the line is not sshd's (see
 * {@link SSHD_PROGRAMS}), has no time (a traditional line read without a year source), is longer
 * than {@link MAX_SSHD_MESSAGE}, or says something not listed in {@link SshdEvent}. Never throws.
 */
export function sshdEvent(line: LogLine): SshdEvent | undefined {
  if (!isSshdLine(line) || line.time === undefined) return undefined;
  const msg = line.message;
  if (msg.length > MAX_SSHD_MESSAGE) return undefined;
  const base: SshdEventBase = { time: line.time, pid: line.pid, program: line.program };
  try {
    return parseMessage(msg, base);
  } catch {
    // Defensive: a parser bug must not stop the reader; the line counts as not understood.
    return undefined;
  }
}

function parseMessage(msg: string, base: SshdEventBase): SshdEvent | undefined {
  if (msg.startsWith('Accepted ')) {
    const m = word(msg, 9);
    if (m === undefined || !msg.startsWith('for ', m.next)) return undefined;
    const r = splitFrom(msg, m.next + 4, ssh2Tail);
    if (r === undefined) return undefined;
    const user = escapeControl(r.head);
    const method = escapeControl(m.w);
    const record: LoginRecord = {
      kind: 'login',
      user,
      tty: 'ssh',
      host: r.peer.host,
      address: r.peer.address,
      time: base.time,
      pid: base.pid ?? 0,
      session: 0,
      method,
      ...(r.peer.port === undefined ? {} : { port: r.peer.port }),
      origin: 'sshd',
    };
    return { ...base, kind: 'accepted', user, method, info: escapeControl(ssh2Info(r.rest)), ...r.peer, record };
  }
  if (msg.startsWith('Failed ')) {
    const m = word(msg, 7);
    if (m === undefined || !msg.startsWith('for ', m.next)) return undefined;
    const { body } = stripPreauth(msg);
    const r = splitFrom(body, m.next + 4, ssh2Tail);
    if (r === undefined) return undefined;
    // A real account cannot be called "invalid user ..." (no spaces in passwd names), so the prefix is sshd's.
    const invalidUser = r.head.startsWith('invalid user ');
    const user = escapeControl(invalidUser ? r.head.slice(13) : r.head);
    return { ...base, kind: 'failed', user, invalidUser, method: escapeControl(m.w), ...r.peer };
  }
  if (msg.startsWith('Invalid user ')) {
    const { body } = stripPreauth(msg);
    const r = splitFrom(body, 13, (rest) => rest === '') ?? splitFrom(body, 13, (rest) => rest === '', false);
    if (r === undefined) return undefined;
    return { ...base, kind: 'invalid-user', user: escapeControl(r.head), ...r.peer };
  }
  if (msg.startsWith('Connection closed by ') || msg.startsWith('Disconnected from ')) {
    const closed = msg.startsWith('Connection closed by ');
    const { body, preauth } = stripPreauth(msg.slice(closed ? 21 : 18));
    const c = connectionId(body);
    if (c === undefined) return undefined;
    return { ...base, kind: closed ? 'connection-closed' : 'disconnected', stage: c.stage, user: c.user, preauth, ...c.peer };
  }
  if (msg.startsWith('Received disconnect from ')) {
    const { body, preauth } = stripPreauth(msg.slice(25));
    // `<connection id>:<code>: <reason>`; the reason is the client's, so the id ends at the first
    // ` port N:C:` (a user name holding that text could shift the split; nothing is decided on it).
    const m = / port ([0-9]{1,5}):([0-9]{1,5}):/.exec(body);
    if (m === null) return undefined;
    const c = connectionId(body.slice(0, m.index + 6 + (m[1] ?? '').length));
    if (c === undefined) return undefined;
    let reason = body.slice(m.index + m[0].length);
    if (reason.startsWith(' ')) reason = reason.slice(1);
    return { ...base, kind: 'received-disconnect', stage: c.stage, user: c.user, code: Number(m[2]), reason: escapeControl(reason), preauth, ...c.peer };
  }
  if (msg.startsWith('pam_unix(sshd:session): session ')) {
    const rest = msg.slice(32);
    if (rest.startsWith('opened for user ')) {
      const by = rest.lastIndexOf(' by ');
      if (by < 16) return undefined;
      return { ...base, kind: 'session-opened', user: escapeControl(rest.slice(16, by).replace(UID_SUFFIX, '')) };
    }
    if (rest.startsWith('closed for user ')) {
      return { ...base, kind: 'session-closed', user: escapeControl(rest.slice(16).replace(UID_SUFFIX, '')) };
    }
    return undefined;
  }
  if (msg.startsWith('Starting session: ')) {
    // `... for USER from ADDR port N id K`: the user is a real account (authenticated), the type
    // and tty are sshd's; the tty is the last ` on X` token of the part before ` for `.
    const r = splitFrom(msg, 18, (rest) => /^ id [0-9]{1,10}$/.test(rest));
    if (r === undefined) return undefined;
    const f = r.head.lastIndexOf(' for ');
    if (f < 0) return undefined;
    let sessionType = r.head.slice(0, f);
    const user = r.head.slice(f + 5);
    let tty: string | undefined;
    const on = sessionType.lastIndexOf(' on ');
    if (on >= 0 && /^[A-Za-z0-9/_.-]{1,32}$/.test(sessionType.slice(on + 4))) {
      tty = sessionType.slice(on + 4);
      sessionType = sessionType.slice(0, on);
    }
    return { ...base, kind: 'session-started', user: escapeControl(user), sessionType: escapeControl(sessionType), tty, ...r.peer };
  }
  return undefined;
}

/** The login record of an accepted login, else undefined (the other events are not logins). */
export function sshdLoginRecord(e: SshdEvent): LoginRecord | undefined {
  return e.kind === 'accepted' ? e.record : undefined;
}
