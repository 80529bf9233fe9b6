/**
 * The one path every input takes to the modules, shared by the daemon and `--replay`: login records
 * (wtmp, utmp, wtmpdb, sshd) go through the login modules and RecordTamper; a wtmp read's bad records
 * and notes through RecordTamper; sshd events feed the sshd/wtmp matching; `settle(now)` reports sshd
 * logins whose wtmp record never came. No I/O: the state is plain JSON the caller persists.
 *
 * sshd logins are judged like wtmp logins (they carry what wtmp lacks: the address, port and
 * method, and scp/sftp/`ssh host cmd` sessions that write no wtmp record at all). Their session is
 * `ssh:<pid of sshd>` and is closed by that sshd's own closing lines, so it never lingers as an
 * open session; the login's wtmp record (another session, pts/N) then finds its source already
 * known, so one login is reported once.
 */
import type { HostsentryConfig } from './config.js';
import { emptyHistory, type History, type LoginRecord } from './core/history.js';
import { step, type Anomaly, type ModuleContext, type ModulesConfig } from './core/modules.js';
import type { SshdEvent } from './core/sshd.js';
import { checkRecord, emptyTamperState, flush, matchSshd, primeTamper, tamperFromWtmpRead, type TamperConfig, type TamperState, type WtmpNoteLike } from './core/tamper.js';
import type { BadCount } from './core/utmp.js';

/** What the pipeline keeps between records. */
export interface PipelineState {
  history: History;
  tamper: TamperState;
}

/** A fresh state. */
export function emptyPipelineState(): PipelineState {
  return { history: emptyHistory(), tamper: emptyTamperState() };
}

/** The config subsets the pipeline reads. */
export function pipelineConfig(cfg: HostsentryConfig): { modules: ModulesConfig; tamper: TamperConfig } {
  return { modules: { learning_period: cfg.learning_period, modules: cfg.modules }, tamper: cfg.modules.record_tamper };
}

/** Runs inputs through the modules; every method returns the anomalies found. */
export class Pipeline {
  private readonly modules: ModulesConfig;
  private readonly tamperCfg: TamperConfig;

  constructor(
    public state: PipelineState,
    cfg: HostsentryConfig,
    private readonly ctx: ModuleContext,
  ) {
    const c = pipelineConfig(cfg);
    this.modules = c.modules;
    this.tamperCfg = c.tamper;
  }

  /** One login record from any input. */
  record(rec: LoginRecord): Anomaly[] {
    const t = checkRecord(this.state.tamper, rec, this.tamperCfg);
    const s = step(this.state.history, rec, this.modules, this.ctx);
    this.state = { history: s.history, tamper: t.state };
    return [...t.anomalies, ...s.anomalies];
  }

  /** The bad-record counts and notes of one wtmp read; `time` is the latest record time known. */
  wtmpRead(bad: readonly BadCount[], notes: readonly WtmpNoteLike[], time: number, path: string): Anomaly[] {
    return tamperFromWtmpRead(bad, notes, time, this.tamperCfg, path);
  }

  /** One sshd event: an Accepted is a login record of session ssh:<pid>; its closing lines end that session. */
  sshd(e: SshdEvent): Anomaly[] {
    this.state = { ...this.state, tamper: matchSshd(this.state.tamper, e, this.tamperCfg) };
    switch (e.kind) {
      case 'accepted':
        return this.record({ ...e.record, tty: e.pid !== undefined ? `ssh:${e.pid}` : 'ssh' });
      case 'session-closed':
      case 'disconnected':
      case 'connection-closed':
        return e.pid !== undefined ? this.closeSshd(e.pid, e.time) : [];
      default:
        return [];
    }
  }

  private closeSshd(pid: number, time: number): Anomaly[] {
    const tty = `ssh:${pid}`;
    const open = Object.values(this.state.history.users).some((p) => p.sessions.some((s) => s.tty === tty));
    if (!open) return [];
    const rec: LoginRecord = { kind: 'logout', user: '', tty, host: '', address: undefined, time, pid, session: 0, origin: 'sshd' };
    const s = step(this.state.history, rec, this.modules, this.ctx);
    this.state = { ...this.state, history: s.history };
    return s.anomalies;
  }

  /** sshd logins whose wtmp/wtmpdb record did not come within the window, as of `now` (ms). */
  settle(now: number): Anomaly[] {
    const f = flush(this.state.tamper, now, this.tamperCfg);
    this.state = { ...this.state, tamper: f.state };
    return f.anomalies;
  }

  /** Tells RecordTamper which ttys are open now (utmp's logins), once the backlog is read. */
  prime(openLogins: readonly LoginRecord[]): void {
    this.state = { ...this.state, tamper: primeTamper(this.state.tamper, openLogins) };
  }
}
