/**
 * Reading wtmpdb (`/var/lib/wtmpdb/wtmp.db`), the SQLite login database newer Debian and openSUSE
 * keep instead of wtmp.
 *
 * wtmpdb (thkukuk/wtmpdb, lib/sqlite.c) keeps one table:
 * `wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT NOT NULL, Login INTEGER, Logout INTEGER,
 * TTY TEXT, RemoteHost TEXT, Service TEXT) STRICT`, times in microseconds since the epoch. Type is
 * wtmpdb's own numbering (include/wtmpdb.h), not utmp's: EMPTY 0, BOOT_TIME 1, RUNLEVEL 2 (unused),
 * USER_PROCESS 3. A login INSERTs a row; its logout UPDATEs that row's Logout. `wtmpdb boot` INSERTs a
 * BOOT_TIME row (User "reboot", TTY "~", RemoteHost the kernel release) and `wtmpdb shutdown` sets
 * that row's Logout. `wtmpdb rotate` moves old rows to `wtmp_YYYYMMDD.db` and DELETEs them here.
 * The first releases had no ID column and used the implicit rowid; this reader only ever uses
 * `rowid`, which is ID where ID exists.
 *
 * So, unlike wtmp, news arrive two ways: new rows (rowid above the last one seen) and old rows whose
 * Logout became set. The state file keeps the last row id, a fingerprint of that row (to tell a
 * replaced database from a grown one), and the bounded set of rows still open.
 *
 * The database is read through the `sqlite3` command-line shell (Debian package sqlite3), run with an
 * argv array, `-readonly` (SQLITE_OPEN_READONLY: we never take a write lock, so a wtmpdb writer never
 * waits on a write of ours), `-safe` (no ATTACH, no shell escapes), `-init /dev/null` (no
 * ~/.sqliterc changing the output) and the query on stdin. Every row is read in one SELECT, so one
 * read transaction: a consistent snapshot. Text comes back as hex of its bytes, so invalid UTF-8 and
 * control characters are seen exactly and escaped here, never trusted to the shell's JSON writer.
 * Like `readWtmp`, the records come with a `commit()`: nothing is stored until the caller has
 * handled them, so a crash re-reads instead of losing records.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExecError, FileStateError, formatAddress, readJsonState, runCommand, tryParseAddress, writeJsonAtomic } from '@trisentry/shared';
import { escapeControl, type LoginRecord } from '../core/utmp.js';

/** wtmpdb's Type values (include/wtmpdb.h); not utmp's ut_type numbers. */
export const WTMPDB_TYPE = Object.freeze({
  EMPTY: 0,
  BOOT_TIME: 1,
  RUNLEVEL: 2,
  USER_PROCESS: 3,
});

/** Why a row, or part of one, could not be used as it was. */
export type WtmpdbBadReason =
  /** Type is not one of wtmpdb's values (or not an integer): the row is skipped. */
  | 'bad-type'
  /** Login missing, not an integer, negative or too far in the future: the row is skipped. A bad Logout (also: before Login): the logout is skipped. */
  | 'bad-time'
  /** A login row with a NULL or empty user: skipped. */
  | 'bad-user'
  /** A text field longer than any real one (user 256, tty 128, host 1024, service 128 bytes): the row is skipped. */
  | 'bad-field'
  /** Invalid UTF-8 or control characters in a text field: the row is used, with those escaped. */
  | 'escaped';

/** Count of rows of one reason, with the first row id seen (decimal text: row ids are 64-bit). */
export interface WtmpdbBadCount {
  readonly reason: WtmpdbBadReason;
  count: number;
  readonly firstRow: string;
}

