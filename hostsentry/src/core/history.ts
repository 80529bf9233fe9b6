/**
 * The per-user login history: what each user has done (sources with first/last time and counts,
 * login hours and weekdays, ttys, open sessions, last login, history-file sizes) and the learning
 * period, all in record time. Pure: no I/O, no clock, no logging.
 *
 * Ownership: {@link observe} never mutates its input. It returns a new top-level object and fresh
 * copies of the profiles it touches; untouched profiles are shared. That keeps the "history before"
 * that the anomaly modules read valid after the update, costs one bounded copy per record (profiles
 * are capped, see {@link MAX_SOURCES_PER_USER}), and lets a replay keep any snapshot it likes.
 * Everything here is plain JSON data, so the store can write it as is.
 */
import { formatPrefix, makePrefix, tryParseAddress, wallClock, type IpAddress, type TimeZone } from '@trisentry/shared';

export type { LoginRecord } from './utmp.js';
import type { LoginRecord } from './utmp.js';

/** How often and when one source (address, network or domain) was seen. Times are record ms. */
export interface SourceStat {
  first: number;
  last: number;
  count: number;
}

/** A session that is open now: from its login record until a logout on its tty, or a boot/shutdown. */
export interface OpenSession {
  tty: string;
  pid: number;
  session: number;
  /** The source key (see {@link sourceKey}); '' for a local login. */
  source: string;
  start: number;
  /** Modules that already reported this session, so later records of it do not repeat them. */
  reported: string[];
}

/** The last login of a user. */
export interface LastLogin {
  time: number;
  tty: string;
  source: string;
}

/** A shell history file's size as last seen (at a logout or a home check). */
export interface HistoryFileSize {
  size: number;
  time: number;
}

/** What one user has done. Treat as immutable; {@link observe} replaces, never edits. */
export interface UserProfile {
  firstSeen: number;
  lastSeen: number;
  /** Distinct sessions started (records of a session already open are not counted again). */
  logins: number;
  lastLogin: LastLogin | undefined;
  /** Canonical address text -> stat. */
  addresses: Record<string, SourceStat>;
  /** "/24" (IPv4) or "/64" (IPv6) prefix text -> stat. */
  networks: Record<string, SourceStat>;
  /** Domain of a source given by name (host name minus its first label), lower case -> stat. */
  domains: Record<string, SourceStat>;
  /** Logins per hour of day 0..23 in the configured zone. Length 24. */
  hours: number[];
  /** Logins per weekday 0 (Sunday)..6 in the configured zone. Length 7. */
  weekdays: number[];
  /** tty -> logins on it. */
  ttys: Record<string, number>;
  sessions: OpenSession[];
  /** History file (relative to the home) -> size last seen. */
  historySizes: Record<string, HistoryFileSize>;
  /**
   * Keys of the home-check findings already reported (core/homes.ts owns their format), so a
   * finding is logged once until it changes. Bounded (MAX_HOME_FINDINGS there). Absent until the
   * first home check that finds something.
   */
  homeFindings?: string[];
}

/** The whole database: per-user profiles plus the record time the learning period counts from. */
export interface History {
  /** The time of the first record ever observed; undefined for an empty history. */
  firstRecordTime: number | undefined;
  /** The time of the latest record observed (records may arrive out of order; this is the max). */
  lastRecordTime: number | undefined;
  users: Record<string, UserProfile>;
}

/** Options of {@link observe} and of the learning-period check. */
export interface HistoryOptions {
  /** The learning period in milliseconds (config learning_period is seconds: multiply). */
  readonly learningPeriodMs: number;
  /** The zone login hours and weekdays are counted in. Default 0 (UTC), so core output never depends on the host. */
  readonly timeZone?: TimeZone;
}

/**
 * Upper bound on each of a user's addresses, networks and domains (and on ttys and history files).
 * 256 keeps a profile a few tens of kilobytes even for a user logging in from a roaming pool; when
 * full, the source seen least recently is forgotten, which can only make a later login look new.
 */
export const MAX_SOURCES_PER_USER = 256;
/** Upper bound on a user's open sessions; the oldest is dropped (a lost logout record). */
export const MAX_OPEN_SESSIONS = 64;

/** Network prefix sizes kept in {@link UserProfile.networks}. */
export const NETWORK_PREFIX = { 4: 24, 6: 64 } as const;

