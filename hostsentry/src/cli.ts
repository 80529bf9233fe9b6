/**
 * `hostsentry` — login anomaly detection: the daemon (default), `--replay FILE` and `stat`.
 * The only file of this workspace that reads argv, builds the adapters, or exits.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, TriSentryError, UsageError, createSyslog, exitCodeOf, installLifecycle } from '@trisentry/shared';
import { checkHostsentryConfig, type HostsentryConfig } from './config.js';
import { startDaemon } from './daemon.js';
import { portsentryHandOff } from './handoff.js';
import { formatProfile, loadHistory } from './history-store.js';
import { readPasswd, replayWtmp } from './replay.js';
import { createMailSender, createResponder } from './respond.js';

const SHIPPED = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'etc', 'hostsentry.yaml');
const SYSTEM = ['/etc/trisentry/hostsentry.yaml'];

const HELP = `usage: hostsentry [-c FILE] --replay WTMP [--save]
       hostsentry [-c FILE] stat [USER]
       hostsentry [-c FILE] [--foreground]

Login anomaly detection (TriSentry's HostSentry).

  (no command)   the daemon, in the foreground (as systemd runs it; --foreground is accepted and
                 changes nothing): follows wtmp, reads utmp at start, answers each anomaly as
                 responses: says. SIGHUP re-reads the config, SIGTERM stops.

  --replay WTMP  run a wtmp file from its start through the anomaly modules, in record time, and
                 print each anomaly on one line (module, user, tty, source, time, evidence); with
                 --save the learned history is written to the configured database, else nothing is
                 kept. Bad records are counted and reported on stderr, never a crash.
  stat [USER]    print the learned profile of USER (or of every user) from the database
  -c FILE        hostsentry.yaml (default /etc/trisentry/hostsentry.yaml, else the shipped one)

Exit status: 0 done, 64 usage, 74 unreadable database or state, 78 config.
`;

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    let config = '';
    let replay: string | undefined;
    let save = false;
    // Hidden from --help: a passwd file for --replay's SystemAccountLogin instead of this host's, so a
    // replay (and the golden cases) can be judged against the accounts of the host the wtmp came from.
    let passwd: string | undefined;
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
      else if (t === '--passwd') passwd = val();
      else if (t === '--foreground') continue;
      else if (t.startsWith('-')) throw new UsageError(`unknown argument ${JSON.stringify(t)}`);
      else positional.push(t);
    }
    if (passwd !== undefined && replay === undefined) throw new UsageError('--passwd goes only with --replay');
    // readPasswd takes an unreadable file as "no accounts"; a mistyped --passwd must not mean that.
    if (passwd !== undefined && !existsSync(passwd)) throw new UsageError(`--passwd ${JSON.stringify(passwd)}: no such file`);
    const cfgPath = config !== '' ? resolve(config) : (SYSTEM.find((p) => existsSync(p)) ?? SHIPPED);
    const cfg = checkHostsentryConfig(cfgPath);
    if (replay === undefined && positional.length === 0) return await runDaemon(cfgPath, cfg);
    if (replay !== undefined) {
      if (positional.length > 0) throw new UsageError('--replay takes no other argument');
      const ctx = passwd !== undefined ? { passwd: readPasswd(resolve(passwd)), timeZone: 'local' as const } : undefined;
      const r = replayWtmp(resolve(replay), cfg, (line) => process.stdout.write(`${line}\n`), { save, ...(ctx !== undefined ? { ctx } : {}) });
      const bad = r.bad.map((b) => `${b.count} ${b.reason}`).join(', ');
      process.stderr.write(`hostsentry: ${r.records} login record${r.records === 1 ? '' : 's'}, ${r.anomalies} anomal${r.anomalies === 1 ? 'y' : 'ies'}${bad ? `; bad records: ${bad}` : ''}${r.notes.length ? `; ${r.notes.join('; ')}` : ''}\n`);
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

/** Runs the daemon until SIGTERM/SIGINT; SIGHUP restarts it on the re-read config. */
async function runDaemon(cfgPath: string, first: HostsentryConfig): Promise<number> {
  const start = async (cfg: HostsentryConfig) => {
    const log = createSyslog({ ident: 'hostsentry', facility: cfg.responses.syslog.facility, sinks: cfg.responses.syslog.sinks });
    const host = hostname();
    const sendMail = cfg.responses.mail.enabled ? createMailSender(cfg.responses.mail, host) : undefined;
    const handOff = cfg.responses.portsentry.enabled ? portsentryHandOff(cfg.responses.portsentry.socket) : undefined;
    const responder = createResponder({ log, config: cfg.responses, host, ...(sendMail !== undefined ? { sendMail } : {}), ...(handOff !== undefined ? { handOff } : {}) });
    const daemon = await startDaemon({ config: cfg, log, responder, ctx: { passwd: readPasswd(), timeZone: 'local' } });
    const s = daemon.stats();
    log.notice(`started: following ${cfg.inputs.wtmp.enabled ? cfg.inputs.wtmp.path : 'no wtmp'}; ${s.records} records read at start; history in ${cfg.database}`);
    return { log, daemon };
  };
  let cur = await start(first);
  const stopCurrent = async (why: string): Promise<void> => {
    await cur.daemon.stop();
    const st = cur.daemon.stats();
    cur.log.notice(`${why}: ${st.records} records, ${st.anomalies} anomalies, ${st.badRecords} bad records`);
    await cur.log.close();
  };
  const lc = installLifecycle({
    onStop: () => stopCurrent('stopped'),
    onReload: async () => {
      // A config that does not check keeps the running daemon (installLifecycle reports the error).
      const next = checkHostsentryConfig(cfgPath);
      await stopCurrent('reloading');
      cur = await start(next);
    },
    onReloadError: (e) => cur.log.err(`reload failed, the running configuration stays: ${e instanceof Error ? e.message : String(e)}`),
  });
  await lc.stopped;
  return EXIT.OK;
}