/** Something about the database itself (not one row) a reader must report. */
export type WtmpdbNote =
  /** The database file does not exist (wtmpdb not installed, or deleted). The state is kept. */
  | { readonly kind: 'missing'; readonly detail: string }
  /**
   * The rows seen before are not there any more: fewer rows than the last id seen, or the last row seen
   * holds other data (the database was replaced, recreated, or emptied by `wtmpdb rotate`). Read from
   * the first row again.
   */
  | { readonly kind: 'reset'; readonly detail: string; readonly lastId: string; readonly maxId: string }
  /** A row seen before was deleted or rewritten while newer rows remain. */
  | { readonly kind: 'tamper'; readonly detail: string; readonly rowId: string }
  /** Rows still open (no logout yet) disappeared: rotated away by `wtmpdb rotate`, or deleted. */
  | { readonly kind: 'vanished'; readonly detail: string; readonly rowIds: readonly string[] }
  /** More open rows than `maxOpen`: the oldest are no longer followed (their logouts will be missed). */
  | { readonly kind: 'open-overflow'; readonly detail: string; readonly dropped: number }
  /** The database was locked by a writer for longer than the busy timeout: nothing read, try next poll. */
  | { readonly kind: 'busy'; readonly detail: string }
  /** The database could not be read (not a database, another schema, sqlite3 missing or failing): nothing read, try next poll. */
  | { readonly kind: 'error'; readonly detail: string };

/** Options for {@link readWtmpdb}. */
export interface ReadWtmpdbOptions {
  /** The sqlite3 shell, a path or a name looked up in PATH. Default 'sqlite3'. */
  readonly sqlite3?: string;
  /** At most this many new rows per call; `more` says whether to call again. Default 5000. */
  readonly maxRows?: number;
  /** At most this many open rows are followed for their logout; the oldest beyond are dropped. Default 1024. */
  readonly maxOpen?: number;
  /** How long sqlite3 waits on a writer's lock before giving up (SQLITE_BUSY), in ms. Default 250. */
  readonly busyTimeoutMs?: number;
  /** sqlite3 is killed after this many ms. Default 10,000. */
  readonly timeoutMs?: number;
  /** The wall clock in ms, for the far-future check only (record times are never replaced by it). Default Date.now(). */
  readonly now?: number;
  /** A time more than this many ms after `now` is garbage. Default one day (clock skew is not tamper evidence). */
  readonly maxFutureMs?: number;
}

/** The stored position in wtmpdb. */
export interface WtmpdbPosition {
  /** The highest row id read (decimal text), '0' before the first row. */
  readonly lastId: string;
  /**
   * The last rows read (at most 8, oldest first, the last one `lastId`) as [row id, fingerprint of its
   * Login and User]: which of them are still there, unchanged, tells a grown database from a replaced
   * one, and one whose newest rows were deleted.
   */
  readonly recent: readonly (readonly [string, string])[];
  /** Rows read without a logout yet, as [row id, Login in µs] (decimal texts), oldest first. */
  readonly open: readonly (readonly [string, string])[];
}

/** The outcome of one {@link readWtmpdb} call. */
export interface WtmpdbRead {
  /** Login events in time order (a login before the logout of the same row): logins, logouts, boots, shutdowns. */
  readonly records: LoginRecord[];
  readonly bad: WtmpdbBadCount[];
  readonly notes: WtmpdbNote[];
  /** True when `maxRows` stopped the read before the last row: call again (after commit) for the rest. */
  readonly more: boolean;
  /** The position after this read; stored by `commit`. */
  readonly position: WtmpdbPosition;
  /** Stores `position` atomically in the state file (no-op without one). Throws FileStateError FS_WRITE. */
  commit(): void;
}

const START: WtmpdbPosition = Object.freeze({ lastId: '0', recent: Object.freeze([]), open: Object.freeze([]) });
const RECENT = 8;

// Longest text kept per field, in bytes. Real values are far shorter (a user name is at most 32 bytes
// in utmp, a host name 253); anything longer is a row written to flood us.
const MAX_USER = 256;
const MAX_TTY = 128;
const MAX_HOST = 1024;
const MAX_SERVICE = 128;

const DIGITS = /^(0|[1-9][0-9]{0,19})$/;
const SIGNED = /^-?[0-9]{1,20}$/;

