/**
 * RecordTamper: evidence that login records were removed or altered.
 *
 * Pure: (state, input, cfg) -> (state, anomalies), no I/O, no clock (time comes from the records
 * and from the `now` a caller passes to {@link flush}). The state is plain JSON and bounded by caps.
 *
 * What is flagged, and why it is reliable enough to alert on:
 * - wtmp time going backwards by more than a tolerance (default 60 s) from the previous wtmp record:
 *   wtmp is append-only in time order, so an older record after a newer one was inserted or had
 *   its time edited. A boot record restarts the comparison (a wrong RTC at boot is common and
 *   harmless); clock steps inside a run (NEW_TIME/OLD_TIME) are not login records, so a large
 *   manual clock change is reported once, at the first record after it.
 * - a logout (DEAD_PROCESS) on a pseudo-terminal (`pts/N`) with no open login there: sshd,
 *   telnetd and utempter write a pty's login and logout as a pair, so a lone logout means the
 *   login record was cut out (the way utmp cleaners remove one session). Other ttys are not
 *   judged: systemd writes DEAD_PROCESS for every getty it stops, logged in or not. Nothing is
 *   judged until the open sessions are known: after a boot record, or after {@link primeTamper}
 *   with utmp's logins.
 * - zeroed records in wtmp (the classic log-wiper signature: zap-style cleaners overwrite a
 *   record with zeros), records that do not decode, wtmp shrinking or being rewritten without
 *   rotation, and wtmp replaced with the old file gone ({@link tamperFromWtmpRead}).
 * - an sshd `Accepted` login with no wtmp/wtmpdb login of the same user near it
 *   ({@link matchSshd}, {@link flush}); see {@link SshdMatchMode} for when this is trustworthy.
 */
import type { Severity } from '../config.js';
import { sourceKey } from './history.js';
import type { Anomaly } from './modules.js';
import type { SshdEvent } from './sshd.js';
import type { BadCount, LoginRecord } from './utmp.js';

/**
 * Which sshd `Accepted` logins must have a wtmp login. sshd writes wtmp itself, and only for
 * sessions with a pty (OpenSSH session.c: `do_login` -> `record_login` is called from
 * `do_exec_pty` only); Debian's pam stack for sshd writes no wtmp, so `ssh host cmd`, scp, sftp,
 * `-N` tunnels and `ssh -T` leave an Accepted line and no wtmp record at all. (pam_wtmpdb, where
 * installed, records every PAM session, pty or not, in wtmpdb.) sshd says whether it allocated a
 * pty only at LogLevel VERBOSE (`Starting session: shell on pts/0 for ...`), so:
 * - `pty` (default, conservative): only an Accepted whose connection then logged `Starting
 *   session: ... on <tty>` must have a login record. Without LogLevel VERBOSE this never fires.
 * - `all`: every Accepted must have one: right on hosts where every ssh session reaches wtmpdb (pam_wtmpdb)
 *   or where ssh is used only interactively; noisy where scp, sftp, git or automation use ssh.
 * - `off`: no matching.
 */
export type SshdMatchMode = 'off' | 'pty' | 'all';

/** The config RecordTamper reads (`modules.record_tamper`, plus two optional tunables). */
export interface TamperConfig {
  readonly enabled: boolean;
  readonly severity: Severity;
  /** Seconds an sshd Accepted and its wtmp/wtmpdb login may be apart (either order). */
  readonly sshd_match_window: number;
  /** Default `pty`; see {@link SshdMatchMode}. */
  readonly sshd_match?: SshdMatchMode;
  /** Seconds wtmp time may go back before it is flagged; default {@link DEFAULT_BACKWARDS_TOLERANCE}. */
  readonly backwards_tolerance?: number;
}

