/**
 * The home-directory adapter: gathers what the home checks judge (history files, trust files,
 * oddly named directories) from the file system and hands it to the pure core (core/homes.ts).
 *
 * Homes belong to users who may be attackers, and the daemon runs as root, so nothing here follows
 * a symbolic link inside a home: files are lstat'ed and opened with O_NOFOLLOW (and O_NONBLOCK, so
 * a fifo planted as `.bash_history` cannot hang the daemon), a relative path whose directory part
 * is a link is skipped, walks never descend into links, and every read is bounded. Whatever cannot
 * be read is counted in `skipped` with its reason instead of throwing.
 */
import { closeSync, constants, fstatSync, lstatSync, opendirSync, openSync, readFileSync, readlinkSync, readSync, statSync, type Stats } from 'node:fs';
import type { History } from '../core/history.js';
import {
  checkHistoryFiles,
  checkOddDirnames,
  checkTrustFiles,
  oddDirnameReason,
  quote,
  type HistoryFileSnapshot,
  type HomeWalk,
  type HomesConfig,
  type TrustFileSnapshot,
} from '../core/homes.js';
import type { Anomaly } from '../core/modules.js';

/** At most this much of the end of a history file is read for HistorySuspicious. */
export const MAX_TAIL_BYTES = 256 * 1024;
/** At most this much of a trust file is read; a longer one is judged on its start and reported as cut. */
export const MAX_TRUST_BYTES = 64 * 1024;
/** A walk stops after this many directory entries of one home. */
export const MAX_ENTRIES_PER_HOME = 20_000;

/** A user and the home to check. */
export interface HomeUser {
  readonly user: string;
  readonly home: string;
}

/** A passwd entry as far as the home checks need it. */
export interface PasswdHome extends HomeUser {
  readonly uid: number;
}

/** Something that could not be (fully) checked, and why. `path` is escaped: it holds no control character. */
export interface Skipped {
  readonly path: string;
  readonly reason: string;
}

/** Options of {@link gatherHomeSnapshots} and {@link runHomeChecks}. */
export interface HomeCheckOptions {
  /** Entries visited per home before the walk stops. Default {@link MAX_ENTRIES_PER_HOME}. */
  readonly maxEntries?: number;
  /** Read modules.rhosts_check.system_files too. Default true. */
  readonly systemFiles?: boolean;
}

/** Everything gathered for one round of home checks. */
export interface HomeSnapshots {
  readonly historyFiles: HistoryFileSnapshot[];
  readonly trustFiles: TrustFileSnapshot[];
  readonly walks: HomeWalk[];
  readonly skipped: Skipped[];
}

/** Homes that are not a user's own directory: system directories a daemon account points at, or placeholders. */
const NOT_HOMES = new Set(['/', '/nonexistent', '/dev/null', '/bin', '/sbin', '/usr', '/usr/bin', '/usr/sbin', '/usr/games', '/etc', '/dev', '/proc', '/sys', '/run', '/tmp', '/var', '/var/tmp']);

/**
 * The entries of a passwd file (`name:x:uid:gid:gecos:home:shell`). Malformed lines and comments
 * are ignored. Pure.
 */
export function parsePasswdHomes(text: string): PasswdHome[] {
  const out: PasswdHome[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || f[0]!.startsWith('#')) continue;
    const uid = Number(f[2]);
    if (!Number.isInteger(uid) || uid < 0) continue;
    out.push({ user: f[0]!, uid, home: f[5]! });
  }
  return out;
}

