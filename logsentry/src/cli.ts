/**
 * `logsentry` — Logcheck-compatible log reports. logcheck 1.4's flags, all of them, with the same
 * meanings, plus `--daemon` (its own hourly schedule, for hosts without cron), `check` (which rule
 * decided each line) and `--set KEY=VALUE`. The only file of this workspace that reads argv or exits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import cron from 'node-cron';
import {
  ConfigErrors,
  EXIT,
  TriSentryError,
  UsageError,
  createSyslog,
  exitCodeOf,
  installLifecycle,
  loadCheckedConfig,
  type ConfigFlag,
  type Syslog,
} from '@trisentry/shared';
import { logsentryConfigProblems, logsentrySchema, type LogsentryConfig } from './config.js';
import { logcheckConfFlags } from './logcheckconf.js';
import { runOnce, type RunOptions } from './run.js';
import { readRuleTree } from './rules-loader.js';
import { compileRules, prepareLines, trimLines } from './core/rules.js';
import { preflightLocale, ruleFileOrder, systemSort, type ResolvedLocale } from './locale.js';

const SHIPPED = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'etc', 'logsentry.yaml');
const SYSTEM = ['/etc/trisentry/logsentry.yaml'];
const VERSION = '0.1.0';

const HELP = `usage: logsentry [-c CFG] [-d] [-h] [-H HOST] [-l LOG] [-L CFG] [-D DIR] [-m MAIL] [-o]
                 [-r DIR] [-s|-p|-w] [-R] [-S DIR] [-t] [-T] [-u] [-v] [--set KEY=VALUE]...
       logsentry --daemon [options]        run on the config's schedule (default hourly at :02)
       logsentry check [-c CFG] [-r DIR] [-s|-p|-w] [--set KEY=VALUE]... LOGFILE
       logsentry check --rule RULEFILE LOGFILE

Reads the system logs from where the last run stopped, drops what the rules call normal, and
mails the rest as logcheck 1.4 does (same rules, same report, same flags).

 -c CFG       configuration: logsentry.yaml, or an existing logcheck.conf (read, never run),
              on top of the shipped defaults (default: /etc/trisentry/logsentry.yaml, else the
              shipped etc/logsentry.yaml)
 -d           debug: say what is being done on stderr
 -h           print this usage information and exit
 -H HOST      use this hostname in the subject of any generated mail
 -l LOG       check only the specified logfile
 -L CFG       override the logfiles list
 -D DIR       override the logfiles lists directory
 -m MAIL      send the report to the specified recipient
 -o           send the report to stdout, no mail will be sent
 -p -s -w     use the "paranoid", "server" or "workstation" level
 -r DIR       override the rules directory
 -R           add "Reboot:" to the mail subject
 -S DIR       override the state directory
 -t           testing mode: do not update the logfile offsets (nor the journal cursor)
 -T           accepted for compatibility (logsentry keeps no temporary directory)
 -u           enable syslog-summary style counting
 -v           print the version
 --set K=V    set any logsentry.yaml key (dotted), e.g. --set mail.transport=smtp, or
              --set rules.locale=C.UTF-8 to match as logcheck does under a UTF-8 LANG
              (C, C.UTF-8, en_US.UTF-8, auto: from LC_ALL/LC_CTYPE/LC_COLLATE/LANG)
 --foreground also write log lines to stderr (the trisentry supervisor passes it)

check: prints every line of LOGFILE with its verdict (attack, violation, unusual, ignored) and the
file:line of the rule that decided it; with --rule, the lines that one rule file matches.

Exit status: 0 done (or nothing to report), 64 usage, 69 mail rejected, 75 mail server unreachable
or another run holds the lock (the report stays spooled and goes out with the next run), 78 config.
`;

interface Parsed {
  config: string;
  flags: ConfigFlag[];
  run: { test: boolean; reboot: boolean; logFile?: string; stdout: boolean };
  daemon: boolean;
  foreground: boolean;
  debug: boolean;
}

function parse(argv: readonly string[]): Parsed | 'help' | 'version' {
  const p: Parsed = { config: '', flags: [], run: { test: false, reboot: false, stdout: false }, daemon: false, foreground: false, debug: false };
  const flag = (path: string, value: string, origin: string): void => {
    p.flags.push({ path, value, origin });
  };
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${t} needs a value`);
      return v;
    };
    switch (t) {
      case '-h':
      case '--help':
        return 'help';
      case '-v':
      case '--version':
        return 'version';
      case '-c':
        p.config = val();
        break;
      case '-d':
        p.debug = true;
        break;
      case '-H':
        flag('report.subject.hostname', val(), '-H');
        break;
      case '-l':
        p.run.logFile = resolve(val());
        break;
      case '-L':
        flag('inputs.list_files', resolve(val()), '-L');
        break;
      case '-D':
        flag('inputs.list_dirs', resolve(val()), '-D');
        break;
      case '-m':
        flag('mail.to', val(), '-m');
        break;
      case '-o':
        p.run.stdout = true;
        flag('report.output', 'stdout', '-o');
        break;
      case '-p':
        flag('report.level', 'paranoid', '-p');
        break;
      case '-s':
        flag('report.level', 'server', '-s');
        break;
      case '-w':
        flag('report.level', 'workstation', '-w');
        break;
      case '-r':
        flag('rules.dir', resolve(val()), '-r');
        break;
      case '-R':
        p.run.reboot = true;
        break;
      case '-S':
        flag('state_dir', resolve(val()), '-S');
        break;
      case '-t':
        p.run.test = true;
        break;
      case '-T':
        break;
      case '-u':
        flag('report.summary', 'true', '-u');
        break;
      case '--daemon':
        p.daemon = true;
        break;
      case '--foreground':
        p.foreground = true;
        break;
      case '--set': {
        const kv = val();
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`--set needs KEY=VALUE, got ${JSON.stringify(kv)}`);
        flag(kv.slice(0, eq), kv.slice(eq + 1), `--set ${kv.slice(0, eq)}`);
        break;
      }
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(t)}`);
    }
  }
  return p;
}

/** Loads the YAML config, or the shipped defaults under an existing logcheck.conf, then the flags. */
export function loadConfig(configPath: string, flags: readonly ConfigFlag[]): LogsentryConfig {
  const path = configPath !== '' ? resolve(configPath) : (SYSTEM.find((x) => existsSync(x)) ?? SHIPPED);
  if (configPath !== '' && !/\.ya?ml$/i.test(path)) {
    const base = SYSTEM.find((x) => existsSync(x)) ?? SHIPPED;
    return loadCheckedConfig(logsentrySchema, base, logsentryConfigProblems, [...logcheckConfFlags(path), ...flags]).config;
  }
  return loadCheckedConfig(logsentrySchema, path, logsentryConfigProblems, flags).config;
}

