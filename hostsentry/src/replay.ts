/**
 * `hostsentry --replay FILE`: a wtmp file from its start through the anomaly modules, in record
 * time, as the daemon would have seen it; each anomaly printed as its log line. Nothing is persisted
 * unless asked (`--save`: the learned history is written to the configured database).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostsentryConfig } from './config.js';
import type { History } from './core/history.js';
import { formatAnomaly, type Anomaly, type ModuleContext, type PasswdEntry } from './core/modules.js';
import { emptyPipelineState, Pipeline } from './pipeline.js';
import type { BadCount } from './core/utmp.js';
import { readWtmp } from './inputs/wtmp.js';
import { saveHistory } from './history-store.js';

/** What a replay found. */
export interface ReplaySummary {
  readonly records: number;
  readonly anomalies: number;
  readonly bad: readonly BadCount[];
  readonly notes: readonly string[];
  readonly history: History;
}

/** This host's passwd entries (uid and shell by user name); an unreadable file gives none. */
export function readPasswd(path = '/etc/passwd'): (user: string) => PasswdEntry | undefined {
  const map = new Map<string, PasswdEntry>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return () => undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && /^[0-9]+$/.test(f[2]!)) map.set(f[0]!, { uid: Number(f[2]), shell: f[6]! });
  }
  return (user) => map.get(user);
}

/** Replays `file`; each anomaly's line goes to `out`. */
export function replayWtmp(file: string, cfg: HostsentryConfig, out: (line: string) => void, opts: { readonly save?: boolean; readonly ctx?: ModuleContext } = {}): ReplaySummary {
  const ctx: ModuleContext = opts.ctx ?? { passwd: readPasswd(), timeZone: 'local' };
  // A throw-away position file lets the reader go through the file in bounded chunks.
  const dir = mkdtempSync(join(tmpdir(), 'hostsentry-replay-'));
  const pipe = new Pipeline(emptyPipelineState(), cfg, ctx);
  let records = 0;
  let anomalies = 0;
  const bad = new Map<string, BadCount>();
  const notes: string[] = [];
  try {
    for (;;) {
      const r = readWtmp(file, join(dir, 'position'), {});
      for (const b of r.bad) {
        const seen = bad.get(b.reason);
        bad.set(b.reason, seen === undefined ? b : { ...seen, count: seen.count + b.count });
      }
      for (const n of r.notes) notes.push(`${n.kind}: ${n.detail}`);
      const emit = (list: readonly Anomaly[]): void => {
        for (const a of list) {
          anomalies++;
          out(formatAnomaly(a));
        }
      };
      for (const lr of r.records) {
        records++;
        emit(pipe.record(lr));
      }
      // RecordTamper: zeroed or undecodable records, and what the reader noticed about the file.
      const t = pipe.state.history.lastRecordTime ?? 0;
      emit(pipe.wtmpRead(r.bad, r.notes, t, file));
      r.commit();
      if (!r.more) break;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const history = pipe.state.history;
  if (opts.save === true) saveHistory(cfg.database, history);
  return { records, anomalies, bad: [...bad.values()], notes, history };
}
