/**
 * hostsentry's login anomaly modules. Each is a pure function of (history before the record, the
 * record, the config, a context of injected lookups) returning the anomalies it finds. No I/O, no
 * clock: the passwd lookup and the time zone come in through {@link ModuleContext}.
 */
import { escapeControl, formatPrefix, makePrefix, prefixContains, tryParsePrefix, type IpPrefix, type TimeZone, wallClock } from '@trisentry/shared';
import type { HostsentryConfig, Severity } from '../config.js';
import {
  domainOf,
  findSession,
  isLearning,
  observe,
  sourceAddress,
  sourceHostName,
  sourceKey,
  type History,
  type HistoryOptions,
  type LoginRecord,
  type UserProfile,
} from './history.js';

/** The login-time modules of this file, by the name used in log lines. */
export type LoginModuleName = 'FirstLogin' | 'ForeignDomain' | 'NewSource' | 'OddLoginTime' | 'MultipleLogins' | 'SystemAccountLogin';
/** Every module, by the name used in log lines: the login-time ones, the home checks and the record checks. */
export type ModuleName = LoginModuleName | 'HistoryTruncated' | 'HistorySuspicious' | 'RhostsCheck' | 'OddDirnames' | 'RecordTamper';

/**
 * One finding: which module, how serious, whose login, from where, when (record ms), and why.
 * Findings that are not about one login (a home check, a tampered file) have no `record`, tty '' and
 * source '' and the time of the check or of the record that revealed it.
 */
export interface Anomaly {
  readonly module: ModuleName;
  readonly severity: Severity;
  readonly user: string;
  readonly tty: string;
  /** Source address, else host name, else '' for a local login. */
  readonly source: string;
  readonly time: number;
  readonly evidence: string;
  readonly record?: LoginRecord;
}

/** What a passwd lookup returns for a user; undefined when the user is unknown. */
export interface PasswdEntry {
  readonly uid: number;
  readonly shell: string;
}

/** Lookups and settings the modules need that are not in the config. */
export interface ModuleContext {
  /** The passwd entry of a user (the adapter reads getent/passwd; tests inject a table). */
  readonly passwd: (user: string) => PasswdEntry | undefined;
  /** The zone for hours and windows. Default 0 (UTC). */
  readonly timeZone?: TimeZone;
}

/** The config subset the modules read. */
export interface ModulesConfig {
  readonly learning_period: number;
  readonly modules: Pick<HostsentryConfig['modules'], 'first_login' | 'foreign_domain' | 'new_source' | 'odd_login_time' | 'multiple_logins' | 'system_account_login'>;
}

/** A module: history before the record, the record, config, context -> anomalies (possibly none). */
export type Module = (history: History, record: LoginRecord, config: ModulesConfig, ctx: ModuleContext) => Anomaly[];

/** Below this many logins a user's learned hours say too little to call an hour odd. */
export const MIN_LOGINS_FOR_HOURS = 5;

const SHELLS_NOLOGIN = /(^|\/)(nologin|false)$/;

function anomaly(module: ModuleName, severity: Severity, r: LoginRecord, evidence: string): Anomaly {
  return { module, severity, user: r.user, tty: r.tty, source: sourceKey(r), time: r.time, evidence, record: r };
}

function historyOptions(config: ModulesConfig, ctx: ModuleContext): HistoryOptions {
  return { learningPeriodMs: config.learning_period * 1000, timeZone: ctx.timeZone ?? 0 };
}

/** A compiled allow list: prefixes, exact host names, and domain suffixes (".example.org"). */
interface SourceMatcher {
  readonly prefixes: readonly IpPrefix[];
  readonly names: ReadonlySet<string>;
  readonly suffixes: readonly string[];
}

// The config is frozen, so its lists can key a cache: each list is compiled once.
const matcherCache = new WeakMap<readonly string[], SourceMatcher>();

function matcher(list: readonly string[]): SourceMatcher {
  let m = matcherCache.get(list);
  if (m === undefined) {
    const prefixes: IpPrefix[] = [];
    const names = new Set<string>();
    const suffixes: string[] = [];
    for (const raw of list) {
      const p = tryParsePrefix(raw);
      if (p !== undefined) prefixes.push(p);
      else {
        const x = raw.toLowerCase().replace(/\.$/, '');
        if (x.startsWith('*.')) suffixes.push(x.slice(1));
        else if (x.startsWith('.')) suffixes.push(x);
        else names.add(x);
      }
    }
    m = { prefixes, names, suffixes };
    matcherCache.set(list, m);
  }
  return m;
}

/** True when the record's address lies in an allowed prefix, or its host name is allowed or ends in an allowed domain. */
function allowed(m: SourceMatcher, r: LoginRecord): boolean {
  const a = sourceAddress(r);
  if (a !== undefined && m.prefixes.some((p) => prefixContains(p, a))) return true;
  const h = sourceHostName(r);
  return h !== '' && (m.names.has(h) || m.suffixes.some((s) => h.endsWith(s)));
}

