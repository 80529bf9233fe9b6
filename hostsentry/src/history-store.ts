/**
 * The history store: the whole per-user history in one JSON file, replaced atomically (temporary
 * file, fsync, rename) on every save, so a crash leaves the old or the new file, never a torn one.
 *
 * Why JSON and not SQLite: no native dependency to build, one file to back up or delete, atomic
 * rename gives crash safety without a journal of our own, and an administrator can read it with
 * `jq`. Size stays bounded because core caps each user's sources at MAX_SOURCES_PER_USER (256 each
 * of addresses, networks and domains) and open sessions at MAX_OPEN_SESSIONS (64).
 */
import { FileStateError, readJsonState, writeJsonAtomic } from '@trisentry/shared';
import { emptyHistory, type History, type UserProfile } from './core/history.js';

/** The format tag and version written into the file; a different one is refused, never guessed at. */
export const HISTORY_FORMAT = 'hostsentry-history';
/** The current version of {@link HISTORY_FORMAT}. */
export const HISTORY_VERSION = 1;

/** Writes `history` to `path` atomically (mode 0600: it names users and where they log in from). Throws FileStateError FS_WRITE. */
export function saveHistory(path: string, history: History): void {
  writeJsonAtomic(path, { format: HISTORY_FORMAT, version: HISTORY_VERSION, history });
}

/**
 * Reads the history at `path`; a missing file is an empty history. A file that is not JSON, has
 * another format or version, or whose profiles have the wrong shape throws FileStateError FS_READ
 * naming the file (never treated as empty: that would forget every user's habits and alert on all).
 */
export function loadHistory(path: string): History {
  const raw = readJsonState(path);
  if (raw === undefined) return emptyHistory();
  const bad = (why: string): never => {
    throw new FileStateError('FS_READ', path, `not a hostsentry history: ${why}`);
  };
  if (!isObject(raw) || raw['format'] !== HISTORY_FORMAT) return bad(`no "format": "${HISTORY_FORMAT}"`);
  if (raw['version'] !== HISTORY_VERSION) return bad(`version ${JSON.stringify(raw['version'])} is not ${HISTORY_VERSION}`);
  const h = raw['history'];
  if (!isObject(h) || !isObject(h['users'])) return bad('no "history.users" object');
  const optTime = (v: unknown): v is number | undefined => v === undefined || typeof v === 'number';
  if (!optTime(h['firstRecordTime']) || !optTime(h['lastRecordTime'])) return bad('record times are not numbers');
  for (const [user, p] of Object.entries(h['users'])) {
    const why = profileProblem(p);
    if (why !== undefined) bad(`user ${JSON.stringify(user)}: ${why}`);
  }
  return { firstRecordTime: h['firstRecordTime'], lastRecordTime: h['lastRecordTime'], users: h['users'] as Record<string, UserProfile> };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why `p` is not a UserProfile, or undefined when it has the shape core relies on. */
function profileProblem(p: unknown): string | undefined {
  if (!isObject(p)) return 'profile is not an object';
  for (const k of ['firstSeen', 'lastSeen', 'logins'] as const) if (typeof p[k] !== 'number') return `${k} is not a number`;
  for (const k of ['addresses', 'networks', 'domains', 'ttys', 'historySizes'] as const) if (!isObject(p[k])) return `${k} is not an object`;
  const counts = (v: unknown, n: number): boolean => Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number');
  if (!counts(p['hours'], 24)) return 'hours is not 24 numbers';
  if (!counts(p['weekdays'], 7)) return 'weekdays is not 7 numbers';
  if (!Array.isArray(p['sessions']) || !p['sessions'].every((s) => isObject(s) && typeof s['tty'] === 'string' && typeof s['pid'] === 'number' && typeof s['source'] === 'string' && Array.isArray(s['reported']))) {
    return 'sessions is not a list of sessions';
  }
  for (const k of ['addresses', 'networks', 'domains'] as const) {
    for (const st of Object.values(p[k] as Record<string, unknown>)) {
      if (!isObject(st) || typeof st['first'] !== 'number' || typeof st['last'] !== 'number' || typeof st['count'] !== 'number') return `${k} holds an entry without first/last/count`;
    }
  }
  return undefined;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The learned profile of `user` as text for `hostsentry stat USER`; names and hosts are escaped to one line each. */
export function formatProfile(user: string, p: UserProfile): string {
  const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  const lines: string[] = [`user ${clean(user)}`];
  lines.push(`  first seen  ${iso(p.firstSeen)}`, `  last seen   ${iso(p.lastSeen)}`, `  logins      ${p.logins}`);
  if (p.lastLogin !== undefined) lines.push(`  last login  ${iso(p.lastLogin.time)} on ${clean(p.lastLogin.tty) || '?'} ${p.lastLogin.source === '' ? 'locally' : `from ${clean(p.lastLogin.source)}`}`);
  const sources = (title: string, m: Record<string, { first: number; last: number; count: number }>): void => {
    const keys = Object.keys(m).sort((a, b) => m[b]!.last - m[a]!.last);
    lines.push(`  ${title} (${keys.length})`);
    for (const k of keys) {
      const s = m[k]!;
      lines.push(`    ${clean(k)}  ${s.count}x  ${iso(s.first)} .. ${iso(s.last)}`);
    }
  };
  sources('addresses', p.addresses);
  sources('networks', p.networks);
  sources('domains', p.domains);
  lines.push(`  hours       ${p.hours.flatMap((n, h) => (n > 0 ? [`${String(h).padStart(2, '0')}:${n}`] : [])).join(' ') || '-'}`);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  lines.push(`  weekdays    ${p.weekdays.flatMap((n, d) => (n > 0 ? [`${days[d]}:${n}`] : [])).join(' ') || '-'}`);
  lines.push(`  ttys        ${Object.entries(p.ttys).map(([t, n]) => `${clean(t)}:${n}`).join(' ') || '-'}`);
  lines.push(`  open        ${p.sessions.map((s) => `${clean(s.tty) || '?'} ${s.source === '' ? 'local' : clean(s.source)} since ${iso(s.start)}`).join('; ') || '-'}`);
  for (const [f, s] of Object.entries(p.historySizes)) lines.push(`  history     ${clean(f)} ${s.size} bytes at ${iso(s.time)}`);
  return lines.join('\n');
}