/** An empty history. */
export function emptyHistory(): History {
  return { firstRecordTime: undefined, lastRecordTime: undefined, users: {} };
}

/** True while record time `time` is inside the learning period that starts at the history's first record. */
export function isLearning(history: History, time: number, opts: HistoryOptions): boolean {
  // With no record yet, this record is the first: learning, unless the period is zero.
  const start = history.firstRecordTime ?? time;
  return time < start + opts.learningPeriodMs;
}

/** The source address of a record: `address`, else `host` when it is an address text. IPv4-mapped is unmapped. */
export function sourceAddress(r: LoginRecord): IpAddress | undefined {
  const a = (r.address !== undefined ? tryParseAddress(r.address) : undefined) ?? tryParseAddress(r.host);
  return a?.unmapped();
}

/** The record's network prefix (/24 or /64) as text, or undefined without an address. */
export function sourceNetwork(r: LoginRecord): string | undefined {
  const a = sourceAddress(r);
  return a === undefined ? undefined : formatPrefix(makePrefix(a, NETWORK_PREFIX[a.family]));
}

/** A host name cleaned for comparison: lower case, no trailing dot; '' when the host is empty or an address. */
export function sourceHostName(r: LoginRecord): string {
  const h = r.host.trim().toLowerCase().replace(/\.$/, '');
  return h === '' || tryParseAddress(h) !== undefined ? '' : h;
}

/** The domain of a host name: without its first label ("ws1.corp.example" -> "corp.example"); '' for a single label. */
export function domainOf(hostName: string): string {
  const dot = hostName.indexOf('.');
  return dot < 0 ? '' : hostName.slice(dot + 1);
}

/**
 * The text naming a record's source: the canonical address, else the host name, else '' (a local
 * login). Used for sessions, anomalies and comparisons.
 */
export function sourceKey(r: LoginRecord): string {
  const a = sourceAddress(r);
  return a !== undefined ? a.toString() : sourceHostName(r);
}

/** A profile with nothing learned yet, first and last seen at `time`. */
export function emptyProfile(time: number): UserProfile {
  return {
    firstSeen: time,
    lastSeen: time,
    logins: 0,
    lastLogin: undefined,
    addresses: {},
    networks: {},
    domains: {},
    hours: new Array<number>(24).fill(0),
    weekdays: new Array<number>(7).fill(0),
    ttys: {},
    sessions: [],
    historySizes: {},
  };
}

/**
 * The open session of `p` that `r` belongs to, by pid when both have one (an sshd line and its wtmp
 * record share the session leader's pid), else by tty (a tty holds one session at a time).
 */
export function findSession(p: UserProfile | undefined, r: LoginRecord): OpenSession | undefined {
  if (p === undefined) return undefined;
  return p.sessions.find((s) => (s.pid !== 0 && r.pid !== 0 ? s.pid === r.pid : s.tty !== '' && s.tty === r.tty));
}

function bump(map: Record<string, SourceStat>, key: string, time: number): void {
  const s = map[key];
  if (s === undefined) {
    map[key] = { first: time, last: time, count: 1 };
    capMap(map);
  } else {
    map[key] = { first: Math.min(s.first, time), last: Math.max(s.last, time), count: s.count + 1 };
  }
}

/** Forgets the least recently seen entries beyond the cap. */
function capMap(map: Record<string, SourceStat>): void {
  const keys = Object.keys(map);
  if (keys.length <= MAX_SOURCES_PER_USER) return;
  keys.sort((a, b) => map[a]!.last - map[b]!.last);
  for (const k of keys.slice(0, keys.length - MAX_SOURCES_PER_USER)) delete map[k];
}

function cloneProfile(p: UserProfile): UserProfile {
  return structuredClone(p);
}

/**
 * Folds one record into the history and returns the new history; `history` is not changed.
 * A login opens a session (or, when the session is already open, e.g. the sshd line of a wtmp
 * login, only refreshes last-seen times) and counts source, network, domain, hour, weekday and tty.
 * A logout closes the session on its tty (wtmp logouts carry no user name, so every user is
 * searched). A boot or shutdown closes every open session. `reported` names modules that reported
 * this record's session, remembered so they are not repeated for its later records.
 */