function loadPosition(stateFile: string | undefined): WtmpdbPosition {
  if (stateFile === undefined) return START;
  const v = readJsonState(stateFile);
  if (v === undefined) return START;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const { lastId, recent, open } = o;
    const pairs = (v: unknown, second: RegExp): v is [string, string][] =>
      Array.isArray(v) &&
      v.every((e: unknown) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && DIGITS.test(e[0]) && typeof e[1] === 'string' && second.test(e[1]));
    if (typeof lastId === 'string' && DIGITS.test(lastId) && pairs(recent, /^/) && pairs(open, DIGITS)) {
      return { lastId, recent: recent.map(([a, b]) => [a, b] as const), open: open.map(([a, b]) => [a, b] as const) };
    }
  }
  // A state file we cannot trust must not silently become "start over": that would replay history.
  throw new FileStateError('FS_READ', stateFile, 'not a wtmpdb position ({lastId, recent, open})');
}

/** One row as the query returns it: every value text, number or null (see {@link rowColumns}). */
interface RawRow {
  readonly k: string;
  readonly id: string | null;
  readonly type: string | null;
  readonly ut: string | null;
  readonly u: string | null;
  readonly ul: number | null;
  readonly li: string | null;
  readonly lo: string | null;
  readonly t: string | null;
  readonly tl: number | null;
  readonly h: string | null;
  readonly hl: number | null;
  readonly s: string | null;
  readonly sl: number | null;
}

/**
 * The columns read for a row. Integers come back as text, because row ids and times are 64-bit and a
 * JSON number loses digits past 2^53; a non-integer in an integer column (tables older than STRICT
 * allow it) comes back as 'x'. Text comes back as hex of at most `max` bytes plus its full length.
 */
function rowColumns(): string {
  const int = (c: string): string => `CASE typeof(${c}) WHEN 'integer' THEN CAST(${c} AS TEXT) WHEN 'null' THEN NULL ELSE 'x' END`;
  const text = (c: string, max: number, a: string): string =>
    `hex(substr(CAST(${c} AS BLOB), 1, ${max})) AS ${a}, length(CAST(${c} AS BLOB)) AS ${a}l`;
  return [
    'CAST(rowid AS TEXT) AS id',
    `${int('Type')} AS type`,
    'typeof(User) AS ut',
    text('User', MAX_USER, 'u'),
    `${int('Login')} AS li`,
    `${int('Logout')} AS lo`,
    text('TTY', MAX_TTY, 't'),
    text('RemoteHost', MAX_HOST, 'h'),
    text('Service', MAX_SERVICE, 's'),
  ].join(', ');
}

/**
 * The one SELECT of a read. The ids are digit strings (checked here), so the text below holds no
 * outside input. Rows are tagged: 'n' new, 'o' still open at the last read, 'a' the last rows read
 * (to recognise the database), 'm' the highest row id now.
 */
function buildQuery(lastId: string, openIds: readonly string[], recentIds: readonly string[], maxRows: number): string {
  for (const id of [lastId, ...openIds, ...recentIds]) if (!DIGITS.test(id)) throw new Error(`internal: row id ${JSON.stringify(id)} is not digits`);
  const cols = rowColumns();
  const parts = [`SELECT 'n' AS k, ${cols} FROM wtmp WHERE rowid IN (SELECT rowid FROM wtmp WHERE rowid > ${lastId} ORDER BY rowid LIMIT ${maxRows})`];
  if (openIds.length > 0) parts.push(`SELECT 'o', ${cols} FROM wtmp WHERE rowid IN (${openIds.join(',')})`);
  if (recentIds.length > 0) parts.push(`SELECT 'a', ${cols} FROM wtmp WHERE rowid IN (${recentIds.join(',')})`);
  parts.push(`SELECT 'm', CAST(max(rowid) AS TEXT), ${Array(12).fill('NULL').join(', ')} FROM wtmp`);
  return `${parts.join('\nUNION ALL ')};\n`;
}

type QueryOutcome = { readonly rows: RawRow[] } | { readonly note: WtmpdbNote };

const NO_TABLE = /no such table: wtmp\b/;
const BUSY = /database is locked|database table is locked|SQLITE_BUSY|\(5\)/;

/** First line of sqlite3's complaint, escaped and cut short: it can quote database content. */
function brief(s: string): string {
  const line = s.split('\n').find((l) => l.trim() !== '') ?? '';
  const e = escapeControl(line.trim());
  return e.length > 200 ? `${e.slice(0, 200)}...` : e;
}

