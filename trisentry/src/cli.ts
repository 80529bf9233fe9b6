/**
 * `trisentry [-c FILE] [--set KEY=VALUE]... start|check-config|status` — the umbrella command. The only
 * file of this workspace that reads argv or exits.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigErrors,
  EXIT,
  TriSentryError,
  UsageError,
  createSyslog,
  exitCodeOf,
  installLifecycle,
  isProcessAlive,
  readJsonState,
  type ConfigFlag,
} from '@trisentry/shared';
import { checkPortsentryConfig } from '@trisentry/portsentry';
import { checkLogsentryConfig } from '@trisentry/logsentry';
import { checkHostsentryConfig } from '@trisentry/hostsentry';
import { loadSuiteConfig, type ResolvedSuite } from './config.js';
import { defaultConfigPath, isRoot } from './paths.js';
import { SENTRIES, Supervisor, type SentryName, type SuiteStatus } from './supervisor.js';

const HELP = `usage: trisentry [-c FILE] [--set KEY=VALUE]... COMMAND

Runs and checks the TriSentry suite (portsentry, logsentry, hostsentry) from one config.

Commands:
  start          run every enabled sentry in the foreground, restart a crashed one, stop all on
                 SIGTERM/SIGINT, reload on SIGHUP (trisentry.yaml, and SIGHUP to each sentry)
  check-config   validate trisentry.yaml and each sentry's config; every problem printed as
                 file:line:col: key: message; exit 78 when there is one
                 (--only NAME checks a single sentry)
  status         show the running suite and each sentry (exit 0 running, 3 not running)

Options:
  -c, --config FILE   suite config (default /etc/trisentry/trisentry.yaml if present, else the
                      shipped etc/trisentry.yaml); FILE.local.yaml and FILE.d/*.yaml are layered on it
  --set KEY=VALUE     override one setting, e.g. --set sentries.hostsentry.enabled=false
  -h, --help          this text
`;

interface Args {
  command: 'start' | 'check-config' | 'status' | 'help';
  config: string;
  flags: ConfigFlag[];
  only: SentryName | undefined;
}

function parse(argv: readonly string[]): Args {
  const a: Args = { command: 'help', config: '', flags: [], only: undefined };
  let cmd: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${t} needs a value`);
      return v;
    };
    if (t === '-h' || t === '--help') return { ...a, command: 'help' };
    if (t === '-c' || t === '--config') a.config = next();
    else if (t === '--set') {
      const kv = next();
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`--set takes KEY=VALUE, not ${JSON.stringify(kv)}`);
      a.flags.push({ path: kv.slice(0, eq), value: kv.slice(eq + 1), origin: `--set ${kv.slice(0, eq)}` });
    } else if (t === '--only') {
      const n = next();
      if (!(SENTRIES as readonly string[]).includes(n)) throw new UsageError(`--only takes one of ${SENTRIES.join(', ')}`);
      a.only = n as SentryName;
    } else if (!t.startsWith('-') && cmd === undefined) cmd = t;
    else throw new UsageError(`unknown argument ${JSON.stringify(t)}`);
  }
  if (cmd === undefined) throw new UsageError('no command given (start, check-config or status)');
  if (cmd !== 'start' && cmd !== 'check-config' && cmd !== 'status') throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  a.command = cmd;
  if (!a.config) a.config = defaultConfigPath();
  return a;
}

function printConfigErrors(e: ConfigErrors): void {
  for (const err of e.errors) process.stderr.write(`${err.message} [${err.code}]\n`);
}

/** Validates one sentry's config. Returns problems as printable lines (empty when fine). */
function checkSentry(name: SentryName, path: string): { lines: string[]; status: 'ok' | 'error' } {
  try {
    switch (name) {
      case 'portsentry':
        checkPortsentryConfig(path);
        return { lines: [], status: 'ok' };
      case 'logsentry':
        checkLogsentryConfig(path);
        return { lines: [], status: 'ok' };
      case 'hostsentry':
        checkHostsentryConfig(path);
        return { lines: [], status: 'ok' };
      default: {
        const never: never = name;
        return never;
      }
    }
  } catch (e) {
    if (e instanceof ConfigErrors) return { lines: e.errors.map((x) => `${x.message} [${x.code}]`), status: 'error' };
    if (e instanceof TriSentryError) return { lines: [`${e.message} [${e.code}]`], status: 'error' };
    throw e;
  }
}

function checkConfig(a: Args): number {
  let suite: ResolvedSuite;
  try {
    suite = loadSuiteConfig(a.config, a.flags);
  } catch (e) {
    if (e instanceof ConfigErrors) {
      printConfigErrors(e);
      return EXIT.CONFIG;
    }
    throw e;
  }
  let bad = false;
  process.stdout.write(`${suite.files.join(', ')}: ok\n`);
  for (const name of SENTRIES) {
    if (a.only && name !== a.only) continue;
    if (!a.only && !suite.config.sentries[name].enabled) {
      process.stdout.write(`${name}: disabled\n`);
      continue;
    }
    const r = checkSentry(name, suite.sentryConfig[name]);
    if (r.status === 'ok') process.stdout.write(`${name}: ${suite.sentryConfig[name]}: ok\n`);
    else {
      bad = true;
      process.stderr.write(`${r.lines.join('\n')}\n`);
    }
  }
  return bad ? EXIT.CONFIG : EXIT.OK;
}