export function observe(history: History, record: LoginRecord, opts: HistoryOptions, reported: readonly string[] = []): History {
  const t = record.time;
  const next: History = {
    firstRecordTime: history.firstRecordTime === undefined ? t : Math.min(history.firstRecordTime, t),
    lastRecordTime: history.lastRecordTime === undefined ? t : Math.max(history.lastRecordTime, t),
    users: { ...history.users },
  };
  switch (record.kind) {
    case 'login':
      if (record.user !== '') next.users[record.user] = login(history.users[record.user], record, opts, reported);
      break;
    case 'logout':
      for (const [user, p] of Object.entries(history.users)) {
        const i = p.sessions.findIndex((s) => (record.user === '' || record.user === user) && (s.tty === record.tty || (record.pid !== 0 && s.pid === record.pid)));
        if (i < 0) continue;
        const q = cloneProfile(p);
        q.sessions.splice(i, 1);
        q.lastSeen = Math.max(q.lastSeen, t);
        next.users[user] = q;
      }
      break;
    case 'boot':
    case 'shutdown':
      for (const [user, p] of Object.entries(history.users)) {
        if (p.sessions.length === 0) continue;
        next.users[user] = { ...p, sessions: [] };
      }
      break;
    default: {
      const never: never = record.kind;
      throw new Error(`unknown record kind ${String(never)}`);
    }
  }
  return next;
}

function login(before: UserProfile | undefined, r: LoginRecord, opts: HistoryOptions, reported: readonly string[]): UserProfile {
  const t = r.time;
  const p = before === undefined ? emptyProfile(t) : cloneProfile(before);
  p.firstSeen = Math.min(p.firstSeen, t);
  p.lastSeen = Math.max(p.lastSeen, t);
  const open = findSession(p, r);
  if (open !== undefined) {
    for (const m of reported) if (!open.reported.includes(m)) open.reported.push(m);
    // A second record of one session may be the first to know the address (sshd after wtmp).
    if (open.source === '') open.source = sourceKey(r);
    return p;
  }
  const source = sourceKey(r);
  p.logins += 1;
  if (p.lastLogin === undefined || t >= p.lastLogin.time) p.lastLogin = { time: t, tty: r.tty, source };
  const addr = sourceAddress(r);
  if (addr !== undefined) {
    bump(p.addresses, addr.toString(), t);
    bump(p.networks, formatPrefix(makePrefix(addr, NETWORK_PREFIX[addr.family])), t);
  }
  const dom = domainOf(sourceHostName(r));
  if (dom !== '') bump(p.domains, dom, t);
  const w = wallClock(t, opts.timeZone ?? 0);
  p.hours[w.hour] = (p.hours[w.hour] ?? 0) + 1;
  const wd = weekday(w.year, w.month, w.day);
  p.weekdays[wd] = (p.weekdays[wd] ?? 0) + 1;
  if (r.tty !== '') {
    p.ttys[r.tty] = (p.ttys[r.tty] ?? 0) + 1;
    capCounts(p.ttys);
  }
  p.sessions.push({ tty: r.tty, pid: r.pid, session: r.session, source, start: t, reported: [...reported] });
  if (p.sessions.length > MAX_OPEN_SESSIONS) p.sessions.splice(0, p.sessions.length - MAX_OPEN_SESSIONS);
  return p;
}

/** Day of week (0 = Sunday) of a calendar date; computed in UTC so no zone is consulted twice. */
function weekday(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month, day)).getUTCDay();
}

function capCounts(map: Record<string, number>): void {
  const keys = Object.keys(map);
  if (keys.length <= MAX_SOURCES_PER_USER) return;
  keys.sort((a, b) => map[a]! - map[b]!);
  for (const k of keys.slice(0, keys.length - MAX_SOURCES_PER_USER)) delete map[k];
}

/**
 * Records the size of one of `user`'s shell history files as seen at `time` (a logout or a home
 * check) and returns the new history; `history` is not changed. A user not yet known is created.
 */
export function observeHistoryFile(history: History, user: string, file: string, size: number, time: number): History {
  const before = history.users[user];
  const p = before === undefined ? emptyProfile(time) : cloneProfile(before);
  p.historySizes[file] = { size, time };
  const keys = Object.keys(p.historySizes);
  if (keys.length > MAX_SOURCES_PER_USER) {
    keys.sort((a, b) => p.historySizes[a]!.time - p.historySizes[b]!.time);
    for (const k of keys.slice(0, keys.length - MAX_SOURCES_PER_USER)) delete p.historySizes[k];
  }
  return { ...history, users: { ...history.users, [user]: p } };
}
