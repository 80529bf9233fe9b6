/**
 * `hostsentry` — login anomaly detection. `--replay FILE` and `stat` work; the daemon (following
 * wtmp live and answering anomalies) is not built yet: it says so and exits 69 (EX_UNAVAILABLE), so
 * the supervisor and systemd (RestartPreventExitStatus=69) leave it stopped instead of pretending.
 * The only file of this workspace that reads argv or exits.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, TriSentryError, UsageError, exitCodeOf } from '@trisentry/shared';
import { checkHostsentryConfig } from './config.js';
import { formatProfile, loadHistory } from './history-store.js';
import { replayWtmp } from './replay.js';

const SHIPPED = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'etc', 'hostsentry.yaml');
const SYSTEM = ['/etc/trisentry/hostsentry.yaml'];

const HELP = `usage: hostsentry [-c FILE] --replay WTMP [--save]
       hostsentry [-c FILE] stat [USER]
       hostsentry [-c FILE] [--foreground]        (the daemon: not in this build yet, exits 69)

Login anomaly detection (TriSentry's HostSentry).

  --replay WTMP  run a wtmp file from its start through the anomaly modules, in record time, and
                 print each anomaly on one line (module, user, tty, source, time, evidence); with
                 --save the learned history is written to the configured database, else nothing is
                 kept. Bad records are counted and reported on stderr, never a crash.
  stat [USER]    print the learned profile of USER (or of every user) from the database
  -c FILE        hostsentry.yaml (default /etc/trisentry/hostsentry.yaml, else the shipped one)

Exit status: 0 done, 64 usage, 69 unavailable (the daemon), 74 unreadable database, 78 config.
`;

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    let config = '';
    let replay: string | undefined;
    let save = false;
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const t = argv[i]!;
      const val = (): string => {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`${t} needs a value`);
        return v;
      };
      if (t === '-h' || t === '--help') {
        process.stdout.write(HELP);
        return EXIT.OK;
      } else if (t === '-c') config = val();
      else if (t === '--replay') replay = val();
      else if (t === '--save') save = true;
      else if (t === '--foreground') continue;
      else if (t.startsWith('-')) throw new UsageError(`unknown argument ${JSON.stringify(t)}`);
      else positional.push(t);
    }
    if (replay === undefined && positional.length === 0) {
      // The daemon: checked before the config, so a supervisor sees "unavailable", as before.
      process.stderr.write('hostsentry: the daemon is not available in this build yet (--replay and stat are); exiting 69\n');
      return EXIT.UNAVAILABLE;
    }
    const cfg = checkHostsentryConfig(config !== '' ? resolve(config) : (SYSTEM.find((p) => existsSync(p)) ?? SHIPPED));
    if (replay !== undefined) {
      if (positional.length > 0) throw new UsageError('--replay takes no other argument');
      const r = replayWtmp(resolve(replay), cfg, (line) => process.stdout.write(`${line}\n`), { save });
      const bad = r.bad.map((b) => `${b.count} ${b.reason}`).join(', ');
      process.stderr.write(`hostsentry: ${r.records} login records, ${r.anomalies} anomalies${bad ? `; bad records: ${bad}` : ''}${r.notes.length ? `; ${r.notes.join('; ')}` : ''}\n`);
      return EXIT.OK;
    }
    if (positional[0] === 'stat') {
      if (positional.length > 2) throw new UsageError('stat takes at most one USER');
      const h = loadHistory(cfg.database);
      const users = positional[1] !== undefined ? [positional[1]] : Object.keys(h.users).sort();
      for (const u of users) {
        const p = h.users[u];
        if (p === undefined) {
          process.stderr.write(`hostsentry: no history for user ${JSON.stringify(u)}\n`);
          return EXIT.FAILURE;
        }
        process.stdout.write(`${formatProfile(u, p)}\n`);
      }
      return EXIT.OK;
    }
    throw new UsageError(`unknown command ${JSON.stringify(positional[0])}`);
  } catch (e) {
    if (e instanceof TriSentryError) {
      process.stderr.write(`hostsentry: ${e.message}\n`);
      if (e.code === 'USAGE_BAD_ARGS') process.stderr.write('try: hostsentry --help\n');
    } else process.stderr.write(`hostsentry: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return exitCodeOf(e);
  }
}
