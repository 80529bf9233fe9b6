/**
 * The hostsentry daemon: follows wtmp as it grows and rotates (and wtmpdb, and sshd's lines), reads
 * utmp once at start for the sessions open now, runs every record through the anomaly modules in
 * record time, keeps the per-user history, runs the home checks at each logout and every interval,
 * and answers each anomaly through the responder.
 *
 * Order of writes, so nothing is lost and little is repeated: records are processed, the history is
 * saved (atomically), and only then are the input positions committed. A crash between the two
 * re-reads the last batch; the history's open sessions remember which modules already reported, so a
 * re-read login is not reported again.
 *
 * First start (no stored wtmp position): the wtmp already on disk is learned silently — its
 * anomalies are counted, not answered (`hostsentry --replay` shows them) — so installing hostsentry
 * on a host with years of wtmp does not mail years of "anomalies"; alerting starts with the first new
 * record.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { readJsonState, writeJsonAtomic, type Syslog } from '@trisentry/shared';
import type { HostsentryConfig } from './config.js';
import type { History, LoginRecord } from './core/history.js';
import type { Anomaly, ModuleContext } from './core/modules.js';
import { emptyTamperState, type TamperState } from './core/tamper.js';
import { loadHistory, saveHistory } from './history-store.js';
import { readPasswdHomes, runHomeChecks, type HomeUser } from './inputs/homes.js';
import { readSshd } from './inputs/sshd.js';
import { readUtmp, readWtmp, type WtmpNote } from './inputs/wtmp.js';
import { readWtmpdb, type WtmpdbNote } from './inputs/wtmpdb.js';
import { Pipeline } from './pipeline.js';
import type { Responder } from './respond.js';

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  readonly config: HostsentryConfig;
  readonly log: Syslog;
  readonly responder: Responder;
  readonly ctx: ModuleContext;
  /** How often the inputs are polled, in ms. Default 500 (a new wtmp record is seen within a second). */
  readonly pollMs?: number;
  /** Wall clock (ms) for settling sshd logins without a wtmp record and for home checks. Default Date.now. */
  readonly clock?: () => number;
  /** The passwd file home checks take users and homes from. Default /etc/passwd. */
  readonly passwdFile?: string;
}

/** Counters of a running daemon. */
export interface DaemonStats {
  records: number;
  sshdEvents: number;
  anomalies: number;
  /** Anomalies of the silent first-start learning, not answered. */
  learnedAnomalies: number;
  badRecords: number;
  polls: number;
  errors: number;
}

/** A running daemon. */
export interface HostsentryDaemon {
  /** One poll of every input (the timer calls it; tests may too). Never rejects. */
  poll(): Promise<void>;
  /** Stops polling, saves the history, waits for the responder. */
  stop(): Promise<void>;
  stats(): DaemonStats;
  history(): History;
}

/** How often sshd's journal entries are read (files are read at every poll). */
const JOURNAL_EVERY_MS = 5000;

/** Where the daemon keeps its input positions and RecordTamper's state: beside the history database. */
export function stateDirOf(config: HostsentryConfig): string {
  return join(dirname(config.database), 'state');
}

function loadTamper(path: string): TamperState {
  const raw = readJsonState(path) as { tamper?: TamperState } | undefined;
  return raw?.tamper ?? emptyTamperState();
}