/** rules.locale resolved in this process's environment and checked against the host; a warning goes to `warn`. */
function locale(cfg: LogsentryConfig, warn: (line: string) => void): ResolvedLocale {
  const r = preflightLocale(cfg.rules.locale, process.env);
  if (r.warning !== undefined) warn(r.warning);
  return r;
}

const warnStderr = (line: string): void => {
  process.stderr.write(`logsentry: warning: ${line}\n`);
};

// Unicode text (paths, our own words) as the byte string of its UTF-8 encoding.
const bytesOf = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

// `out` takes byte strings: the log lines are printed as the bytes the file holds (it is read as
// latin1), and our own text goes out as its UTF-8 bytes.
async function check(argv: readonly string[], out: (bytes: string) => void): Promise<number> {
  let configPath = '';
  const flags: ConfigFlag[] = [];
  let ruleFile: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${t} needs a value`);
      return v;
    };
    if (t === '-c') configPath = val();
    else if (t === '-r') flags.push({ path: 'rules.dir', value: resolve(val()), origin: '-r' });
    else if (t === '-p' || t === '-s' || t === '-w') flags.push({ path: 'report.level', value: { '-p': 'paranoid', '-s': 'server', '-w': 'workstation' }[t], origin: t });
    else if (t === '--rule') ruleFile = resolve(val());
    else if (t === '--set') {
      const kv = val();
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`--set needs KEY=VALUE, got ${JSON.stringify(kv)}`);
      flags.push({ path: kv.slice(0, eq), value: kv.slice(eq + 1), origin: `--set ${kv.slice(0, eq)}` });
    }
    else if (t.startsWith('-')) throw new UsageError(`unknown argument ${JSON.stringify(t)} for check`);
    else files.push(t);
  }
  if (files.length !== 1) throw new UsageError('check takes one LOGFILE');
  const cfg = loadConfig(configPath, flags);
  const loc = locale(cfg, warnStderr).locale;
  // Under en_US.UTF-8 the system's sort orders the lines and the rule files (as bash's glob).
  const tree = readRuleTree(cfg.rules.dir, cfg.rules.layout);
  const collate = loc === 'en_US.UTF-8' && tree.layout === 'debian';
  const fileOrder = collate ? await ruleFileOrder(tree, loc) : undefined;
  const rules = compileRules(tree, { level: cfg.report.level, supportCrackingIgnore: cfg.rules.support_cracking_ignore, locale: loc, ...(fileOrder === undefined ? {} : { fileOrder }) });
  for (const p of rules.problems) out(bytesOf(`rule left out: ${p.file}:${p.line}: ${p.message}\n`));
  const raw = readFileSync(files[0]!, 'latin1').split('\n').filter((l, i, a) => l !== '' || i < a.length - 1);
  // Psionic 1.1 neither sorted nor trimmed its input; logcheck 1.4 does both before matching.
  const lines = rules.layout === 'psionic' ? raw : collate ? trimLines(await systemSort(raw, loc, 'keys'), rules.trimLine) : prepareLines(raw, false, rules.trimLine);
  const counts = { attack: 0, violation: 0, unusual: 0, ignored: 0 };
  let matchedByRule = 0;
  for (const line of lines) {
    const c = rules.classify(line);
    counts[c.verdict]++;
    if (ruleFile !== undefined) {
      const hit = c.rule !== undefined && resolve(c.rule.file) === ruleFile ? c.rule : c.hits.find((h) => resolve(h.rule.file) === ruleFile)?.rule;
      if (hit !== undefined) {
        matchedByRule++;
        out(`${bytesOf(`${hit.file}:${hit.line}`)}\t${line}\n`);
      }
      continue;
    }
    const where = c.rule !== undefined ? `${c.rule.file}:${c.rule.line}` : '-';
    out(`${c.verdict.padEnd(9)} ${bytesOf(where)}\t${line}\n`);
  }
  if (ruleFile !== undefined) out(bytesOf(`\n${matchedByRule} of ${lines.length} lines matched by ${ruleFile}\n`));
  else out(`\nlines: ${lines.length}; attack ${counts.attack}, violation ${counts.violation}, unusual ${counts.unusual}, ignored ${counts.ignored}\n`);
  return EXIT.OK;
}

function logger(foreground: boolean): Syslog {
  return createSyslog({ ident: 'logsentry', facility: 'daemon', sinks: foreground ? ['unix:/dev/log', 'stderr'] : ['unix:/dev/log'] });
}

async function daemon(p: Parsed): Promise<number> {
  let cfg = loadConfig(p.config, p.flags);
  const log = logger(p.foreground);
  let loc = locale(cfg, (w) => log.warning(`WARNING: ${w}`)).locale;
  const runNow = async (): Promise<void> => {
    try {
      const r = await runOnce(cfg, { ...p.run, locale: loc });
      log.notice(`run done: ${r.lines} lines read, ${r.subject === undefined ? 'nothing to report' : `report "${r.subject}"`}, ${r.delivered} mailed`);
    } catch (e) {
      log.warning(`ERROR: run failed: ${(e as Error).message.split('\n').join('; ')}`);
    }
  };
  let task = cron.schedule(cfg.schedule, runNow, { noOverlap: true, name: 'logsentry' });
  const lc = installLifecycle({
    onStop: async () => {
      await task.destroy();
      log.notice('logsentry is shutting down');
      await log.close();
    },
    onReload: async () => {
      const next = loadConfig(p.config, p.flags);
      const nextLoc = locale(next, (w) => log.warning(`WARNING: ${w}`)).locale;
      await task.destroy();
      cfg = next;
      loc = nextLoc;
      task = cron.schedule(cfg.schedule, runNow, { noOverlap: true, name: 'logsentry' });
      log.notice(`configuration reloaded; schedule "${cfg.schedule}"`);
    },
    onReloadError: (err) => log.warning(`ERROR: reload failed, keeping the running configuration: ${err instanceof ConfigErrors ? err.message.split('\n').join('; ') : String(err)}`),
    exit: false,
  });
  log.notice(`logsentry is running; reports on schedule "${cfg.schedule}"`);
  await lc.stopped;
  return 0;
}

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    if (argv[0] === 'check') return await check(argv.slice(1), (s) => process.stdout.write(Buffer.from(s, 'latin1')));
    const p = parse(argv);
    if (p === 'help') {
      process.stdout.write(HELP);
      return EXIT.OK;
    }
    if (p === 'version') {
      process.stdout.write(`logsentry ${VERSION}\n`);
      return EXIT.OK;
    }
    if (p.daemon) return await daemon(p);
    const cfg = loadConfig(p.config, p.flags);
    const opts: RunOptions = { ...p.run, stdout: p.run.stdout || cfg.report.output === 'stdout', locale: locale(cfg, warnStderr).locale };
    const r = await runOnce(cfg, opts);
    if (p.debug) process.stderr.write(`logsentry: ${r.lines} lines read; ${r.subject ?? 'nothing to report'}; ${r.delivered} mailed\n`);
    return EXIT.OK;
  } catch (e) {
    if (e instanceof TriSentryError) {
      process.stderr.write(`logsentry: ${e.message}\n`);
      if (e.code === 'USAGE_BAD_ARGS') process.stderr.write('try: logsentry --help\n');
    } else process.stderr.write(`logsentry: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return exitCodeOf(e);
  }
}
