/**
 * logsentry's configuration (`logsentry.yaml`): a Logcheck 1.4 drop-in, so every setting of
 * `/etc/logcheck/logcheck.conf` has a YAML counterpart with the same meaning (the shipped
 * etc/logsentry.yaml names the logcheck.conf key each one mirrors). Parsed once into a frozen object;
 * every error names file:line:col and the dotted key.
 */
import { isAbsolute } from 'node:path';
import {
  loadCheckedConfig,
  s,
  type Infer,
} from '@trisentry/shared';

/** A mail address or a bare local user name; no spaces, angle brackets or control characters (header injection). */
const MAIL_ADDRESS = /^[^\s<>,;"\\\x00-\x1f\x7f]+$/;

/** A subject word: printable text without CR/LF or other control characters. */
const PRINTABLE = /^[^\x00-\x1f\x7f]*$/;

/** logcheck 1.4's subject date (`date +'%Y-%m-%d %H:%M %z'`); with the Psionic layout it stands for 1.1's own. */
export const DEFAULT_DATE_FORMAT = '%Y-%m-%d %H:%M %z';

/** The schema of logsentry.yaml. Keys are snake_case; defaults are logcheck 1.4's shipped behaviour. */
export const logsentrySchema = s.object({
  report: s.object({
    level: s.enumOf(['workstation', 'server', 'paranoid'] as const, {
      default: 'server',
      doc: 'Which cumulative ignore sets apply (REPORTLEVEL, -w/-s/-p): paranoid uses ignore.d.paranoid; server adds ignore.d.server; workstation adds ignore.d.workstation.',
    }),
    intro: s.boolean({ default: true, doc: 'Put the introduction paragraph (or header.txt/footer.txt from the rules directory) around the report (INTRO).' }),
    sort_unique: s.boolean({ default: false, doc: 'Sort each section with duplicates removed (sort -u) instead of the stable sort on the first three fields (SORTUNIQ).' }),
    summary: s.boolean({ default: false, doc: 'Print each section as syslog-summary does (SYSLOGSUMMARY, -u): lines equal apart from their time stamp and [pid] once each with a count, after its header lines.' }),
    max_size: s.integer({
      default: 10 * 1024 * 1024,
      min: 4096,
      max: 1024 * 1024 * 1024,
      doc: 'Largest report body in bytes; a longer report is cut with a line saying how much was left out (no logcheck key: logcheck sends any size and the mail server may refuse it).',
    }),
    output: s.enumOf(['mail', 'stdout'] as const, { default: 'mail', doc: 'Where the report goes: mail it, or print it to standard output (MAILOUT, -o).' }),
    subject: s.object({
      hostname: s.string({ default: '', pattern: PRINTABLE, patternHint: 'printable text', doc: 'Host name in the subject; empty means this host\'s name (-H).' }),
      fqdn: s.boolean({ default: true, doc: 'Use the fully qualified host name in the subject (FQDN).' }),
      date_format: s.string({
        default: DEFAULT_DATE_FORMAT,
        pattern: PRINTABLE,
        patternHint: 'printable text',
        doc: 'strftime format of the date in the subject (DATE, which logcheck sets with date +FORMAT).',
      }),
      add_tag: s.boolean({ default: false, doc: 'Put `tag` in front of the subject (ADDTAG).' }),
      tag: s.string({ default: '[logcheck]', pattern: PRINTABLE, patternHint: 'printable text', doc: 'The subject prefix used when add_tag is on (logcheck\'s fixed "[logcheck]").' }),
      attack: s.string({ default: 'Security Alerts', pattern: PRINTABLE, patternHint: 'printable text', doc: 'Subject and section word for attack alerts (ATTACKSUBJECT).' }),
      security: s.string({ default: 'Security Events', pattern: PRINTABLE, patternHint: 'printable text', doc: 'Subject and section word for security events (SECURITYSUBJECT).' }),
      events: s.string({ default: 'System Events', pattern: PRINTABLE, patternHint: 'printable text', doc: 'Subject and section word for system events (EVENTSSUBJECT).' }),
    }),
  }),
  rules: s.object({
    dir: s.path({ default: '/etc/logcheck', absolute: true, doc: 'Base directory of the rule files (RULEDIR, -r).' }),
    layout: s.enumOf(['auto', 'debian', 'psionic'] as const, {
      default: 'auto',
      doc: 'Rule tree layout: debian (cracking.d, violations.d, ignore.d.*), psionic (Logcheck 1.1\'s logcheck.hacking/.violations/.violations.ignore/.ignore), or auto (debian when cracking.d exists).',
    }),
    support_cracking_ignore: s.boolean({ default: false, doc: 'Apply cracking.ignore.d as exceptions to cracking.d (SUPPORT_CRACKING_IGNORE).' }),
    locale: s.enumOf(['C', 'C.UTF-8', 'en_US.UTF-8', 'auto'] as const, {
      default: 'C',
      doc: "The locale logcheck's grep, sed and sort run under (no logcheck key: cron gives logcheck the system's LANG through pam_env). C: bytes. C.UTF-8: UTF-8 characters with glibc's classes (é is [[:alpha:]]; a byte that is not valid UTF-8 is matched by no `.` or bracket). en_US.UTF-8: also en_US's collation for [a-z] [A-Z] [a-f] [A-F], and the report sorted by the system's sort under it (the locale must be generated). auto: from LC_ALL, else LC_CTYPE/LC_COLLATE, else LANG of logsentry's own environment.",
    }),
    threads: s.string({
      default: 'auto',
      pattern: /^(auto|[0-9]|[1-5][0-9]|6[0-4])$/,
      patternHint: '"auto" or a number of threads from 0 to 64',
      doc: 'Worker threads that decide lines beside the main one when a run has at least 400,000 lines (no logcheck key): auto is one fewer than the cores, at most 3; 0 decides everything on the main thread. Each thread compiles the rule tree once for the run.',
    }),
  }),
  inputs: s.object({
    list_files: s.list(s.path({ absolute: true }), {
      default: ['/etc/logcheck/logcheck.logfiles'],
      doc: 'Files listing the logs to check, one absolute path per line, or the word `journal` (LOGFILES_LIST, -L). A missing file is skipped.',
    }),
    list_dirs: s.list(s.path({ absolute: true }), {
      default: ['/etc/logcheck/logcheck.logfiles.d'],
      doc: 'Directories whose *.logfiles files list logs the same way (LOGFILES_LIST_D).',
    }),
    files: s.list(s.path({ absolute: true }), { default: [], doc: 'Logs to check, listed here instead of (or as well as) in the list files.' }),
    journal: s.enumOf(['auto', 'on', 'off'] as const, {
      default: 'auto',
      doc: 'The systemd journal: auto reads it when a list file has a `journal` line (logcheck 1.4.1); on always; off never, even if listed.',
    }),
    normalize_timestamps: s.boolean({
      default: true,
      doc: 'Rewrite RFC 3339 timestamps (rsyslog high precision) to the traditional "Mmm dd hh:mm:ss" before matching, so rules written for that form still match (Debian bug 1023755).',
    }),
    batch_bytes: s.integer({
      default: 64 * 1024 * 1024,
      min: 4096,
      max: 1024 * 1024 * 1024,
      doc: 'Most new bytes read from one log for one report (no logcheck key: logcheck reads the whole backlog at once): a bigger backlog is reported in several reports one after another, each read, reported and committed before the next, so memory stays bounded.',
    }),
  }),
  mail: s.object({
    to: s.list(s.string({ pattern: MAIL_ADDRESS, patternHint: 'a mail address or local user name' }), {
      default: ['root'],
      doc: 'Recipients (SENDMAILTO, -m). logcheck.conf ships "logcheck"; we run as root or any user, so root.',
    }),
    from: s.string({ default: '', pattern: /^$|^[^\s<>,;"\\\x00-\x1f\x7f]+$/, patternHint: 'a mail address or empty', doc: 'Sender address; empty means the running user at this host, as mail(1) would use.' }),
    attach: s.enumOf(['none', 'text', 'gzip'] as const, { default: 'none', doc: 'Send the report in the body, as a text attachment, or as a gzip attachment (MAILASATTACH 0, 1, 2).' }),
    encoding: s.enumOf(['auto', '7bit', '8bit', 'quoted-printable', 'base64'] as const, {
      default: 'auto',
      doc: 'Content-Transfer-Encoding of the body; auto picks one that keeps long lines legal (MIMEENCODING empty).',
    }),
    transport: s.enumOf(['sendmail', 'smtp'] as const, { default: 'sendmail', doc: 'Hand the mail to the local sendmail binary (as logcheck does through mail(1)) or speak SMTP to a server.' }),
    sendmail_path: s.path({ default: '/usr/sbin/sendmail', absolute: true, doc: 'The sendmail binary, for transport sendmail.' }),
    smtp: s.object({
      host: s.string({ default: 'localhost', pattern: /^[A-Za-z0-9.:_-]+$/, patternHint: 'a host name or address', doc: 'SMTP server, for transport smtp.' }),
      port: s.port({ default: 25, doc: 'SMTP port (25 or 587 with starttls, 465 with tls).' }),
      security: s.enumOf(['none', 'starttls', 'tls'] as const, { default: 'none', doc: 'none: plain SMTP; starttls: require STARTTLS; tls: TLS from the first byte.' }),
      user: s.string({ default: '', pattern: PRINTABLE, patternHint: 'printable text', doc: 'SMTP AUTH user; empty means no authentication.' }),
      password_file: s.string({ default: '', doc: 'Absolute path of a file holding the SMTP password (first line); required with user.' }),
    }),
  }),
  state_dir: s.path({
    default: '/var/lib/logsentry',
    absolute: true,
    doc: 'Where offsets (logtail2 format, offset<path with / as .>), the journal cursor and spooled undelivered reports are kept (STATEDIR, -S).',
  }),
  schedule: s.string({ default: '2 * * * *', doc: 'When `logsentry --daemon` runs: a five-field cron expression (etc/cron.d/logcheck\'s `2 * * * *`).' }),
  lock_file: s.path({ default: '/run/lock/logsentry.lock', absolute: true, doc: 'Lock held during a run so two runs never overlap (LOCKFILE).' }),
});

/** logsentry.yaml as parsed. */
export type LogsentryConfig = Infer<typeof logsentrySchema>;

/** Bounds of the five cron fields: minute, hour, day of month, month, day of week (7 is Sunday too). */
const CRON_FIELDS: readonly { readonly name: string; readonly min: number; readonly max: number; readonly names?: readonly string[] }[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

/**
 * Checks a five-field cron expression (numbers, names for month and weekday, `*`, `a-b`, `/step`,
 * comma lists). Returns undefined when valid, else why not. Pure.
 */
export function cronProblem(expr: string): string | undefined {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) return `expected 5 fields (minute hour day-of-month month day-of-week), found ${parts.length}`;
  for (let i = 0; i < 5; i++) {
    const f = CRON_FIELDS[i]!;
    const value = (t: string): number | undefined => {
      if (/^[0-9]+$/.test(t)) return Number(t);
      const k = f.names?.indexOf(t.toLowerCase()) ?? -1;
      // Month names count from 1, weekday names from 0.
      return k < 0 ? undefined : k + f.min;
    };
    for (const item of parts[i]!.split(',')) {
      const m = /^([^/]+)(?:\/([0-9]+))?$/.exec(item);
      if (m === null) return `${f.name} field ${JSON.stringify(item)} is not valid`;
      const [, range, step] = m;
      if (step !== undefined && Number(step) < 1) return `${f.name} step must be at least 1`;
      if (range === '*') continue;
      const [a, b, extra] = range!.split('-');
      const lo = value(a ?? '');
      const hi = b === undefined ? lo : value(b);
      if (extra !== undefined || lo === undefined || hi === undefined) return `${f.name} field ${JSON.stringify(item)} is not valid`;
      if (lo < f.min || hi > f.max || lo > hi) return `${f.name} field ${JSON.stringify(item)} is out of range (${f.min}..${f.max})`;
    }
  }
  return undefined;
}

/** The cross-field rules (no I/O): each broken rule as [dotted key, why]. Pure. */
export function logsentryConfigProblems(c: LogsentryConfig): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  const cron = cronProblem(c.schedule);
  if (cron !== undefined) out.push(['schedule', cron]);
  if (c.inputs.journal === 'off' && c.inputs.list_files.length === 0 && c.inputs.list_dirs.length === 0 && c.inputs.files.length === 0) {
    out.push(['inputs', 'nothing to read: no list files, no list directories, no files, and the journal is off']);
  }
  if (c.report.output === 'mail' && c.mail.to.length === 0) out.push(['mail.to', 'reports are mailed (report.output: mail) but there is no recipient']);
  const smtp = c.mail.smtp;
  if (smtp.password_file !== '' && !isAbsolute(smtp.password_file)) out.push(['mail.smtp.password_file', `${JSON.stringify(smtp.password_file)} must be an absolute path (starting with /)`]);
  if (smtp.user !== '' && smtp.password_file === '') out.push(['mail.smtp.password_file', 'needed when mail.smtp.user is set']);
  if (smtp.user === '' && smtp.password_file !== '') out.push(['mail.smtp.user', 'needed when mail.smtp.password_file is set']);
  // A password over plain SMTP is readable by anyone on the path; only loopback is exempt.
  if (smtp.user !== '' && smtp.security === 'none' && !['localhost', '127.0.0.1', '::1'].includes(smtp.host)) {
    out.push(['mail.smtp.security', `SMTP authentication to ${smtp.host} needs starttls or tls`]);
  }
  return out;
}

/**
 * Loads `path` with its `.local.yaml` and `.d/*.yaml` layers, validates it with
 * {@link logsentrySchema} and the cross-field rules, and returns the frozen config. Throws
 * ConfigErrors holding every problem, each with file:line:col (where known) and the dotted key.
 */
export function checkLogsentryConfig(path: string): LogsentryConfig {
  return loadCheckedConfig(logsentrySchema, path, logsentryConfigProblems).config;
}