/** Starts the daemon: loads the history, catches up with every input, reads utmp, then polls. */
export async function startDaemon(opts: DaemonOptions): Promise<HostsentryDaemon> {
  const { config, log, responder, ctx } = opts;
  const clock = opts.clock ?? Date.now;
  const stateDir = stateDirOf(config);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const initialized = join(stateDir, 'initialized');
  const tamperFile = join(stateDir, 'tamper.json');
  const wtmpPos = join(stateDir, 'wtmp.position');
  const wtmpdbPos = join(stateDir, 'wtmpdb.position');
  const sshdDir = join(stateDir, 'sshd');
  const pipe = new Pipeline({ history: loadHistory(config.database), tamper: loadTamper(tamperFile) }, config, ctx);
  const stats: DaemonStats = { records: 0, sshdEvents: 0, anomalies: 0, learnedAnomalies: 0, badRecords: 0, polls: 0, errors: 0 };
  let dirty = false;
  // First start: what the inputs already hold is learned, not answered (see the module comment).
  let silent = !existsSync(initialized);
  const inp = config.inputs;

  const answer = (list: readonly Anomaly[]): void => {
    for (const a of list) {
      if (silent) {
        stats.learnedAnomalies++;
        continue;
      }
      stats.anomalies++;
      responder.respond(a);
    }
  };

  // Users whose session just ended: their homes are checked after this poll (history files are
  // written at logout, so that is when a truncation shows).
  const loggedOut = new Set<string>();
  const record = (rec: LoginRecord): void => {
    stats.records++;
    dirty = true;
    if (rec.kind === 'logout') {
      for (const [user, p] of Object.entries(pipe.state.history.users)) {
        if (p.sessions.some((x) => x.tty === rec.tty || (rec.pid !== 0 && x.pid === rec.pid))) loggedOut.add(user);
      }
    }
    answer(pipe.record(rec));
  };

  const homesEnabled = ['history_truncated', 'history_suspicious', 'rhosts_check', 'odd_dirnames'].some((k) => config.modules[k as 'history_truncated'].enabled);
  /** Home checks for `users` (all login-capable users with undefined), answered like any anomaly. */
  const checkHomes = (users: readonly string[] | undefined): void => {
    if (!homesEnabled) return;
    const known = pipe.state.history.users;
    const homes: HomeUser[] = readPasswdHomes(opts.passwdFile)
      .filter((h) => (users !== undefined ? users.includes(h.user) : h.uid === 0 || h.uid >= config.modules.system_account_login.min_uid || known[h.user] !== undefined))
      .map((h) => ({ user: h.user, home: h.home }));
    if (homes.length === 0) return;
    const r = runHomeChecks(pipe.state.history, homes, config, clock());
    if (r.history !== pipe.state.history) {
      pipe.state = { ...pipe.state, history: r.history };
      dirty = true;
    }
    for (const sk of r.skipped) log.debug(`home check skipped ${sk.path}: ${sk.reason}`);
    answer(r.anomalies);
    save();
  };

  const save = (): void => {
    if (!dirty) return;
    saveHistory(config.database, pipe.state.history);
    writeJsonAtomic(tamperFile, { format: 'hostsentry-tamper', version: 1, tamper: pipe.state.tamper });
    dirty = false;
  };

  const wtmpNote = (n: WtmpNote): void => {
    switch (n.kind) {
      case 'rotated':
        log.info(`${inp.wtmp.path} was rotated; read the rest of ${n.from} first`);
        break;
      case 'rotated-lost':
      case 'tamper':
      case 'missing':
        // RecordTamper reports the first two; a missing wtmp is normal on wtmpdb-only hosts.
        break;
      default: {
        const never: never = n;
        throw new Error(`unknown wtmp note ${JSON.stringify(never)}`);
      }
    }
  };

  const pollWtmp = async (): Promise<void> => {
    for (;;) {
      const r = readWtmp(inp.wtmp.path, wtmpPos, {});
      for (const b of r.bad) {
        if (b.reason === 'torn') continue; // a record being written: read whole next time
        stats.badRecords += b.count;
        log.warning(`${inp.wtmp.path}: ${b.count} bad record${b.count === 1 ? '' : 's'} (${b.reason}) from offset ${b.firstOffset}, skipped`);
      }
      for (const n of r.notes) wtmpNote(n);
      for (const rec of r.records) record(rec);
      const t = pipe.state.history.lastRecordTime ?? clock();
      const found = pipe.wtmpRead(r.bad, r.notes, t, inp.wtmp.path);
      if (found.length > 0) dirty = true;
      answer(found);
      save();
      r.commit();
      if (!r.more) break;
      await yieldNow(); // a huge backlog (a 10 GB sparse wtmp) must not stall signals and timers
    }
  };

  const wtmpdbNote = (n: WtmpdbNote): void => {
    if (n.kind === 'missing') return;
    const detail = n.detail;
    if (n.kind === 'tamper' || n.kind === 'vanished') log.warning(`securityalert: hostsentry: RecordTamper: ${inp.wtmpdb.path}: ${detail}`);
    else if (n.kind === 'busy') log.debug(`${inp.wtmpdb.path}: ${detail}`);
    else log.notice(`${inp.wtmpdb.path}: ${detail}`);
  };

  // Size and mtime of the database (and its WAL) after the last full read: while they stay the same
  // there is nothing new, and no sqlite3 process is started (the poll runs twice a second).
  let wtmpdbSeen = '';
  const wtmpdbSignature = (): string =>
    [inp.wtmpdb.path, `${inp.wtmpdb.path}-wal`]
      .map((f) => {
        try {
          const st = statSync(f);
          return `${st.size}:${st.mtimeMs}:${st.ino}`;
        } catch {
          return '-';
        }
      })
      .join('/');

  const pollWtmpdb = async (): Promise<void> => {
    if (!existsSync(inp.wtmpdb.path)) return;
    const sig = wtmpdbSignature();
    if (sig === wtmpdbSeen) return;
    for (;;) {
      const r = await readWtmpdb(inp.wtmpdb.path, wtmpdbPos);
      for (const b of r.bad) {
        stats.badRecords += b.count;
        if (b.reason !== 'escaped') log.warning(`${inp.wtmpdb.path}: ${b.count} bad row${b.count === 1 ? '' : 's'} (${b.reason}), skipped`);
      }
      for (const n of r.notes) wtmpdbNote(n);
      for (const rec of r.records) record(rec);
      save();
      r.commit();
      if (!r.more) {
        // A busy or failed read is tried again at the next poll, changed or not.
        if (!r.notes.some((n) => n.kind === 'busy' || n.kind === 'error')) wtmpdbSeen = sig;
        break;
      }
    }
  };

  // Files are checked every poll (a stat each); the journal costs a journalctl process, so it is read
  // every JOURNAL_EVERY_MS: sshd's lines only add the method and port to what wtmp already said.
  let journalReadAt = -Infinity;
  const pollSshd = async (): Promise<void> => {
    if (clock() - journalReadAt < JOURNAL_EVERY_MS) return;
    for (;;) {
      const r = await readSshd({ source: inp.sshd.source, files: inp.sshd.files, stateDir: sshdDir });
      journalReadAt = r.source === 'journal' ? clock() : -Infinity;
      for (const w of r.warnings) log.notice(w);
      for (const e of r.events) {
        stats.sshdEvents++;
        dirty = true;
        answer(pipe.sshd(e));
      }
      save();
      r.commit();
      if (!r.more) break;
    }
  };

  const guarded = async (what: string, f: () => Promise<void>): Promise<void> => {
    try {
      await f();
    } catch (e) {
      stats.errors++;
      log.err(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const poll = async (): Promise<void> => {
    stats.polls++;
    if (inp.wtmp.enabled) await guarded(inp.wtmp.path, pollWtmp);
    if (inp.wtmpdb.enabled) await guarded(inp.wtmpdb.path, pollWtmpdb);
    if (inp.sshd.source !== 'off') await guarded('sshd lines', pollSshd);
    if (loggedOut.size > 0) {
      const users = [...loggedOut];
      loggedOut.clear();
      await guarded('home checks', async () => checkHomes(users));
    }
    await guarded('RecordTamper', async () => {
      const found = pipe.settle(clock());
      if (found.length > 0) {
        dirty = true;
        answer(found);
        save();
      }
    });
  };

  // Catch up with every input (silently on a first start), then the sessions open right now.
  await poll();
  let openNow: LoginRecord[] = [];
  // Whether utmp told what is open now. Without it (disabled, missing as in many containers, or
  // unreadable) priming RecordTamper with "nothing open" would flag the logout of every session the
  // wtmp backlog saw open; the backlog's own tracking (primed by a boot record) stands instead.
  let utmpRead = false;
  if (inp.utmp.enabled) {
    await guarded(inp.utmp.path, async () => {
      if (!existsSync(inp.utmp.path)) return;
      const u = readUtmp(inp.utmp.path);
      for (const b of u.bad) stats.badRecords += b.count;
      openNow = u.records.filter((r) => r.kind === 'login');
      for (const rec of openNow) record(rec);
      utmpRead = true;
    });
  }
  // The first home check: on a first start it only learns (sizes, what is already there).
  await guarded('home checks', async () => checkHomes(undefined));
  if (silent) {
    if (utmpRead) pipe.prime(openNow);
    dirty = true;
    save();
    writeJsonAtomic(initialized, { since: new Date(clock()).toISOString() });
    log.notice(`first start: learned ${stats.records} login records and ${stats.sshdEvents} sshd lines already on disk (${stats.learnedAnomalies} anomalies in them not answered; hostsentry --replay shows them)`);
    silent = false;
  } else save();
  // The periodic home checks (every home_checks.interval).
  const homeTimer = setInterval(() => void guarded('home checks', async () => checkHomes(undefined)), config.home_checks.interval * 1000);
  homeTimer.unref();

  let running = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = true;
    void poll().finally(() => (running = false));
  }, opts.pollMs ?? 500);

  return {
    poll,
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      clearInterval(homeTimer);
      while (running) await new Promise((r) => setTimeout(r, 10));
      try {
        save();
      } catch (e) {
        log.err(`${e instanceof Error ? e.message : String(e)}`);
      }
      await responder.close();
    },
    stats: () => ({ ...stats }),
    history: () => pipe.state.history,
  };
}

