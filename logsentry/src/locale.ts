/**
 * The locale side of a run that the rules core cannot do (config rules.locale; the matching itself is
 * core/utf8ctype.ts): what `auto` means in logsentry's environment, whether this host can sort in the
 * chosen locale, and the sorting under en_US.UTF-8, whose order is glibc's collation: only the
 * system's sort gives it exactly, so the lines go through `sort` (argv, no shell, lines on stdin) as
 * in logcheck, and so do the rule file names, whose order bash's glob gives the report's sections.
 */
import { spawn, spawnSync } from 'node:child_process';
import { ConfigError, ConfigErrors, ExecError } from '@trisentry/shared';
import type { MatchLocale } from './core/utf8ctype.js';
import type { RuleTreeInput } from './core/rules.js';

/** The values of config rules.locale. */
export type LocaleSetting = MatchLocale | 'auto';

/** What rules.locale means on this host. */
export interface ResolvedLocale {
  readonly locale: MatchLocale;
  /** Set when `auto` found a locale logsentry does not model and took the nearest: say so. */
  readonly warning: string | undefined;
}

// The commands run here get a fixed PATH, not the caller's.
const PATH = '/usr/local/bin:/usr/bin:/bin';

type Kind = 'C' | 'C.UTF-8' | 'en_US.UTF-8' | 'other UTF-8' | 'other';

function kindOf(name: string): Kind {
  if (name === 'C' || name === 'POSIX') return 'C';
  // glibc accepts the codeset in any case and with or without the dash; a @modifier changes neither.
  const m = /^([^.@]*)(?:\.([^@]*))?(?:@.*)?$/.exec(name);
  const utf8 = m !== null && m[2] !== undefined && /^utf-?8$/i.test(m[2]);
  if (!utf8) return 'other';
  if (m[1] === 'C') return 'C.UTF-8';
  if (m[1] === 'en_US') return 'en_US.UTF-8';
  return 'other UTF-8';
}

/**
 * What rules.locale `setting` means for an environment `env` (logsentry's own: what cron's pam_env
 * gave it, and so what logcheck would run under). `auto` reads, as glibc does, LC_ALL, else the
 * category's variable, else LANG: LC_CTYPE for the characters and LC_COLLATE for ranges and the sort.
 * Unset, C or POSIX is C; C.UTF-8 and en_US.UTF-8 are themselves; another UTF-8 locale is matched as
 * the nearest (glibc's UTF-8 locales share C.UTF-8's character classes; their collations are
 * en_US-like) and a non-UTF-8 one as C, each with a warning. Pure.
 */
export function resolveLocale(setting: LocaleSetting, env: Readonly<Record<string, string | undefined>>): ResolvedLocale {
  if (setting !== 'auto') return { locale: setting, warning: undefined };
  const pick = (category: string): { readonly name: string; readonly from: string } => {
    for (const v of ['LC_ALL', category, 'LANG']) {
      const x = env[v];
      if (x !== undefined && x !== '') return { name: x, from: v };
    }
    return { name: 'C', from: 'no locale variable' };
  };
  const ctype = pick('LC_CTYPE');
  const collate = pick('LC_COLLATE');
  const ck = kindOf(ctype.name);
  const ok = kindOf(collate.name);
  const unknown: string[] = [];
  if (ck === 'other' || ck === 'other UTF-8') unknown.push(`${ctype.from}=${ctype.name}`);
  if ((ok === 'other' || ok === 'other UTF-8') && !unknown.includes(`${collate.from}=${collate.name}`)) unknown.push(`${collate.from}=${collate.name}`);
  let locale: MatchLocale;
  let why: string;
  if (ck === 'C' || ck === 'other') {
    // A single-byte locale's classes (latin1's é as a letter) are not modelled: bytes, as C.
    locale = 'C';
    why = 'characters as bytes';
  } else if (ok === 'en_US.UTF-8' || ok === 'other UTF-8') {
    locale = 'en_US.UTF-8';
    why = "glibc's UTF-8 character classes, en_US's collation for ranges and the sort";
  } else {
    locale = 'C.UTF-8';
    why = "glibc's UTF-8 character classes, ranges and the sort in code point order";
  }
  const warning = unknown.length === 0 ? undefined : `rules.locale auto: ${unknown.join(', ')} is not a locale logsentry models; matching as ${locale}, the nearest (${why})`;
  return { locale, warning };
}

