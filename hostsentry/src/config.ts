/**
 * hostsentry's configuration (`hostsentry.yaml`): where login records come from, where the per-user
 * history lives, which anomaly modules run with which tunables, and how anomalies are answered.
 * Parsed once into a frozen object; every error names file:line:col and the dotted key.
 */
import { isAbsolute } from 'node:path';
import {
  ConfigError,
  loadCheckedConfig,
  parseCommandTemplate,
  parseFacility,
  parseSinkSpec,
  s,
  tryParsePrefix,
  type Infer,
} from '@trisentry/shared';

/** How serious an anomaly of a module is; decides syslog tag, mail and portsentry hand-off. */
const SEVERITIES = ['low', 'medium', 'high'] as const;
/** One of {@link SEVERITIES}. */
export type Severity = (typeof SEVERITIES)[number];

const severity = (dflt: Severity) =>
  s.enumOf(SEVERITIES, { default: dflt, doc: `Severity of this module's anomalies: low, medium or high.` });

/** A mail address or a bare local user name; no spaces, angle brackets or control characters (header injection). */
const MAIL_ADDRESS = /^[^\s<>,;"\\\x00-\x1f\x7f]+$/;

/** A host name, a domain suffix (`.example.org` or `*.example.org`), an address or a CIDR prefix. */
const HOST_OR_DOMAIN = /^(\*\.|\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/** A daily window "HH:MM-HH:MM"; the end may be before the start to wrap past midnight. */
const WINDOW = /^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$/;

const sourceList = (doc: string) =>
  s.list(s.string(), { default: [], doc: `${doc} Each entry: an address, a CIDR prefix, a host name, or a domain as .example.org.` });

/** The schema of hostsentry.yaml. Keys are snake_case. */
export const hostsentrySchema = s.object({
  inputs: s.object({
    wtmp: s.object({
      enabled: s.boolean({ default: true, doc: 'Follow wtmp (glibc struct utmp records) as it grows, across rotation.' }),
      path: s.path({ default: '/var/log/wtmp', absolute: true, doc: 'The wtmp file.' }),
    }),
    utmp: s.object({
      enabled: s.boolean({ default: true, doc: 'Read utmp at start-up for the sessions open right now.' }),
      path: s.path({ default: '/run/utmp', absolute: true, doc: 'The utmp file.' }),
    }),
    wtmpdb: s.object({
      enabled: s.boolean({ default: true, doc: 'Follow wtmpdb (SQLite) where the file exists; skipped quietly when absent.' }),
      path: s.path({ default: '/var/lib/wtmpdb/wtmp.db', absolute: true, doc: 'The wtmpdb database.' }),
    }),
    sshd: s.object({
      source: s.enumOf(['auto', 'files', 'journal', 'off'] as const, {
        default: 'auto',
        doc: 'Where sshd\'s lines (source address, port and method of logins and failures) come from: files, journal, off, or auto (files that exist, else the journal).',
      }),
      files: s.list(s.path({ absolute: true }), { default: ['/var/log/auth.log'], doc: 'Auth logs holding sshd lines, for source files or auto.' }),
    }),
  }),
  database: s.path({
    default: '/var/lib/hostsentry/history',
    absolute: true,
    doc: 'The per-user history store (one file, replaced atomically on update).',
  }),
  learning_period: s.duration({
    default: 7 * 86400,
    doc: 'After the first record seen, sources and habits are learned without alerting for this long (record time, not wall clock). 0 alerts from the start.',
  }),
  home_checks: s.object({
    interval: s.duration({ default: 3600, min: 60, doc: 'How often home directories are checked besides at each logout (history files, rhosts, odd directory names).' }),
    history_files: s.list(s.string(), {
      default: ['.bash_history', '.zsh_history', '.sh_history', '.history'],
      doc: 'Shell history files, relative to each home, watched by history_truncated and history_suspicious.',
    }),
  }),
  modules: s.object({
    first_login: s.object({
      enabled: s.boolean({ default: true, doc: 'A user with no history logs in (after the learning period).' }),
      severity: severity('medium'),
    }),
    foreign_domain: s.object({
      enabled: s.boolean({ default: false, doc: 'The source is outside `allow` (needs a non-empty allow list).' }),
      severity: severity('high'),
      allow: sourceList('Where logins may come from; local (tty) logins always may.'),
    }),
    new_source: s.object({
      enabled: s.boolean({ default: true, doc: 'A source the user has never logged in from.' }),
      severity: severity('medium'),
      match: s.enumOf(['address', 'network'] as const, { default: 'network', doc: 'New means a new address, or a new network (ipv4_prefix / ipv6_prefix).' }),
      ipv4_prefix: s.integer({ default: 24, min: 8, max: 32, doc: 'Network size for IPv4 sources when match is network.' }),
      ipv6_prefix: s.integer({ default: 64, min: 16, max: 128, doc: 'Network size for IPv6 sources when match is network.' }),
    }),
    odd_login_time: s.object({
      enabled: s.boolean({ default: true, doc: 'A login outside the user\'s learned hours or outside the configured windows.' }),
      severity: severity('low'),
      learned_hours: s.boolean({ default: true, doc: 'Compare with the hours the user has logged in at before.' }),
      windows: s.list(s.string({ pattern: WINDOW, patternHint: 'a window such as "08:00-18:00"' }), {
        default: [],
        doc: 'Daily windows "HH:MM-HH:MM" (local time; may wrap past midnight) in which logins are normal for everyone. Empty: no fixed windows.',
      }),
    }),
    multiple_logins: s.object({
      enabled: s.boolean({ default: true, doc: 'The user has sessions open from two different sources at once.' }),
      severity: severity('medium'),
      allow: sourceList('Sources exempt from this check (e.g. a jump host).'),
    }),
    system_account_login: s.object({
      enabled: s.boolean({ default: true, doc: 'An interactive login to a system account (uid below min_uid, or a nologin shell).' }),
      severity: severity('high'),
      min_uid: s.integer({ default: 1000, min: 0, max: 4294967294, doc: 'Accounts with a uid below this are system accounts (Debian: 1000).' }),
      allow_users: s.list(s.string(), { default: [], doc: 'System accounts that may log in (e.g. root on a host administered that way).' }),
    }),
    history_truncated: s.object({
      enabled: s.boolean({ default: true, doc: 'A shell history file shrank, was emptied, deleted, or linked to /dev/null.' }),
      severity: severity('high'),
    }),
    history_suspicious: s.object({
      enabled: s.boolean({ default: true, doc: 'A history file holds track-covering or download-and-run commands (unset HISTFILE, history -c, curl | sh, nc -e).' }),
      severity: severity('high'),
    }),
    rhosts_check: s.object({
      enabled: s.boolean({ default: true, doc: 'A trust file has a `+` or wildcard entry.' }),
      severity: severity('high'),
      user_files: s.list(s.string(), { default: ['.rhosts', '.shosts'], doc: 'Trust files relative to each home.' }),
      system_files: s.list(s.path({ absolute: true }), { default: ['/etc/hosts.equiv', '/etc/ssh/shosts.equiv'], doc: 'System-wide trust files.' }),
    }),
    odd_dirnames: s.object({
      enabled: s.boolean({ default: true, doc: 'A home holds a directory named "...", ". ", ".. ", only spaces, or with control characters.' }),
      severity: severity('medium'),
      max_depth: s.integer({ default: 3, min: 1, max: 32, doc: 'How deep below each home to look.' }),
    }),
    record_tamper: s.object({
      enabled: s.boolean({ default: true, doc: 'wtmp records zeroed or removed, time going backwards, a logout with no login, wtmp shrinking without rotation, an sshd login with no wtmp record.' }),
      severity: severity('high'),
      sshd_match_window: s.duration({ default: 10, doc: 'How far apart an sshd "Accepted" line and its wtmp record may be before the record counts as missing.' }),
      sshd_match: s.enumOf(['pty', 'all', 'off'] as const, {
        default: 'pty',
        doc: 'Which sshd logins must have a wtmp record: pty (those sshd logged a pty for, which needs LogLevel VERBOSE; sshd writes wtmp only for pty sessions), all (every Accepted: noisy where scp, sftp or automation use ssh), off.',
      }),
      backwards_tolerance: s.duration({ default: 60, doc: 'How far wtmp time may go back from one record to the next before it is flagged.' }),
    }),
  }),
  responses: s.object({
    syslog: s.object({
      facility: s.string({ default: 'auth', doc: 'Syslog facility of anomaly lines (ident hostsentry, tags attackalert: / securityalert:).' }),
      sinks: s.list(s.string(), { default: ['unix:/dev/log'], minItems: 1, doc: 'Where lines go: unix:PATH, udp://HOST:PORT, tcp://HOST:PORT (?format=rfc5424), stderr.' }),
    }),
    mail: s.object({
      enabled: s.boolean({ default: false, doc: 'Mail each anomaly (rate-limited).' }),
      min_severity: s.enumOf(SEVERITIES, { default: 'medium', doc: 'Anomalies below this severity are not mailed.' }),
      to: s.list(s.string({ pattern: MAIL_ADDRESS, patternHint: 'a mail address or local user name' }), { default: ['root'], doc: 'Recipients.' }),
      from: s.string({ default: '', pattern: /^$|^[^\s<>,;"\\\x00-\x1f\x7f]+$/, patternHint: 'a mail address or empty', doc: 'Sender; empty means the running user at this host.' }),
      rate_limit: s.integer({ default: 10, min: 1, max: 100000, doc: 'At most this many mails per rate_period; the rest are counted and summed up in the next mail.' }),
      rate_period: s.duration({ default: 3600, min: 1, doc: 'The period of rate_limit.' }),
      transport: s.enumOf(['sendmail', 'smtp'] as const, { default: 'sendmail', doc: 'The local sendmail binary, or SMTP to a server.' }),
      sendmail_path: s.path({ default: '/usr/sbin/sendmail', absolute: true, doc: 'The sendmail binary, for transport sendmail.' }),
      smtp: s.object({
        host: s.string({ default: 'localhost', pattern: /^[A-Za-z0-9.:_-]+$/, patternHint: 'a host name or address', doc: 'SMTP server, for transport smtp.' }),
        port: s.port({ default: 25, doc: 'SMTP port.' }),
        security: s.enumOf(['none', 'starttls', 'tls'] as const, { default: 'none', doc: 'none: plain; starttls: required; tls: TLS from the first byte.' }),
        user: s.string({ default: '', doc: 'SMTP AUTH user; empty means none.' }),
        password_file: s.string({ default: '', doc: 'Absolute path of a file holding the SMTP password; required with user.' }),
      }),
    }),
    command: s.object({
      template: s.string({
        default: '',
        doc: 'Command run for each anomaly with a source address; $TARGET$ is the address. Run as argv (no shell) unless it uses shell syntax. Empty: no command.',
      }),
      min_severity: s.enumOf(SEVERITIES, { default: 'high', doc: 'Anomalies below this severity run no command.' }),
      timeout: s.duration({ default: 30, min: 1, doc: 'The command is killed after this long.' }),
    }),
    portsentry: s.object({
      enabled: s.boolean({ default: false, doc: 'Hand the source address of an anomaly to portsentry\'s block engine, so the suite keeps one ban list.' }),
      min_severity: s.enumOf(SEVERITIES, { default: 'high', doc: 'Anomalies below this severity are not handed off.' }),
      socket: s.path({
        default: '/var/lib/portsentry/portsentry.state.json.sock',
        absolute: true,
        doc: "portsentry's control socket (its STATE_FILE followed by .sock); the block goes through portsentry's ignore list, rate limit and backends.",
      }),
    }),
  }),
});

/** hostsentry.yaml as parsed. */
export type HostsentryConfig = Infer<typeof hostsentrySchema>;

/** True for an address, CIDR prefix, host name or domain suffix usable in an allow list. */
function isSourcePattern(x: string): boolean {
  return tryParsePrefix(x) !== undefined || HOST_OR_DOMAIN.test(x);
}

/** The cross-field rules (no I/O): each broken rule as [dotted key, why]. Pure. */
export function hostsentryConfigProblems(c: HostsentryConfig): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  const m = c.modules;
  const allowList = (key: string, list: readonly string[]): void => {
    list.forEach((x, i) => {
      if (!isSourcePattern(x)) out.push([`${key}[${i}]`, `${JSON.stringify(x)} is not an address, CIDR prefix, host name or domain`]);
    });
  };
  allowList('modules.foreign_domain.allow', m.foreign_domain.allow);
  allowList('modules.multiple_logins.allow', m.multiple_logins.allow);
  if (m.foreign_domain.enabled && m.foreign_domain.allow.length === 0) {
    out.push(['modules.foreign_domain.allow', 'foreign_domain is enabled but allows nothing, so every remote login would be an anomaly']);
  }
  m.odd_login_time.windows.forEach((w, i) => {
    if (w.slice(0, 5) === w.slice(6)) out.push([`modules.odd_login_time.windows[${i}]`, `${JSON.stringify(w)} is empty (start equals end)`]);
  });
  if (m.odd_login_time.enabled && !m.odd_login_time.learned_hours && m.odd_login_time.windows.length === 0) {
    out.push(['modules.odd_login_time.windows', 'odd_login_time is enabled with learned_hours off and no windows: nothing to compare with']);
  }
  const relative = (key: string, list: readonly string[]): void => {
    list.forEach((x, i) => {
      // Resolved inside each home: an absolute path or a ".." would leave it.
      if (x === '' || isAbsolute(x) || x.split('/').includes('..')) out.push([`${key}[${i}]`, `${JSON.stringify(x)} must be a path relative to the home directory, without ..`]);
    });
  };
  relative('home_checks.history_files', c.home_checks.history_files);
  relative('modules.rhosts_check.user_files', m.rhosts_check.user_files);
  if (c.inputs.sshd.source === 'files' && c.inputs.sshd.files.length === 0) out.push(['inputs.sshd.files', 'sshd source is files but no file is listed']);
  if (!c.inputs.wtmp.enabled && !c.inputs.wtmpdb.enabled && c.inputs.sshd.source === 'off') {
    out.push(['inputs', 'nothing to read: wtmp, wtmpdb and sshd lines are all off']);
  }
  const r = c.responses;
  try {
    parseFacility(r.syslog.facility);
  } catch (e) {
    if (e instanceof ConfigError) out.push(['responses.syslog.facility', e.detail]);
    else throw e;
  }
  r.syslog.sinks.forEach((spec, i) => {
    try {
      parseSinkSpec(spec);
    } catch (e) {
      if (e instanceof ConfigError) out.push([`responses.syslog.sinks[${i}]`, e.detail]);
      else throw e;
    }
  });
  if (r.mail.enabled && r.mail.to.length === 0) out.push(['responses.mail.to', 'mail is enabled but there is no recipient']);
  const smtp = r.mail.smtp;
  if (smtp.password_file !== '' && !isAbsolute(smtp.password_file)) out.push(['responses.mail.smtp.password_file', `${JSON.stringify(smtp.password_file)} must be an absolute path (starting with /)`]);
  if (smtp.user !== '' && smtp.password_file === '') out.push(['responses.mail.smtp.password_file', 'needed when responses.mail.smtp.user is set']);
  if (smtp.user === '' && smtp.password_file !== '') out.push(['responses.mail.smtp.user', 'needed when responses.mail.smtp.password_file is set']);
  // A password over plain SMTP is readable by anyone on the path; only loopback is exempt.
  if (smtp.user !== '' && smtp.security === 'none' && !['localhost', '127.0.0.1', '::1'].includes(smtp.host)) {
    out.push(['responses.mail.smtp.security', `SMTP authentication to ${smtp.host} needs starttls or tls`]);
  }
  if (r.command.template !== '') {
    try {
      const t = parseCommandTemplate(r.command.template);
      // Anomalies have a source address but no port or scan mode to put in $PORT$ / $MODE$.
      for (const ph of t.uses) if (ph !== '$TARGET$') out.push(['responses.command.template', `${ph} has no value for a login anomaly; only $TARGET$ (the source address) is filled`]);
    } catch (e) {
      if (e instanceof ConfigError) out.push(['responses.command.template', e.detail]);
      else throw e;
    }
  }
  return out;
}

/**
 * Loads `path` with its `.local.yaml` and `.d/*.yaml` layers, validates it with
 * {@link hostsentrySchema} and the cross-field rules, and returns the frozen config. Throws
 * ConfigErrors holding every problem, each with file:line:col (where known) and the dotted key.
 */
export function checkHostsentryConfig(path: string): HostsentryConfig {
  return loadCheckedConfig(hostsentrySchema, path, hostsentryConfigProblems).config;
}