/** Default tolerance of wtmp time going backwards, seconds. */
export const DEFAULT_BACKWARDS_TOLERANCE = 60;
/** Added to the match window: traditional syslog stamps have whole seconds, wtmp has microseconds. */
export const MATCH_SLACK_MS = 1000;
/** Caps of the state's lists; the oldest entries go first and are counted in `dropped`. */
export const MAX_OPEN_TTYS = 1024;
export const MAX_PENDING_ACCEPTS = 1024;
export const MAX_RECENT_LOGINS = 4096;

/** A login open on a tty, from wtmp (or utmp when primed). */
export interface OpenTty {
  readonly tty: string;
  readonly user: string;
  readonly pid: number;
  readonly time: number;
}

/** An sshd Accepted waiting for its wtmp/wtmpdb login. */
export interface PendingAccept {
  readonly record: LoginRecord;
  /** The pty of the session, once a `Starting session: ... on <tty>` line said so; null until then. */
  readonly tty: string | null;
}

/** A wtmp/wtmpdb login kept for matching sshd Accepted lines. */
export interface RecentLogin {
  readonly user: string;
  readonly tty: string;
  readonly time: number;
  readonly origin: LoginRecord['origin'];
  readonly offset: number | null;
}

/** RecordTamper's state: plain JSON, replaced (never mutated) by every function here. */
export interface TamperState {
  /** Time (ms) of the last wtmp record; null before the first and right after a boot record. */
  readonly lastWtmpTime: number | null;
  /** True once the open ttys are known (a boot record was seen, or {@link primeTamper}). */
  readonly primed: boolean;
  readonly open: readonly OpenTty[];
  readonly pending: readonly PendingAccept[];
  readonly logins: readonly RecentLogin[];
  /** Entries evicted by the caps, since the state was made. */
  readonly dropped: number;
}

/** What RecordTamper returns for one input. */
export interface TamperStep {
  readonly state: TamperState;
  readonly anomalies: Anomaly[];
}

/** A file-level note of the wtmp reader (structurally `WtmpNote` of inputs/wtmp.ts). */
export interface WtmpNoteLike {
  readonly kind: 'tamper' | 'rotated' | 'rotated-lost' | 'missing';
  readonly detail: string;
}

/** A fresh state: nothing seen, not primed. */
export function emptyTamperState(): TamperState {
  return { lastWtmpTime: null, primed: false, open: [], pending: [], logins: [], dropped: 0 };
}

/**
 * The state with the open ttys taken from `openLogins` (utmp's login records at start-up) and
 * marked primed, so lone logouts are judged from now on. Call it only when wtmp is read from its
 * end onwards (no backlog): a backlog would hold logouts of sessions utmp no longer shows.
 */
export function primeTamper(state: TamperState, openLogins: readonly LoginRecord[]): TamperState {
  let open: OpenTty[] = [];
  let dropped = state.dropped;
  for (const r of openLogins) {
    if (r.kind !== 'login' || r.tty === '') continue;
    open = open.filter((o) => o.tty !== r.tty);
    open.push({ tty: r.tty, user: r.user, pid: r.pid, time: r.time });
  }
  if (open.length > MAX_OPEN_TTYS) {
    dropped += open.length - MAX_OPEN_TTYS;
    open = open.slice(-MAX_OPEN_TTYS);
  }
  return { ...state, open, primed: true, dropped };
}

const PTY = /^pts\/[0-9]+$/;