function statusPath(suite: ResolvedSuite): string {
  return join(suite.stateDir, 'trisentry.status.json');
}

function status(a: Args): number {
  const suite = loadSuiteConfig(a.config, a.flags);
  const path = statusPath(suite);
  const st = readJsonState(path) as SuiteStatus | undefined;
  if (!st) {
    process.stdout.write(`trisentry: not running (no status file ${path})\n`);
    return 3;
  }
  const alive = st.state !== 'stopped' && isProcessAlive(st.pid);
  process.stdout.write(`trisentry: ${alive ? 'running' : `not running (last state ${st.state})`}, pid ${st.pid}, started ${st.started}, config ${st.config}\n`);
  for (const name of SENTRIES) {
    const s = st.sentries[name];
    if (!s) continue;
    const state = alive ? s.state : s.state === 'running' ? 'stopped' : s.state;
    const extra = [
      s.pid !== undefined && alive ? `pid ${s.pid}` : '',
      `since ${s.since}`,
      s.restarts ? `restarts ${s.restarts}` : '',
      s.exitCode !== undefined && s.exitCode !== null && state !== 'running' ? `exit ${s.exitCode}` : '',
      s.lastMessage && state !== 'running' ? s.lastMessage : '',
    ].filter(Boolean);
    process.stdout.write(`  ${name.padEnd(11)} ${state.padEnd(13)} ${extra.join('  ')}\n`);
  }
  return alive ? EXIT.OK : 3;
}

async function start(a: Args): Promise<number> {
  let suite = loadSuiteConfig(a.config, a.flags);
  const log = createSyslog({ ident: 'trisentry', facility: suite.config.syslog.facility, sinks: [...new Set([...suite.config.syslog.sinks, 'stderr'])] });
  try {
    mkdirSync(suite.stateDir, { recursive: true, mode: 0o750 });
    accessSync(suite.stateDir, constants.W_OK);
  } catch (e) {
    log.err(`cannot use state directory ${suite.stateDir}: ${(e as Error).message}`);
    await log.close();
    return EXIT.CANTCREAT;
  }
  if (!isRoot()) {
    log.warning(
      'running without root: sentries run with reduced powers — portsentry cannot watch ports below 1024, capture packets or block; hostsentry and logsentry can read only the logs this user may read',
    );
  }
  const enabled = suite.specs.filter((s) => s.enabled).map((s) => s.name);
  log.notice(`starting ${enabled.length ? enabled.join(', ') : 'no sentry'} (config ${suite.files.join(', ')}; state ${suite.stateDir})`);
  const sup = new Supervisor(suite.specs, suite.policy, statusPath(suite), suite.file, {
    log: (sev, line) => log.log(sev, line),
    childLine: (name, line) => process.stderr.write(`${name}: ${line}\n`),
  });
  sup.start();

  let exitCode: number = EXIT.OK;
  let stopping = false;
  const lc = installLifecycle({
    onStop: async (sig) => {
      stopping = true;
      log.notice(`stopping (${sig})`);
      await sup.stop();
      log.notice('stopped');
      await log.close();
    },
    onReload: async () => {
      const next = loadSuiteConfig(a.config, a.flags);
      suite = next;
      await sup.reload(next.specs, next.policy);
      log.notice(`configuration reloaded from ${next.files.join(', ')}`);
    },
    onReloadError: (err) => {
      const text = err instanceof ConfigErrors ? err.errors.map((x) => x.message).join('; ') : (err as Error).message;
      log.err(`reload failed, keeping the running configuration: ${text}`);
    },
    exit: false,
  });
  // With nothing left running (every sentry unavailable, misconfigured or given up on), say so and end.
  const watch = setInterval(() => {
    if (!stopping && !sup.anyAlive()) {
      clearInterval(watch);
      const st = sup.snapshot();
      const states = Object.entries(st.sentries).map(([n, s]) => `${n} ${s.state}`);
      log.err(`no sentry is running (${states.join(', ')}); stopping`);
      exitCode = Object.values(st.sentries).some((s) => s.state === 'config-error') ? EXIT.CONFIG : EXIT.UNAVAILABLE;
      void lc.stop();
    }
  }, 500);
  await lc.stopped;
  clearInterval(watch);
  return exitCode;
}

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const a = parse(argv);
    switch (a.command) {
      case 'help':
        process.stdout.write(HELP);
        return EXIT.OK;
      case 'check-config':
        return checkConfig(a);
      case 'status':
        return status(a);
      case 'start':
        return await start(a);
      default: {
        const never: never = a.command;
        return never;
      }
    }
  } catch (e) {
    if (e instanceof ConfigErrors) printConfigErrors(e);
    else if (e instanceof TriSentryError) process.stderr.write(`trisentry: ${e.message}\n${e.code === 'USAGE_BAD_ARGS' ? 'try: trisentry --help\n' : ''}`);
    else process.stderr.write(`trisentry: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return exitCodeOf(e);
  }
}