async function query(dbPath: string, sql: string, opts: ReadWtmpdbOptions): Promise<QueryOutcome> {
  const busyMs = Math.max(0, Math.floor(opts.busyTimeoutMs ?? 250));
  // The path is absolute (config requires it, resolve() makes sure), so it can never read as an option.
  const args = ['-init', '/dev/null', '-readonly', '-safe', '-batch', '-bail', '-json', '-cmd', `.timeout ${busyMs}`, dbPath];
  let stdout: string;
  try {
    const r = await runCommand(opts.sqlite3 ?? 'sqlite3', args, { input: sql, timeoutMs: opts.timeoutMs ?? 10_000, maxOutput: 64 << 20 });
    stdout = r.stdout;
  } catch (e) {
    if (!(e instanceof ExecError)) throw e;
    // A database wtmpdb created but has not written to yet has no table: that is an empty database.
    if (NO_TABLE.test(e.stderr)) return { rows: [] };
    if (BUSY.test(e.stderr)) return { note: { kind: 'busy', detail: `${dbPath} is locked by a writer: ${brief(e.stderr)}; read again next time` } };
    return { note: { kind: 'error', detail: `cannot read ${dbPath}: ${e.code}: ${brief(e.stderr) || brief(e.message)}` } };
  }
  // The shell prints nothing at all for a statement without rows.
  if (stdout.trim() === '') return { rows: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (e) {
    return { note: { kind: 'error', detail: `cannot read ${dbPath}: sqlite3 printed no JSON (${brief((e as Error).message)})` } };
  }
  if (!Array.isArray(parsed)) return { note: { kind: 'error', detail: `cannot read ${dbPath}: sqlite3 printed no row list` } };
  return { rows: parsed as RawRow[] };
}

/** Login and User as read: what identifies a row beyond its id. */
function fingerprintOf(r: RawRow): string {
  return `${r.li ?? ''}:${r.u ?? ''}`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const looseUtf8 = new TextDecoder('utf-8', { fatal: false });

/** Decodes hex-of-bytes into safe text; `escaped` when invalid UTF-8 or control characters had to be escaped. */
function decodeText(hex: string | null): { text: string; escaped: boolean } {
  if (hex === null || hex === '') return { text: '', escaped: false };
  const bytes = Buffer.from(hex, 'hex');
  let text: string;
  let escaped = false;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    text = looseUtf8.decode(bytes);
    escaped = true;
  }
  const safe = escapeControl(text);
  return { text: safe, escaped: escaped || safe !== text };
}

/** A µs time column: a non-negative bigint, null (no value), or 'bad'. */
function usecOf(v: string | null): bigint | null | 'bad' {
  if (v === null) return null;
  if (typeof v !== 'string' || !SIGNED.test(v)) return 'bad';
  return BigInt(v);
}

/** A row made usable: texts decoded, times checked. */
interface Row {
  readonly id: bigint;
  readonly idText: string;
  readonly type: number | undefined;
  readonly userNull: boolean;
  readonly user: string;
  readonly tty: string;
  readonly host: string;
  readonly login: bigint | null | 'bad';
  readonly logout: bigint | null | 'bad';
  readonly tooLong: boolean;
  readonly escaped: boolean;
  /** Login and User as read, to recognise the row later. */
  readonly fingerprint: string;
}

function toRow(r: RawRow): Row | undefined {
  if (typeof r.id !== 'string' || !SIGNED.test(r.id)) return undefined;
  const user = decodeText(r.u);
  const tty = decodeText(r.t);
  const host = decodeText(r.h);
  const svc = decodeText(r.s);
  const typeNum = typeof r.type === 'string' && SIGNED.test(r.type) ? Number(r.type) : undefined;
  return {
    id: BigInt(r.id),
    idText: r.id,
    type: typeNum,
    userNull: r.ut === 'null',
    user: user.text,
    tty: tty.text,
    host: host.text,
    login: usecOf(r.li),
    logout: usecOf(r.lo),
    tooLong: (r.ul ?? 0) > MAX_USER || (r.tl ?? 0) > MAX_TTY || (r.hl ?? 0) > MAX_HOST || (r.sl ?? 0) > MAX_SERVICE,
    escaped: user.escaped || tty.escaped || host.escaped || svc.escaped,
    fingerprint: fingerprintOf(r),
  };
}

function addBad(into: WtmpdbBadCount[], reason: WtmpdbBadReason, row: string): void {
  const c = into.find((x) => x.reason === reason);
  if (c) c.count++;
  else into.push({ reason, count: 1, firstRow: row });
}

/** A remote host that is an address in canonical text; a name (or anything else) gives undefined. */
function addressOf(host: string): string | undefined {
  if (host === '') return undefined;
  const a = tryParseAddress(host);
  return a === undefined ? undefined : formatAddress(a);
}

function msOf(usec: bigint): number {
  return Number(usec / 1000n);
}

interface Work {
  readonly records: LoginRecord[];
  readonly bad: WtmpdbBadCount[];
  readonly notes: WtmpdbNote[];
  /** Open rows by id text, in the order they were opened. */
  readonly open: Map<string, bigint>;
  readonly maxUsec: bigint;
}

/** The login (or boot) event of a row, or undefined when the row is skipped (counted in `w.bad`). */
function openEvent(row: Row, w: Work): LoginRecord | undefined {
  const kind = row.type === WTMPDB_TYPE.USER_PROCESS ? 'login' : 'boot';
  if (row.tooLong) {
    addBad(w.bad, 'bad-field', row.idText);
    return undefined;
  }
  if (kind === 'login' && (row.userNull || row.user === '')) {
    addBad(w.bad, 'bad-user', row.idText);
    return undefined;
  }
  if (row.login === null || row.login === 'bad' || row.login < 0n || row.login > w.maxUsec) {
    addBad(w.bad, 'bad-time', row.idText);
    return undefined;
  }
  if (row.escaped) addBad(w.bad, 'escaped', row.idText);
  return {
    kind,
    user: row.user,
    tty: row.tty,
    host: row.host,
    // A boot row's RemoteHost is the kernel release, never a source.
    address: kind === 'login' ? addressOf(row.host) : undefined,
    time: msOf(row.login),
    pid: 0,
    session: 0,
    origin: 'wtmpdb',
    ...(row.id <= BigInt(Number.MAX_SAFE_INTEGER) ? { offset: Number(row.id) } : {}),
  };
}

/**
 * The logout (or shutdown) event of a row whose Logout is set, or undefined (bad Logout, counted).
 * `opened` is the row's login event as already checked.
 */
function closeEvent(row: Row, opened: LoginRecord, w: Work): LoginRecord | undefined {
  const lo = row.logout;
  if (lo === null) return undefined;
  if (lo === 'bad' || lo > w.maxUsec || row.login === null || row.login === 'bad' || lo < row.login) {
    addBad(w.bad, 'bad-time', row.idText);
    return undefined;
  }
  return { ...opened, kind: opened.kind === 'boot' ? 'shutdown' : 'logout', time: msOf(lo) };
}

/** Handles a row new since the last read. */
function onNewRow(row: Row, w: Work): void {
  if (row.type === WTMPDB_TYPE.EMPTY || row.type === WTMPDB_TYPE.RUNLEVEL) return;
  if (row.type !== WTMPDB_TYPE.USER_PROCESS && row.type !== WTMPDB_TYPE.BOOT_TIME) {
    addBad(w.bad, 'bad-type', row.idText);
    return;
  }
  const ev = openEvent(row, w);
  const at = row.login;
  if (ev === undefined || typeof at !== 'bigint') return;
  w.records.push(ev);
  if (ev.kind === 'boot') {
    // Sessions opened before this boot ended with the machine: no logout will ever be written for them.
    for (const [id, login] of w.open) if (login < at) w.open.delete(id);
  }
  if (row.logout === null) {
    w.open.set(row.idText, at);
    return;
  }
  const close = closeEvent(row, ev, w);
  if (close) w.records.push(close);
}

/** Handles a row that was open at the last read (its login was reported then). */
function onOpenRow(row: Row, w: Work): void {
  const known = w.open.get(row.idText);
  if (known === undefined) return; // only followed rows are asked for
  if (row.login !== known) {
    w.notes.push({ kind: 'tamper', detail: `row ${row.idText} had Login ${known} and now has ${String(row.login)}: rewritten`, rowId: row.idText });
    w.open.delete(row.idText);
    return;
  }
  if (row.logout === null) return;
  w.open.delete(row.idText);
  if (row.type !== WTMPDB_TYPE.USER_PROCESS && row.type !== WTMPDB_TYPE.BOOT_TIME) return;
  // The login was counted (or not) when it was new; build its event again without counting twice.
  const scratch: Work = { ...w, bad: [] };
  const ev = openEvent(row, scratch);
  if (ev === undefined) return;
  const close = closeEvent(row, ev, w);
  if (close) w.records.push(close);
}

/**
 * Reads what changed in the wtmpdb database `dbPath` since the position in `stateFile` (from the
 * first row without one): a login (USER_PROCESS) or boot (BOOT_TIME) event for each new row, and a
 * logout or shutdown event for each row whose Logout was set since (followed for at most `maxOpen`
 * open rows). Events are sorted by their time. RemoteHost becomes `address` only when it parses as an
 * address. A row with garbage (NULL user, bad type, negative or far-future time, over-long text) is
 * counted in `bad` and skipped; invalid UTF-8 and control characters are escaped and counted. A
 * missing file: a `missing` note. A replaced or emptied database: a `reset` note and a read from the
 * first row. A writer's lock held past the busy timeout: a `busy` note, nothing read. Never throws
 * for database contents or sqlite3 failures (an `error` note); throws FileStateError FS_READ for a
 * corrupt state file.
 */
export async function readWtmpdb(dbPath: string, stateFile?: string, opts: ReadWtmpdbOptions = {}): Promise<WtmpdbRead> {
  const path = resolve(dbPath);
  const stored = loadPosition(stateFile);
  const maxRows = Math.max(1, Math.floor(opts.maxRows ?? 5000));
  const maxOpen = Math.max(0, Math.floor(opts.maxOpen ?? 1024));
  const now = opts.now ?? Date.now();
  const maxUsec = BigInt(Math.floor(now + (opts.maxFutureMs ?? 86_400_000))) * 1000n;
  const notes: WtmpdbNote[] = [];

  try {
    statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      notes.push({ kind: 'missing', detail: `${path} does not exist` });
      return result([], [], notes, false, stored, stateFile);
    }
    notes.push({ kind: 'error', detail: `cannot read ${path}: ${brief((e as Error).message)}` });
    return result([], [], notes, false, stored, stateFile);
  }

  let from = stored;
  let q = await query(path, buildQuery(from.lastId, from.open.map(([id]) => id), from.recent.map(([id]) => id), maxRows), opts);
  if ('note' in q) return result([], [], [q.note], false, stored, stateFile);

  if (from.lastId !== '0') {
    const current = new Map<string, string>();
    for (const r of q.rows) if (r.k === 'a' && typeof r.id === 'string') current.set(r.id, fingerprintOf(r));
    // The newest row read before that still holds what it held then: the database is the same up to it.
    let survivor: readonly [string, string] | undefined;
    for (const a of from.recent) if (current.get(a[0]) === a[1]) survivor = a;
    const maxText = q.rows.find((r) => r.k === 'm')?.id ?? null;
    const maxId = typeof maxText === 'string' && DIGITS.test(maxText) ? maxText : '0';
    if (survivor === undefined) {
      notes.push({
        kind: 'reset',
        detail: `none of the last rows read from ${path} (up to row ${from.lastId}) is there as it was; it now ends at row ${maxId} (replaced, recreated, or emptied by wtmpdb rotate): reading it from the first row`,
        lastId: from.lastId,
        maxId,
      });
      from = START;
    } else if (survivor[0] !== from.lastId) {
      notes.push({
        kind: 'tamper',
        detail: `rows after ${survivor[0]} up to row ${from.lastId} of ${path}, read before, were deleted or rewritten: reading on from row ${survivor[0]}`,
        rowId: from.lastId,
      });
      // SQLite gives a new row the highest id + 1, so after the newest rows were deleted new logins reuse
      // their ids: read on from the survivor, and an open row above it is gone even if its id is taken again.
      const keep = BigInt(survivor[0]);
      const lost = from.open.filter(([id]) => BigInt(id) > keep).map(([id]) => id);
      if (lost.length > 0) notes.push(vanished(path, lost));
      from = {
        lastId: survivor[0],
        recent: from.recent.filter(([id]) => BigInt(id) <= keep),
        open: from.open.filter(([id]) => BigInt(id) <= keep),
      };
    }
    if (from.lastId !== stored.lastId) {
      q = await query(path, buildQuery(from.lastId, from.open.map(([id]) => id), [], maxRows), opts);
      if ('note' in q) return result([], [], [...notes, q.note], false, stored, stateFile);
    }
  }
  const rows = q.rows.map((r) => ({ k: r.k, row: toRow(r) }));

  const w: Work = {
    records: [],
    bad: [],
    notes,
    open: new Map(from.open.map(([id, login]) => [id, BigInt(login)])),
    maxUsec,
  };
  const seenOpen = new Set<string>();
  const fresh: Row[] = [];
  for (const { k, row } of rows) {
    if (row === undefined) continue;
    if (k === 'o') {
      seenOpen.add(row.idText);
      onOpenRow(row, w);
    } else if (k === 'n') fresh.push(row);
  }
  const gone = from.open.map(([id]) => id).filter((id) => !seenOpen.has(id) && w.open.has(id));
  if (gone.length > 0) {
    for (const id of gone) w.open.delete(id);
    notes.push(vanished(path, gone));
  }
  fresh.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const row of fresh) onNewRow(row, w);

  if (w.open.size > maxOpen) {
    const dropped = w.open.size - maxOpen;
    let n = dropped;
    // A Map iterates in insertion order: the rows opened longest ago go first.
    for (const id of w.open.keys()) {
      if (n-- <= 0) break;
      w.open.delete(id);
    }
    notes.push({ kind: 'open-overflow', detail: `more than ${maxOpen} open rows in ${path}; the ${dropped} oldest are no longer followed`, dropped });
  }

  const lastRow = fresh[fresh.length - 1];
  const position: WtmpdbPosition = {
    lastId: lastRow?.idText ?? from.lastId,
    recent: [...from.recent, ...fresh.slice(-RECENT).map((r) => [r.idText, r.fingerprint] as const)].slice(-RECENT),
    open: [...w.open].map(([id, l]) => [id, l.toString()] as const),
  };
  // A stable sort keeps a row's login before its logout at the same instant.
  w.records.sort((a, b) => a.time - b.time);
  return result(w.records, w.bad, notes, fresh.length >= maxRows, position, stateFile);
}