/** Whether glibc can load locale `name` on this host (`locale charmap` under it answers UTF-8, without complaint). */
export function localeAvailable(name: string): boolean {
  const r = spawnSync('locale', ['charmap'], { env: { LC_ALL: name, PATH }, encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && r.stdout.trim() === 'UTF-8' && r.stderr.trim() === '';
}

/**
 * The environment check of rules.locale, once at start-up: en_US.UTF-8 needs the locale generated
 * (the report is sorted by the system's sort under it). Throws ConfigErrors naming the key.
 * `available` is {@link localeAvailable} (tests pass a host without the locale).
 */
export function checkLocale(r: ResolvedLocale, setting: LocaleSetting, available: (name: string) => boolean = localeAvailable): void {
  if (r.locale !== 'en_US.UTF-8' || available('en_US.UTF-8')) return;
  const as = setting === 'auto' ? 'auto resolved to en_US.UTF-8, but ' : '';
  throw new ConfigErrors([
    new ConfigError(
      'CFG_BAD_VALUE',
      `${as}the en_US.UTF-8 locale is not generated on this host, and the report is sorted by the system's sort under it: generate it (Debian: apt-get install locales; localedef -i en_US -f UTF-8 en_US.UTF-8) or set C.UTF-8`,
      { key: 'rules.locale' },
    ),
  ]);
}

/**
 * rules.locale for this run: `setting` resolved in `env` (see {@link resolveLocale}) and checked
 * against the host (see {@link checkLocale}). Throws ConfigErrors.
 */
export function preflightLocale(setting: LocaleSetting, env: Readonly<Record<string, string | undefined>>): ResolvedLocale {
  const r = resolveLocale(setting, env);
  checkLocale(r, setting);
  return r;
}

/**
 * `sort -k 1,3 -s` (or, with `unique`, `sort -u`; with `whole`, plain `sort`) of `lines` (byte
 * strings, without newlines) by the system's sort under `locale`; resolves with the sorted lines.
 * Rejects with ExecError when sort cannot run or fails.
 */
export function systemSort(lines: readonly string[], locale: string, how: 'keys' | 'unique' | 'whole', timeoutMs = 600_000): Promise<string[]> {
  if (lines.length === 0) return Promise.resolve([]);
  const args = how === 'unique' ? ['-u'] : how === 'keys' ? ['-k', '1,3', '-s'] : [];
  const argv = ['sort', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('sort', args, { env: { LC_ALL: locale, PATH }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let failure: Error | undefined;
    child.on('error', (e) => (failure = e));
    // sort reads all of its input before it writes: an early exit is reported by 'close'.
    child.stdin.on('error', () => undefined);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (failure !== undefined) return reject(new ExecError('EXEC_NOT_FOUND', `cannot run sort: ${failure.message}`, { argv, stderr, cause: failure }));
      if (signal !== null) return reject(new ExecError(signal === 'SIGKILL' ? 'EXEC_TIMEOUT' : 'EXEC_SIGNALED', `sort under ${locale} was ended by ${signal}`, { argv, signal, stderr }));
      if (status !== 0) return reject(new ExecError('EXEC_FAILED', `sort under ${locale} exited with status ${status}${stderr === '' ? '' : `: ${stderr}`}`, { argv, status, stderr }));
      const text = Buffer.concat(out).toString('latin1');
      const sorted = text.split('\n');
      sorted.pop();
      resolve(sorted);
    });
    child.stdin.end(Buffer.from(lines.join('\n') + '\n', 'latin1'));
  });
}

/** Every rule file name of `tree` (Debian layout), in the order bash's glob lists them under `locale` (its sort). */
export async function ruleFileOrder(tree: RuleTreeInput, locale: string): Promise<string[]> {
  if (tree.layout !== 'debian') return [];
  const names = new Set<string>();
  for (const d of [tree.cracking, tree.crackingIgnore, tree.violations, tree.violationsIgnore, tree.ignore.workstation, tree.ignore.server, tree.ignore.paranoid]) {
    // Only names run-parts takes are ever used (and they are ASCII, one line each).
    for (const f of d ?? []) if (/^[A-Za-z0-9_-]+$/.test(f.name)) names.add(f.name);
  }
  return systemSort([...names], locale, 'whole');
}