/** The passwd entries of this host; an unreadable file gives none. */
export function readPasswdHomes(path = '/etc/passwd'): PasswdHome[] {
  try {
    return parsePasswdHomes(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
}

/** True when `home` can be a user's own home: absolute, and not `/`, `/nonexistent` or a system directory. Pure (no I/O). */
export function isCheckableHome(home: string): boolean {
  if (!home.startsWith('/')) return false;
  const h = home.length > 1 ? home.replace(/\/+$/, '') : home;
  if (h === '' || NOT_HOMES.has(h)) return false;
  return !['/proc/', '/sys/', '/dev/'].some((p) => h.startsWith(p));
}

function shown(path: string): string {
  return quote(path, 4096).slice(1, -1);
}

function errorCode(e: unknown): string {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

function isMissing(e: unknown): boolean {
  const c = errorCode(e);
  return c === 'ENOENT' || c === 'ENOTDIR';
}

function typeName(st: Stats): string {
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'special file';
}

function joinPath(home: string, rel: string): string {
  return home.endsWith('/') ? `${home}${rel}` : `${home}/${rel}`;
}

/**
 * Checks the directory part of `rel` below `home` without following links: 'ok', 'missing', or a
 * reason to skip (a component that is a link could point the root daemon at any file).
 */
function checkParents(home: string, rel: string): 'ok' | 'missing' | string {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  let path = home;
  for (const part of parts.slice(0, -1)) {
    path = joinPath(path, part);
    try {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) return `${shown(path)} is a symbolic link, not followed`;
      if (!st.isDirectory()) return 'missing';
    } catch (e) {
      if (isMissing(e)) return 'missing';
      return `cannot lstat ${shown(path)}: ${errorCode(e)}`;
    }
  }
  return 'ok';
}

/** Opens a regular file without following a link or blocking on a fifo; undefined (with the fstat) when it is not regular. */
function openRegular(path: string): { fd: number; st: Stats } | { fd: undefined; st: Stats } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  const st = fstatSync(fd);
  if (st.isFile()) return { fd, st };
  closeSync(fd);
  return { fd: undefined, st };
}

/** Reads `length` bytes at `position`, fewer at end of file. */
function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * A snapshot of one history file: lstat (never following a link), readlink for a link, and for a
 * regular file its size and (with `withTail`) its last {@link MAX_TAIL_BYTES}. Undefined, with a
 * `skipped` entry, when it cannot be looked at (permissions, a linked directory component): an
 * unreadable file must not look deleted.
 */
export function snapshotHistoryFile(user: string, home: string, file: string, withTail: boolean, skipped: Skipped[]): HistoryFileSnapshot | undefined {
  const path = joinPath(home, file);
  const base = { user, home, file };
  const parents = checkParents(home, file);
  if (parents === 'missing') return { ...base, kind: 'missing', size: 0 };
  if (parents !== 'ok') {
    skipped.push({ path: shown(path), reason: parents });
    return undefined;
  }
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (isMissing(e)) return { ...base, kind: 'missing', size: 0 };
    skipped.push({ path: shown(path), reason: `cannot lstat: ${errorCode(e)}` });
    return undefined;
  }
  if (st.isSymbolicLink()) {
    let target = '';
    try {
      target = readlinkSync(path);
    } catch (e) {
      skipped.push({ path: shown(path), reason: `cannot readlink: ${errorCode(e)}` });
    }
    return { ...base, kind: 'symlink', size: st.size, linkTarget: target };
  }
  if (!st.isFile()) return { ...base, kind: 'other', size: 0, type: typeName(st) };
  if (!withTail) return { ...base, kind: 'file', size: st.size };
  let opened: ReturnType<typeof openRegular>;
  try {
    opened = openRegular(path);
  } catch (e) {
    // Replaced by a link or removed between lstat and open: judge what is there at the next check.
    skipped.push({ path: shown(path), reason: `cannot open: ${errorCode(e)}` });
    return undefined;
  }
  if (opened.fd === undefined) return { ...base, kind: 'other', size: 0, type: typeName(opened.st) };
  try {
    const size = opened.st.size;
    const offset = Math.max(0, size - MAX_TAIL_BYTES);
    const tail = readAt(opened.fd, offset, size - offset);
    return { ...base, kind: 'file', size, tail, tailOffset: offset };
  } catch (e) {
    skipped.push({ path: shown(path), reason: `cannot read: ${errorCode(e)}` });
    return { ...base, kind: 'file', size: opened.st.size };
  } finally {
    closeSync(opened.fd);
  }
}

/**
 * The lines of a trust file, at most {@link MAX_TRUST_BYTES} of it, opened without following a
 * link. An absent file gives no lines (so its earlier findings are forgotten); a link, a non-regular
 * file or an unreadable one gives undefined and a `skipped` entry.
 */
