/**
 * The suite's own configuration (`trisentry.yaml`): which sentries run, with which config and
 * arguments, where state goes, and where the supervisor logs. Parsed once into a frozen object; every
 * error names file:line:col and the key.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  ConfigError,
  ConfigErrors,
  loadLayeredConfig,
  parseFacility,
  parseSinkSpec,
  s,
  type ConfigFlag,
  type Infer,
} from '@trisentry/shared';
import { autoStateDir, sentryArgv } from './paths.js';
import { SENTRIES, type SentryName, type SentrySpec, type RestartPolicy } from './supervisor.js';

const sentry = (name: SentryName, config: string, args: readonly string[]) =>
  s.object(
    {
      enabled: s.boolean({ default: true, doc: `Run ${name} under the suite.` }),
      config: s.path({ default: config, doc: `${name}'s own config file; relative paths are resolved against this file's directory.` }),
      args: s.list(s.string(), { default: args, doc: `Extra command-line arguments for ${name} (modes for portsentry).` }),
    },
    { doc: `The ${name} sentry.` },
  );

/** The schema of trisentry.yaml. */
export const suiteSchema = s.object({
  state_dir: s.string({ default: 'auto', doc: 'Directory for the suite status file. `auto`: /var/lib/trisentry as root, else $XDG_STATE_HOME/trisentry.' }),
  syslog: s.object({
    facility: s.string({ default: 'daemon', doc: 'Syslog facility of the supervisor\'s own messages.' }),
    sinks: s.list(s.string(), { default: ['unix:/dev/log'], minItems: 1, doc: 'Where the supervisor logs: unix:PATH, udp://HOST:PORT, tcp://HOST:PORT (?format=rfc5424), stderr.' }),
  }),
  sentries: s.object({
    portsentry: sentry('portsentry', 'portsentry.conf', ['-tcp', '-udp']),
    logsentry: sentry('logsentry', 'logsentry.yaml', ['--daemon']),
    hostsentry: sentry('hostsentry', 'hostsentry.yaml', []),
  }),
  restart: s.object({
    max_restarts: s.integer({ default: 5, min: 0, max: 1000, doc: 'Restarts of a crashing sentry allowed within `window` before it is left stopped.' }),
    window: s.duration({ default: 600, doc: 'The window for max_restarts.' }),
    backoff: s.duration({ default: 2, doc: 'Wait before restarting a sentry that crashed.' }),
  }),
});

/** trisentry.yaml as parsed. */
export type SuiteConfig = Infer<typeof suiteSchema>;

/** The suite config resolved for running: absolute paths and the command of each sentry. */
export interface ResolvedSuite {
  readonly file: string;
  readonly files: readonly string[];
  readonly config: SuiteConfig;
  readonly stateDir: string;
  readonly specs: readonly SentrySpec[];
  readonly policy: RestartPolicy;
  /** Absolute config path of each sentry. */
  readonly sentryConfig: Readonly<Record<SentryName, string>>;
}

/** Loads and resolves trisentry.yaml (with .local.yaml, .d/*.yaml and flags). Throws ConfigErrors. */
export function loadSuiteConfig(path: string, flags: readonly ConfigFlag[] = []): ResolvedSuite {
  const file = resolve(path);
  const { config, files } = loadLayeredConfig(suiteSchema, file, flags);
  const errors: ConfigError[] = [];
  try {
    parseFacility(config.syslog.facility);
  } catch (e) {
    errors.push(new ConfigError('SYS_UNKNOWN_FACILITY', (e as Error).message, { pos: { file }, key: 'syslog.facility' }));
  }
  for (const spec of config.syslog.sinks) {
    try {
      parseSinkSpec(spec);
    } catch (e) {
      errors.push(new ConfigError('SYS_BAD_TARGET', (e as Error).message, { pos: { file }, key: 'syslog.sinks' }));
    }
  }
  if (errors.length) throw new ConfigErrors(errors);
  const base = dirname(file);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const stateDir = config.state_dir === 'auto' ? autoStateDir() : abs(config.state_dir);
  const sentryConfig = Object.fromEntries(SENTRIES.map((n) => [n, abs(config.sentries[n].config)])) as Record<SentryName, string>;
  const specs = SENTRIES.map((name) => ({
    name,
    enabled: config.sentries[name].enabled,
    // --foreground: the supervisor runs in the foreground, so each sentry's lines also reach its stderr.
    argv: [...sentryArgv(name), '-c', sentryConfig[name], '--foreground', ...config.sentries[name].args],
  }));
  const policy = { maxRestarts: config.restart.max_restarts, windowSec: config.restart.window, backoffSec: config.restart.backoff };
  return Object.freeze({ file, files, config, stateDir, specs, policy, sentryConfig });
}