/** FirstLogin: a user with no history logs in, after the learning period. */
export const firstLogin: Module = (h, r, c, ctx) => {
  // A profile without logins (made by a home check) is no login history.
  if ((h.users[r.user]?.logins ?? 0) > 0 || isLearning(h, r.time, historyOptions(c, ctx))) return [];
  return [anomaly('FirstLogin', c.modules.first_login.severity, r, 'first login of this user')];
};

/** ForeignDomain: a remote login whose source is outside `allow`. Local logins always pass. */
export const foreignDomain: Module = (_h, r, c) => {
  const m = c.modules.foreign_domain;
  if (sourceKey(r) === '' || m.allow.length === 0 || allowed(matcher(m.allow), r)) return [];
  return [anomaly('ForeignDomain', m.severity, r, `source outside the allowed hosts, domains and networks (${m.allow.join(', ')})`)];
};

/** NewSource: an address (match: address) or network (match: network) the user never logged in from. */
export const newSource: Module = (h, r, c, ctx) => {
  const m = c.modules.new_source;
  const p = h.users[r.user];
  // A user without login history is FirstLogin's; learning records sources silently.
  if (p === undefined || p.logins === 0 || isLearning(h, r.time, historyOptions(c, ctx))) return [];
  const a = sourceAddress(r);
  if (a === undefined) {
    const host = sourceHostName(r);
    const dom = domainOf(host);
    if (dom === '' || p.domains[dom] !== undefined) return [];
    return [anomaly('NewSource', m.severity, r, `first login from domain ${dom} (known: ${known(Object.keys(p.domains))})`)];
  }
  if (m.match === 'address') {
    if (p.addresses[a.toString()] !== undefined) return [];
    return [anomaly('NewSource', m.severity, r, `first login from ${a.toString()} (known: ${known(Object.keys(p.addresses))})`)];
  }
  const net = makePrefix(a, a.family === 4 ? m.ipv4_prefix : m.ipv6_prefix);
  if (isKnownNetwork(p, net)) return [];
  return [anomaly('NewSource', m.severity, r, `first login from ${formatPrefix(net)} (known: ${known(Object.keys(p.networks))})`)];
};

/** True when the user has logged in from an address in `net`, or from a stored network inside it. */
function isKnownNetwork(p: UserProfile, net: IpPrefix): boolean {
  for (const key of Object.keys(p.addresses)) {
    const kp = tryParsePrefix(key);
    if (kp !== undefined && prefixContains(net, kp.address)) return true;
  }
  for (const key of Object.keys(p.networks)) {
    const kp = tryParsePrefix(key);
    if (kp !== undefined && kp.length >= net.length && prefixContains(net, kp.address)) return true;
  }
  return false;
}

function known(keys: string[]): string {
  if (keys.length === 0) return 'none';
  const shown = keys.slice(0, 5).join(', ');
  return keys.length > 5 ? `${shown}, and ${keys.length - 5} more` : shown;
}

/** Minutes since midnight of "HH:MM". */
function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** True when minute-of-day `mod` is inside "HH:MM-HH:MM" (end exclusive; wraps past midnight when end < start). */
function inWindow(window: string, mod: number): boolean {
  const start = minutesOf(window.slice(0, 5));
  const end = minutesOf(window.slice(6));
  return start < end ? mod >= start && mod < end : mod >= start || mod < end;
}

/**
 * OddLoginTime: outside every configured window, or (learned_hours, after learning, with at least
 * {@link MIN_LOGINS_FOR_HOURS} logins) at an hour the user has never logged in at, neither that hour
 * nor the one before or after (one hour of slack, so 18:05 is not odd for someone who leaves at 17:55).
 */
export const oddLoginTime: Module = (h, r, c, ctx) => {
  const m = c.modules.odd_login_time;
  const w = wallClock(r.time, ctx.timeZone ?? 0);
  const hhmm = `${String(w.hour).padStart(2, '0')}:${String(w.minute).padStart(2, '0')}`;
  const reasons: string[] = [];
  if (m.windows.length > 0 && !m.windows.some((win) => inWindow(win, w.hour * 60 + w.minute))) {
    reasons.push(`${hhmm} is outside the login windows ${m.windows.join(', ')}`);
  }
  const p = h.users[r.user];
  if (m.learned_hours && p !== undefined && p.logins >= MIN_LOGINS_FOR_HOURS && !isLearning(h, r.time, historyOptions(c, ctx))) {
    const near = (p.hours[(w.hour + 23) % 24] ?? 0) + (p.hours[w.hour] ?? 0) + (p.hours[(w.hour + 1) % 24] ?? 0);
    if (near === 0) {
      const usual = p.hours.flatMap((n, hr) => (n > 0 ? [String(hr).padStart(2, '0')] : []));
      reasons.push(`${hhmm} is not near the hours this user logs in at (${usual.join(', ')})`);
    }
  }
  return reasons.length === 0 ? [] : [anomaly('OddLoginTime', m.severity, r, reasons.join('; '))];
};

