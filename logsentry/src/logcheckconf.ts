/**
 * Reads an existing `/etc/logcheck/logcheck.conf` (what `logcheck -c CFG` takes) and turns its
 * settings into overrides of logsentry.yaml keys, so an administrator's logcheck configuration keeps
 * working unchanged.
 *
 * logcheck sources the file with bash. We do not run it: we read the assignments bash would make
 * from a file of plain assignments — `KEY=value`, `KEY="value"`, `KEY='value'`, comments, blank
 * lines; the last assignment of a key wins, as in bash. Anything that would need a shell to evaluate
 * (command substitution, variable expansion, arrays) is an error naming file:line, never guessed;
 * the one exception is logcheck's own `DATE="$(date +'FORMAT')"` idiom, read as the date format it
 * sets. Unknown keys are errors with the key, like every TriSentry config.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, ConfigErrors, type ConfigFlag } from '@trisentry/shared';

interface Assignment {
  readonly key: string;
  readonly value: string;
  readonly line: number;
  readonly col: number;
}

const ASSIGN = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

/** Parses bash-style plain assignments; throws ConfigErrors listing every line it cannot read. */
export function parseShellAssignments(text: string, file: string): Assignment[] {
  const out: Assignment[] = [];
  const errors: ConfigError[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const lead = line.length - line.trimStart().length;
    const m = ASSIGN.exec(trimmed);
    const fail = (why: string, key?: string): void => {
      errors.push(new ConfigError('CFG_SYNTAX', why, { pos: { file, line: i + 1, col: lead + 1 }, key }));
    };
    if (m === null) return fail('expected KEY=value (logcheck.conf is read as plain shell assignments, not run)');
    const key = m[1]!;
    let rest = m[2]!;
    let value: string;
    const dateIdiom = /^"\$\(date \+'([^']*)'\)"\s*(#.*)?$/.exec(rest) ?? /^\$\(date \+'([^']*)'\)\s*(#.*)?$/.exec(rest);
    if (key === 'DATE' && dateIdiom) {
      out.push({ key, value: dateIdiom[1]!, line: i + 1, col: lead + key.length + 2 });
      return;
    }
    if (rest.startsWith('"')) {
      const end = rest.indexOf('"', 1);
      if (end < 0) return fail('missing closing "', key);
      value = rest.slice(1, end);
      rest = rest.slice(end + 1);
      if (/[$`\\]/.test(value)) return fail('expansion or escapes inside "..." need a shell; write the value itself', key);
    } else if (rest.startsWith("'")) {
      const end = rest.indexOf("'", 1);
      if (end < 0) return fail("missing closing '", key);
      value = rest.slice(1, end);
      rest = rest.slice(end + 1);
    } else {
      const m2 = /^([^\s#;&|<>()$`"'\\]*)(.*)$/.exec(rest)!;
      value = m2[1]!;
      rest = m2[2]!;
    }
    if (rest.trim() !== '' && !rest.trim().startsWith('#')) return fail(`unexpected ${JSON.stringify(rest.trim())} after the value`, key);
    out.push({ key, value, line: i + 1, col: lead + key.length + 2 });
  });
  if (errors.length > 0) throw new ConfigErrors(errors);
  return out;
}

type Mapper = (v: string) => readonly (readonly [string, string])[] | string;

const bool01 = (path: string): Mapper => (v) => (v === '0' || v === '1' ? [[path, v === '1' ? 'true' : 'false']] : `expected 0 or 1, got ${JSON.stringify(v)}`);
const text = (path: string): Mapper => (v) => [[path, v]];
const ignored = (): Mapper => () => [];

/** logcheck.conf keys (logcheck 1.4's script and its shipped conf) and what each sets. */
const KEYS: Readonly<Record<string, Mapper>> = {
  REPORTLEVEL: (v) => (['workstation', 'server', 'paranoid'].includes(v) ? [['report.level', v]] : `expected workstation, server or paranoid, got ${JSON.stringify(v)}`),
  // mail(1) takes several recipients separated by spaces or commas.
  SENDMAILTO: (v) => {
    const to = v.split(/[\s,]+/).filter((x) => x !== '');
    return to.length === 0 ? 'no recipient' : [['mail.to', to.join(', ')]];
  },
  MAILASATTACH: (v) => (v === '0' ? [['mail.attach', 'none']] : v === '1' ? [['mail.attach', 'text']] : v === '2' ? [['mail.attach', 'gzip']] : `expected 0, 1 or 2, got ${JSON.stringify(v)}`),
  MIMEENCODING: (v) => [['mail.encoding', v === '' ? 'auto' : v]],
  FQDN: bool01('report.subject.fqdn'),
  SORTUNIQ: bool01('report.sort_unique'),
  SUPPORT_CRACKING_IGNORE: bool01('rules.support_cracking_ignore'),
  SYSLOGSUMMARY: bool01('report.summary'),
  INTRO: bool01('report.intro'),
  MAILOUT: (v) => (v === '0' || v === '1' ? [['report.output', v === '1' ? 'stdout' : 'mail']] : `expected 0 or 1, got ${JSON.stringify(v)}`),
  ADDTAG: (v) => (v === 'yes' || v === 'no' ? [['report.subject.add_tag', v === 'yes' ? 'true' : 'false']] : `expected yes or no, got ${JSON.stringify(v)}`),
  ATTACKSUBJECT: text('report.subject.attack'),
  SECURITYSUBJECT: text('report.subject.security'),
  EVENTSSUBJECT: text('report.subject.events'),
  DATE: text('report.subject.date_format'),
  RULEDIR: text('rules.dir'),
  LOGFILES_LIST: text('inputs.list_files'),
  LOGFILES_LIST_D: text('inputs.list_dirs'),
  STATEDIR: text('state_dir'),
  LOCKFILE: text('lock_file'),
  // Only meaningful to the shell script (its temporary directory, its lock directory, debug output).
  TMP: ignored(),
  LOCKDIR: ignored(),
  LOGCHECKDEBUG: ignored(),
};

/** The names logcheck.conf may set. */
export const LOGCHECK_CONF_KEYS: readonly string[] = Object.keys(KEYS);

/**
 * Reads a logcheck.conf into config overrides (dotted logsentry.yaml keys), each with its origin
 * `file:line`. Throws ConfigErrors for unreadable lines, unknown keys and bad values, all at once.
 */
export function logcheckConfFlags(path: string): ConfigFlag[] {
  let textIn: string;
  try {
    textIn = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigErrors([new ConfigError('CFG_UNREADABLE', `cannot read: ${(e as Error).message}`, { pos: { file: path, line: 1, col: 1 } })]);
  }
  const last = new Map<string, Assignment>();
  for (const a of parseShellAssignments(textIn, path)) last.set(a.key, a); // bash: the last one wins
  const flags: ConfigFlag[] = [];
  const errors: ConfigError[] = [];
  for (const a of last.values()) {
    const map = KEYS[a.key];
    const pos = { file: path, line: a.line, col: a.col };
    if (map === undefined) {
      errors.push(new ConfigError('CFG_UNKNOWN_KEY', `unknown logcheck.conf key (known: ${LOGCHECK_CONF_KEYS.join(', ')})`, { pos, key: a.key }));
      continue;
    }
    const r = map(a.value);
    if (typeof r === 'string') errors.push(new ConfigError('CFG_BAD_VALUE', r, { pos, key: a.key }));
    else for (const [p, v] of r) flags.push({ path: p, value: v, origin: `${path}:${a.line}` });
  }
  if (errors.length > 0) throw new ConfigErrors(errors);
  return flags;
}