export function readTrustFile(path: string, user: string, skipped: Skipped[]): TrustFileSnapshot | undefined {
  let opened: ReturnType<typeof openRegular>;
  try {
    opened = openRegular(path);
  } catch (e) {
    if (isMissing(e)) return { path, user, lines: [] };
    const code = errorCode(e);
    skipped.push({ path: shown(path), reason: code === 'ELOOP' ? 'is a symbolic link, not followed' : `cannot open: ${code}` });
    return undefined;
  }
  if (opened.fd === undefined) {
    skipped.push({ path: shown(path), reason: `is a ${typeName(opened.st)}, not a regular file` });
    return undefined;
  }
  try {
    const buf = readAt(opened.fd, 0, Math.min(opened.st.size, MAX_TRUST_BYTES));
    const lines = buf.toString('utf8').split('\n');
    if (opened.st.size > MAX_TRUST_BYTES) {
      lines.pop(); // cut mid-line
      skipped.push({ path: shown(path), reason: `only the first ${MAX_TRUST_BYTES} of ${opened.st.size} bytes read` });
    }
    return { path, user, lines: lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)) };
  } catch (e) {
    skipped.push({ path: shown(path), reason: `cannot read: ${errorCode(e)}` });
    return undefined;
  } finally {
    closeSync(opened.fd);
  }
}

/**
 * Walks `home` breadth-first to `maxDepth` levels below it (its own entries are depth 1), never
 * descending into a link, and returns the directories whose names are odd (see oddDirnameReason in
 * core/homes.ts). Names are handled as bytes, so a name that is not UTF-8 is still descended into.
 * Stops after `maxEntries` entries; a cap or an unreadable directory makes the walk incomplete and
 * is recorded in `skipped`.
 */
export function walkHome(user: string, home: string, maxDepth: number, skipped: Skipped[], maxEntries = MAX_ENTRIES_PER_HOME): HomeWalk {
  const dirs: string[] = [];
  let complete = true;
  let entries = 0;
  const queue: Array<{ path: Buffer; rel: string; depth: number }> = [{ path: Buffer.from(home), rel: '', depth: 0 }];
  // An index instead of shift(): the queue can hold thousands of directories.
  for (let qi = 0; qi < queue.length; qi++) {
    const { path, rel, depth } = queue[qi]!;
    let dir;
    try {
      // latin1 maps each byte to one character and back, so names survive as exact bytes.
      dir = opendirSync(path, { encoding: 'latin1' });
    } catch (e) {
      complete = false;
      skipped.push({ path: shown(path.toString('utf8')), reason: `cannot read directory: ${errorCode(e)}` });
      continue;
    }
    try {
      for (;;) {
        const ent = dir.readSync();
        if (ent === null) break;
        if (++entries > maxEntries) {
          complete = false;
          skipped.push({ path: shown(home), reason: `walk stopped after ${maxEntries} entries` });
          return { user, home, dirs, complete };
        }
        const nameBuf = Buffer.from(ent.name, 'latin1');
        const childPath = Buffer.concat([path, Buffer.from('/'), nameBuf]);
        let isDir = ent.isDirectory();
        const known = isDir || ent.isFile() || ent.isSymbolicLink() || ent.isFIFO() || ent.isSocket() || ent.isCharacterDevice() || ent.isBlockDevice();
        if (!known) {
          // File systems without d_type: ask lstat, which never follows a link.
          try {
            isDir = lstatSync(childPath).isDirectory();
          } catch {
            isDir = false;
          }
        }
        if (!isDir) continue;
        const name = nameBuf.toString('utf8');
        const childRel = rel === '' ? name : `${rel}/${name}`;
        if (oddDirnameReason(name) !== undefined) dirs.push(childRel);
        if (depth + 1 < maxDepth) queue.push({ path: childPath, rel: childRel, depth: depth + 1 });
      }
    } catch (e) {
      complete = false;
      skipped.push({ path: shown(path.toString('utf8')), reason: `cannot read directory: ${errorCode(e)}` });
    } finally {
      dir.closeSync();
    }
  }
  return { user, home, dirs, complete };
}