function vanished(path: string, gone: readonly string[]): WtmpdbNote {
  const list = `${gone.slice(0, 10).join(', ')}${gone.length > 10 ? ', ...' : ''}`;
  return { kind: 'vanished', detail: `${gone.length} open row(s) of ${path} disappeared before their logout (wtmpdb rotate, or deleted): ${list}`, rowIds: gone };
}

function result(
  records: LoginRecord[],
  bad: WtmpdbBadCount[],
  notes: WtmpdbNote[],
  more: boolean,
  position: WtmpdbPosition,
  stateFile: string | undefined,
): WtmpdbRead {
  return {
    records,
    bad,
    notes,
    more,
    position,
    commit(): void {
      if (stateFile !== undefined) {
        writeJsonAtomic(stateFile, { lastId: position.lastId, recent: position.recent, open: position.open });
      }
    },
  };
}

/**
 * The version of the sqlite3 shell `bin` (e.g. "3.40.1"), or undefined when it cannot be run. For
 * start-up checks: wtmpdb's STRICT table needs SQLite 3.37 or later to be read at all.
 */
export async function sqlite3Version(bin = 'sqlite3'): Promise<string | undefined> {
  try {
    const r = await runCommand(bin, ['-version'], { timeoutMs: 5000 });
    return /^(\d+\.\d+\.\d+)/.exec(r.stdout.trim())?.[1];
  } catch {
    return undefined;
  }
}
