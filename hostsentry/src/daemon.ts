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
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Syslog } from '@trisentry/shared';
import type { HostsentryConfig } from './config.js';
import type { History, LoginRecord } from './core/history.js';
import { step, type Anomaly, type ModuleContext } from './core/modules.js';
import { readUtmp, readWtmp, type WtmpNote } from './inputs/wtmp.js';
import { loadHistory, saveHistory } from './history-store.js';
import type { Responder } from './respond.js';

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  readonly config: HostsentryConfig;
  readonly log: Syslog;
  readonly responder: Responder;
  readonly ctx: ModuleContext;
  /** How often the inputs are polled, in ms. Default 500 (a new wtmp record is seen within a second). */
  readonly pollMs?: number;
}

/** Counters of a running daemon. */
export interface DaemonStats {
  records: number;
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

/** Where the daemon keeps its input positions: beside the history database. */
export function stateDirOf(config: HostsentryConfig): string {
  return join(dirname(config.database), 'state');
}

/** Starts the daemon: loads the history, catches up with wtmp, reads utmp, then polls. */
export async function startDaemon(opts: DaemonOptions): Promise<HostsentryDaemon> {
  const { config, log, responder, ctx } = opts;
  const stateDir = stateDirOf(config);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const wtmpPos = join(stateDir, 'wtmp.position');
  const modulesConfig = { learning_period: config.learning_period, modules: config.modules };
  let history = loadHistory(config.database);
  const stats: DaemonStats = { records: 0, anomalies: 0, learnedAnomalies: 0, badRecords: 0, polls: 0, errors: 0 };
  let dirty = false;
  let silent = config.inputs.wtmp.enabled && !existsSync(wtmpPos);

  const process1 = (rec: LoginRecord): void => {
    stats.records++;
    const s = step(history, rec, modulesConfig, ctx);
    history = s.history;
    dirty = true;
    for (const a of s.anomalies) answer(a);
  };

  const answer = (a: Anomaly): void => {
    if (silent) {
      stats.learnedAnomalies++;
      return;
    }
    stats.anomalies++;
    responder.respond(a);
  };

  const save = (): void => {
    if (!dirty) return;
    saveHistory(config.database, history);
    dirty = false;
  };

  const note = (n: WtmpNote): void => {
    switch (n.kind) {
      case 'rotated':
        log.info(`${config.inputs.wtmp.path} was rotated; read the rest of ${n.from} first`);
        break;
      case 'rotated-lost':
        log.warning(`${n.detail}`);
        break;
      case 'tamper':
        log.warning(`securityalert: hostsentry: RecordTamper: ${n.detail}`);
        break;
      case 'missing':
        break;
      default: {
        const never: never = n;
        throw new Error(`unknown wtmp note ${JSON.stringify(never)}`);
      }
    }
  };

  const pollWtmp = (): void => {
    for (;;) {
      const r = readWtmp(config.inputs.wtmp.path, wtmpPos, {});
      for (const b of r.bad) {
        stats.badRecords += b.count;
        log.warning(`${config.inputs.wtmp.path}: ${b.count} bad record${b.count === 1 ? '' : 's'} (${b.reason}) from offset ${b.firstOffset}, skipped`);
      }
      for (const n of r.notes) note(n);
      for (const rec of r.records) process1(rec);
      save();
      r.commit();
      if (!r.more) break;
    }
  };

  const poll = async (): Promise<void> => {
    stats.polls++;
    try {
      if (config.inputs.wtmp.enabled) pollWtmp();
    } catch (e) {
      stats.errors++;
      log.err(`${e instanceof Error ? e.message : String(e)}`);
    }
  };

  // Catch up with wtmp (silently on a first start), then the sessions open right now from utmp.
  await poll();
  if (silent) {
    log.notice(`first start: learned ${stats.records} records from ${config.inputs.wtmp.path} (${stats.learnedAnomalies} anomalies in them not answered; hostsentry --replay shows them)`);
    silent = false;
  }
  if (config.inputs.utmp.enabled) {
    try {
      const u = readUtmp(config.inputs.utmp.path);
      for (const b of u.bad) stats.badRecords += b.count;
      for (const rec of u.records) if (rec.kind === 'login') process1(rec);
      save();
    } catch (e) {
      stats.errors++;
      log.err(`${config.inputs.utmp.path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

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
      while (running) await new Promise((r) => setTimeout(r, 10));
      try {
        save();
      } catch (e) {
        log.err(`${e instanceof Error ? e.message : String(e)}`);
      }
      await responder.close();
    },
    stats: () => ({ ...stats }),
    history: () => history,
  };
}