/**
 * The users whose homes can be checked: checkable paths (see {@link isCheckableHome}) that are
 * existing directories, each home once (the first user listed with it). The others go to `skipped`
 * when they looked like homes but are not directories.
 */
function checkableUsers(users: readonly HomeUser[], skipped: Skipped[]): HomeUser[] {
  const seen = new Set<string>();
  const out: HomeUser[] = [];
  for (const u of users) {
    if (u.user === '' || !isCheckableHome(u.home)) continue;
    const home = u.home.replace(/\/+$/, '');
    if (seen.has(home)) continue;
    seen.add(home);
    try {
      // The home itself may be a link (/home on another disk); what is inside is never followed.
      if (!statSync(home).isDirectory()) {
        skipped.push({ path: shown(home), reason: 'not a directory' });
        continue;
      }
    } catch (e) {
      if (!isMissing(e)) skipped.push({ path: shown(home), reason: `cannot stat: ${errorCode(e)}` });
      continue;
    }
    out.push({ user: u.user, home });
  }
  return out;
}

/** Gathers the snapshots the enabled home modules need for `users` (and the system trust files). */
export function gatherHomeSnapshots(users: readonly HomeUser[], cfg: HomesConfig, opts: HomeCheckOptions = {}): HomeSnapshots {
  const m = cfg.modules;
  const skipped: Skipped[] = [];
  const historyFiles: HistoryFileSnapshot[] = [];
  const trustFiles: TrustFileSnapshot[] = [];
  const walks: HomeWalk[] = [];
  const history = m.history_truncated.enabled || m.history_suspicious.enabled;
  for (const { user, home } of checkableUsers(users, skipped)) {
    if (history) {
      for (const file of cfg.home_checks.history_files) {
        const snap = snapshotHistoryFile(user, home, file, m.history_suspicious.enabled, skipped);
        if (snap !== undefined) historyFiles.push(snap);
      }
    }
    if (m.rhosts_check.enabled) {
      for (const file of m.rhosts_check.user_files) {
        const parents = checkParents(home, file);
        const path = joinPath(home, file);
        if (parents === 'missing') trustFiles.push({ path, user, lines: [] });
        else if (parents !== 'ok') skipped.push({ path: shown(path), reason: parents });
        else {
          const snap = readTrustFile(path, user, skipped);
          if (snap !== undefined) trustFiles.push(snap);
        }
      }
    }
    if (m.odd_dirnames.enabled) walks.push(walkHome(user, home, m.odd_dirnames.max_depth, skipped, opts.maxEntries));
  }
  if (m.rhosts_check.enabled && opts.systemFiles !== false) {
    for (const path of m.rhosts_check.system_files) {
      const snap = readTrustFile(path, '', skipped);
      if (snap !== undefined) trustFiles.push(snap);
    }
  }
  return { historyFiles, trustFiles, walks, skipped };
}

/**
 * One round of home checks for `users` at wall-clock `time` (ms; home checks look at the file
 * system now, so there is no record time): gathers the snapshots and runs HistoryTruncated,
 * HistorySuspicious, RhostsCheck and OddDirnames. Returns the anomalies, the new history (what was
 * reported is remembered there, so the next round does not repeat it) and what was skipped.
 * Never throws for file-system trouble; `history` is not changed.
 */
export function runHomeChecks(
  history: History,
  users: readonly HomeUser[],
  cfg: HomesConfig,
  time: number,
  opts: HomeCheckOptions = {},
): { history: History; anomalies: Anomaly[]; skipped: Skipped[] } {
  const snaps = gatherHomeSnapshots(users, cfg, opts);
  const a = checkHistoryFiles(history, snaps.historyFiles, cfg, time);
  const b = checkTrustFiles(a.history, snaps.trustFiles, cfg, time);
  const c = checkOddDirnames(b.history, snaps.walks, cfg, time);
  return { history: c.history, anomalies: [...a.anomalies, ...b.anomalies, ...c.anomalies], skipped: snaps.skipped };
}