/** MultipleLogins: the user already has a session open from a different remote source; allowed sources are exempt. */
export const multipleLogins: Module = (h, r, c) => {
  const m = c.modules.multiple_logins;
  const src = sourceKey(r);
  if (src === '') return [];
  const allow = matcher(m.allow);
  if (allowed(allow, r)) return [];
  const p = h.users[r.user];
  const self = findSession(p, r);
  const others = (p?.sessions ?? []).filter((s) => s !== self && s.source !== '' && s.source !== src && !allowedSource(allow, s.source));
  if (others.length === 0) return [];
  const list = others.map((s) => `${s.source} on ${s.tty}`).join(', ');
  return [anomaly('MultipleLogins', m.severity, r, `already logged in from ${list}`)];
};

function allowedSource(m: SourceMatcher, source: string): boolean {
  const isAddr = tryParsePrefix(source) !== undefined;
  const probe: LoginRecord = { user: '', tty: '', host: source, address: isAddr ? source : undefined, time: 0, kind: 'login', pid: 0, session: 0, origin: 'wtmp' };
  return allowed(m, probe);
}

/** SystemAccountLogin: a login to an account with uid below min_uid or a nologin/false shell, unless in allow_users. */
export const systemAccountLogin: Module = (_h, r, c, ctx) => {
  const m = c.modules.system_account_login;
  if (m.allow_users.includes(r.user)) return [];
  const pw = ctx.passwd(r.user);
  // An unknown user cannot be judged here (the account may have been removed since the record).
  if (pw === undefined) return [];
  const why: string[] = [];
  if (pw.uid < m.min_uid) why.push(`uid ${pw.uid} is below ${m.min_uid}`);
  if (SHELLS_NOLOGIN.test(pw.shell)) why.push(`shell ${pw.shell} does not allow logins`);
  return why.length === 0 ? [] : [anomaly('SystemAccountLogin', m.severity, r, `system account: ${why.join(', ')}`)];
};

/** Every module with the config key that switches it, in the order they run. */
export const MODULES: ReadonlyArray<readonly [keyof ModulesConfig['modules'], Module]> = [
  ['first_login', firstLogin],
  ['foreign_domain', foreignDomain],
  ['new_source', newSource],
  ['odd_login_time', oddLoginTime],
  ['multiple_logins', multipleLogins],
  ['system_account_login', systemAccountLogin],
];

/**
 * Runs the enabled modules on one login record against the history before it. Only `login`
 * records with a user are judged. A module that already reported the record's open session is not
 * run again for it (utmp at start-up, the sshd line and the wtmp record of one login are one session).
 */
export function runModules(history: History, record: LoginRecord, config: ModulesConfig, ctx: ModuleContext): Anomaly[] {
  if (record.kind !== 'login' || record.user === '') return [];
  const done = findSession(history.users[record.user], record)?.reported ?? [];
  const out: Anomaly[] = [];
  for (const [key, mod] of MODULES) {
    if (!config.modules[key].enabled) continue;
    for (const a of mod(history, record, config, ctx)) if (!done.includes(a.module)) out.push(a);
  }
  return out;
}

/**
 * One step of the pipeline: the anomalies of `record` against `history`, and the history after it
 * (with the reported modules remembered on the session). `history` is not changed.
 */
export function step(history: History, record: LoginRecord, config: ModulesConfig, ctx: ModuleContext): { history: History; anomalies: Anomaly[] } {
  const anomalies = runModules(history, record, config, ctx);
  const next = observe(history, record, historyOptions(config, ctx), anomalies.map((a) => a.module));
  return { history: next, anomalies };
}

/**
 * One log line for an anomaly, e.g. `securityalert: hostsentry: NewSource: user alice on pts/0 from
 * 198.51.100.7 at 2026-11-21T03:12:00Z: first login from 198.51.100.0/24 (known: 192.0.2.0/24)`.
 * High severity uses PortSentry's `attackalert:` tag. Every field that came from a record is
 * escaped (control characters as #ooo), so the result is always exactly one line.
 */
export function formatAnomaly(a: Anomaly): string {
  const tag = a.severity === 'high' ? 'attackalert' : 'securityalert';
  const when = Number.isFinite(a.time) ? new Date(a.time).toISOString().replace(/\.\d{3}Z$/, 'Z') : 'unknown time';
  let who: string;
  // A logout record has no user and no source: "user  on pts/1 locally" would say what is not known.
  if (a.record !== undefined && a.user !== '') who = `user ${a.user} on ${a.tty || '?'} ${a.source === '' ? 'locally' : `from ${a.source}`} `;
  else {
    // Not about one login (a home check, a wiped record, a lone logout): name only what is known.
    who = [a.user !== '' ? `user ${a.user}` : '', a.tty !== '' ? `on ${a.tty}` : '', a.source !== '' ? `from ${a.source}` : ''].filter(Boolean).join(' ');
    if (who !== '') who += ' ';
  }
  return escapeControl(`${tag}: hostsentry: ${a.module}: ${who}at ${when}: ${a.evidence}`);
}