function when(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString().replace(/\.000Z$/, 'Z') : String(ms);
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(3)}s`;
}

function recordAnomaly(cfg: TamperConfig, r: LoginRecord, evidence: string): Anomaly {
  return { module: 'RecordTamper', severity: cfg.severity, user: r.user, tty: r.tty, source: sourceKey(r), time: r.time, evidence, record: r };
}

function fileAnomaly(cfg: TamperConfig, time: number, evidence: string): Anomaly {
  return { module: 'RecordTamper', severity: cfg.severity, user: '', tty: '', source: '', time, evidence };
}

function capped<T>(list: T[], cap: number): { list: T[]; over: number } {
  return list.length > cap ? { list: list.slice(list.length - cap), over: list.length - cap } : { list, over: 0 };
}

/**
 * Checks one login record (any origin) and returns the next state and the anomalies it shows.
 * wtmp records: time going backwards, a pty logout with no login (see the module comment), and
 * logins remembered for sshd matching. utmp records: only the open ttys. wtmpdb records: logins
 * remembered for sshd matching. sshd records (an Accepted's `record`): passed to {@link matchSshd}.
 * Disabled: the state comes back unchanged and nothing is flagged.
 */
export function checkRecord(state: TamperState, record: LoginRecord, cfg: TamperConfig): TamperStep {
  if (!cfg.enabled) return { state, anomalies: [] };
  const anomalies: Anomaly[] = [];
  switch (record.origin) {
    case 'sshd':
      return { state: matchSshd(state, record, cfg), anomalies };
    case 'wtmpdb':
      return { state: matchSshd(state, record, cfg), anomalies };
    case 'utmp':
      return { state: track(state, record, cfg, anomalies, false), anomalies };
    case 'wtmp': {
      let s = state;
      if (record.kind === 'boot') {
        // A new boot: every session ended (a crash writes no logouts) and the clock may have been reset.
        s = { ...s, lastWtmpTime: null, open: [], primed: true };
        return { state: s, anomalies };
      }
      const tol = (cfg.backwards_tolerance ?? DEFAULT_BACKWARDS_TOLERANCE) * 1000;
      if (s.lastWtmpTime !== null && record.time < s.lastWtmpTime - tol) {
        anomalies.push(
          recordAnomaly(
            cfg,
            record,
            `wtmp time went back ${seconds(s.lastWtmpTime - record.time)} from ${when(s.lastWtmpTime)} to ${when(record.time)}` +
              `${record.offset === undefined ? '' : ` (record at offset ${record.offset})`}: a record was inserted or its time edited`,
          ),
        );
      }
      s = { ...s, lastWtmpTime: record.time };
      s = track(s, record, cfg, anomalies, true);
      return { state: matchSshd(s, record, cfg), anomalies };
    }
    default: {
      const never: never = record.origin;
      throw new Error(`unreachable: ${String(never)}`);
    }
  }
}

// Open/close ttys; with `judge`, a pty logout with no open login (once primed) is flagged.
function track(state: TamperState, r: LoginRecord, cfg: TamperConfig, anomalies: Anomaly[], judge: boolean): TamperState {
  if (r.tty === '') return state;
  if (r.kind === 'login') {
    const open = state.open.filter((o) => o.tty !== r.tty);
    open.push({ tty: r.tty, user: r.user, pid: r.pid, time: r.time });
    const c = capped(open, MAX_OPEN_TTYS);
    return { ...state, open: c.list, dropped: state.dropped + c.over };
  }
  if (r.kind === 'logout') {
    const i = state.open.findIndex((o) => o.tty === r.tty);
    if (i >= 0) return { ...state, open: state.open.filter((_, k) => k !== i) };
    if (judge && state.primed && PTY.test(r.tty)) {
      anomalies.push(recordAnomaly(cfg, r, `logout on ${r.tty} (pid ${r.pid}) with no login there since the records were followed: its login record may have been removed`));
    }
  }
  return state;
}

/**
 * Feeds the sshd/wtmp matching: an Accepted (the event or its `record`, origin 'sshd') becomes
 * pending; a `session-started` event marks the pending Accepted of the same user, host and port
 * as having a pty; a wtmp/wtmpdb login is remembered to match Accepteds read before or after it.
 * Feeding the same input twice changes nothing. Other inputs, mode `off` or disabled: unchanged.
 * Unmatched Accepteds are reported by {@link flush} once their window has passed.
 */
export function matchSshd(state: TamperState, input: SshdEvent | LoginRecord, cfg: TamperConfig): TamperState {
  if (!cfg.enabled || (cfg.sshd_match ?? 'pty') === 'off') return state;
  if ('origin' in input) {
    if (input.kind !== 'login' || input.user === '') return state;
    if (input.origin === 'sshd') return addPending(state, input);
    if (input.origin === 'wtmp' || input.origin === 'wtmpdb') {
      const l: RecentLogin = { user: input.user, tty: input.tty, time: input.time, origin: input.origin, offset: input.offset ?? null };
      if (state.logins.some((x) => x.user === l.user && x.tty === l.tty && x.time === l.time && x.origin === l.origin && x.offset === l.offset)) return state;
      const c = capped([...state.logins, l], MAX_RECENT_LOGINS);
      return { ...state, logins: c.list, dropped: state.dropped + c.over };
    }
    return state;
  }
  switch (input.kind) {
    case 'accepted':
      return addPending(state, input.record);
    case 'session-started': {
      if (input.tty === undefined) return state;
      // The newest pending Accepted of this connection (user, host, port identify it; the pids differ:
      // Accepted comes from the monitor, Starting session from the user's child process).
      for (let i = state.pending.length - 1; i >= 0; i--) {
        const p = state.pending[i]!;
        if (p.record.user === input.user && p.record.host === input.host && p.record.port === input.port && p.record.time <= input.time) {
          if (p.tty === input.tty) return state;
          const pending = state.pending.slice();
          pending[i] = { ...p, tty: input.tty };
          return { ...state, pending };
        }
      }
      return state;
    }
    case 'failed':
    case 'invalid-user':
    case 'connection-closed':
    case 'disconnected':
    case 'received-disconnect':
    case 'session-opened':
    case 'session-closed':
      return state;
    default: {
      const never: never = input;
      throw new Error(`unreachable: ${String(never)}`);
    }
  }
}

function addPending(state: TamperState, r: LoginRecord): TamperState {
  const dup = state.pending.some((p) => p.record.user === r.user && p.record.time === r.time && p.record.host === r.host && p.record.port === r.port && p.record.pid === r.pid);
  if (dup) return state;
  const c = capped([...state.pending, { record: r, tty: null }], MAX_PENDING_ACCEPTS);
  return { ...state, pending: c.list, dropped: state.dropped + c.over };
}

/**
 * Settles the pending Accepteds whose window has passed by `now`: each is matched with the
 * nearest unused wtmp/wtmpdb login of the same user within the window (± `sshd_match_window` s
 * plus {@link MATCH_SLACK_MS}; the same tty preferred when known); one login matches one Accepted,
 * so a login whose record was cut out cannot hide behind another login of the same user. In mode
 * `pty`, an Accepted with no pty evidence is dropped without a verdict. Logins too old to match
 * anything still pending are forgotten. `now` (epoch ms) must be a time up to which every login
 * input (wtmp, wtmpdb and the sshd lines) has been read, e.g. the start of the last complete read
 * round; a lagging input would make its logins look missing.
 */
export function flush(state: TamperState, now: number, cfg: TamperConfig): TamperStep {
  if (!cfg.enabled || state.pending.length === 0) {
    // Still forget old logins, so a host without sshd lines keeps a small state.
    return { state: pruneLogins(state, now, cfg), anomalies: [] };
  }
  const mode = cfg.sshd_match ?? 'pty';
  const window = cfg.sshd_match_window * 1000 + MATCH_SLACK_MS;
  const anomalies: Anomaly[] = [];
  const due = state.pending.filter((p) => p.record.time + window <= now).sort((a, b) => a.record.time - b.record.time);
  if (due.length === 0) return { state: pruneLogins(state, now, cfg), anomalies };
  const pending = state.pending.filter((p) => p.record.time + window > now);
  let logins = state.logins.slice();
  for (const p of due) {
    if (mode === 'off' || (mode === 'pty' && p.tty === null)) continue;
    let best = -1;
    let bestScore = Infinity;
    for (let i = 0; i < logins.length; i++) {
      const l = logins[i]!;
      const dt = Math.abs(l.time - p.record.time);
      if (l.user !== p.record.user || dt > window) continue;
      // A matching tty beats any time distance; among equals the nearest wins.
      const score = dt + (p.tty !== null && l.tty !== p.tty ? 2 * window + 1 : 0);
      if (score < bestScore) {
        best = i;
        bestScore = score;
      }
    }
    if (best >= 0) {
      logins = logins.filter((_, k) => k !== best);
      continue;
    }
    const r = p.record;
    const rec: LoginRecord = p.tty === null ? r : { ...r, tty: p.tty };
    const port = r.port === undefined ? '' : ` port ${r.port}`;
    anomalies.push(
      recordAnomaly(
        cfg,
        rec,
        `sshd accepted ${r.method ?? 'a'} login for ${r.user} from ${r.host}${port} (sshd pid ${r.pid}${p.tty === null ? '' : `, ${p.tty}`}) ` +
          `but no wtmp or wtmpdb login of ${r.user} is within ${seconds(cfg.sshd_match_window * 1000)}: its login record may have been removed`,
      ),
    );
  }
  return { state: pruneLogins({ ...state, pending, logins }, now, cfg), anomalies };
}

// A login older than now - 2 windows cannot match an Accepted still pending (those are newer than
// now - window) nor one read later (inputs are read up to now).
function pruneLogins(state: TamperState, now: number, cfg: TamperConfig): TamperState {
  const horizon = now - 2 * (cfg.sshd_match_window * 1000 + MATCH_SLACK_MS);
  if (!state.logins.some((l) => l.time < horizon)) return state;
  return { ...state, logins: state.logins.filter((l) => l.time >= horizon) };
}

/**
 * Anomalies in what one wtmp read reports about the file itself (see `readWtmp` in inputs/wtmp.ts):
 * zeroed records (a wiped login, or a hole punched in the file), records that do not decode
 * (bad type or time: overwritten), a `tamper` note (shrank without rotation, or rewritten), and a
 * `rotated-lost` note (wtmp replaced while the old file is not `wtmp.1`). Torn records are not
 * flagged (a record being written is torn until finished); `rotated` and `missing` are not either
 * (normal rotation; a host on wtmpdb has no wtmp). `time` is the anomalies' time (the last record
 * read, or the check's time); `path` names the file in the evidence.
 */
export function tamperFromWtmpRead(bad: readonly BadCount[], notes: readonly WtmpNoteLike[], time: number, cfg: TamperConfig, path = 'wtmp'): Anomaly[] {
  if (!cfg.enabled) return [];
  const out: Anomaly[] = [];
  const records = (n: number): string => `${n} record${n === 1 ? '' : 's'}`;
  for (const b of bad) {
    switch (b.reason) {
      case 'zeroed':
        out.push(fileAnomaly(cfg, time, `${path}: ${records(b.count)} zeroed, the first at offset ${b.firstOffset}: log cleaners wipe a login by zeroing its record`));
        break;
      case 'bad-type':
      case 'bad-time':
        out.push(fileAnomaly(cfg, time, `${path}: ${records(b.count)} with an invalid ${b.reason === 'bad-type' ? 'type' : 'time'}, the first at offset ${b.firstOffset}: overwritten records`));
        break;
      case 'torn':
        break;
      default: {
        const never: never = b.reason;
        throw new Error(`unreachable: ${String(never)}`);
      }
    }
  }
  for (const n of notes) {
    switch (n.kind) {
      case 'tamper':
        out.push(fileAnomaly(cfg, time, n.detail));
        break;
      case 'rotated-lost':
        out.push(fileAnomaly(cfg, time, `${n.detail} (deleted and recreated, or rotated without keeping ${path}.1)`));
        break;
      case 'rotated':
      case 'missing':
        break;
      default: {
        const never: never = n.kind;
        throw new Error(`unreachable: ${String(never)}`);
      }
    }
  }
  return out;
}
