/**
 * Command templates with `$TARGET$`, `$PORT$` and `$MODE$` placeholders (PortSentry 1.2's KILL_ROUTE,
 * KILL_RUN_CMD, KILL_HOSTS_DENY), filled without ever pasting outside text into a shell.
 *
 * 1.2 handed the filled string to system(3), so a template is shell syntax. We parse it once, at
 * config load, with the quoting rules of /bin/sh:
 * - A template made only of words (the common case: `/sbin/iptables -I INPUT -s $TARGET$ -j DROP`)
 *   becomes an argv array; each placeholder is replaced inside its argument and the command runs
 *   through execFile, no shell at all.
 * - A template that really uses the shell (pipes, `;`, `&&`, redirections, `$VAR`, backquotes) still
 *   runs under `/bin/sh -c`, but the script is the administrator's template with each placeholder
 *   rewritten into a quoted positional-parameter reference (`"$1"`); the values travel as separate
 *   arguments to sh and are never parsed as shell code, whatever bytes they hold.
 * Values themselves must come from parsers: {@link TemplateValues} holds an address object re-printed
 * from its parsed form, an integer port and a mode from its enum, checked again here.
 */
import { ConfigError, ExecError, type SourcePos } from '../errors.js';

/** The placeholders a template may use, as written in the config. */
export const PLACEHOLDERS = ['$TARGET$', '$PORT$', '$MODE$'] as const;
/** One of {@link PLACEHOLDERS}. */
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** The scan modes of PortSentry, the only values `$MODE$` can take. */
export const MODES = ['tcp', 'udp', 'stcp', 'sudp', 'atcp', 'audp'] as const;
/** One of {@link MODES}. */
export type Mode = (typeof MODES)[number];

/**
 * An address that went through a parser. Anything with this shape is accepted, but its printed form is
 * checked again with {@link isCanonicalAddressText} before it is used, so a forged object cannot smuggle
 * other text in.
 */
export interface ParsedAddressLike {
  readonly family: 4 | 6;
  toString(): string;
}

/** The values a template is filled with. A placeholder without a value is an error at fill time. */
export interface TemplateValues {
  readonly target?: ParsedAddressLike;
  readonly port?: number;
  readonly mode?: Mode;
}

/** A piece of one word: literal text or a placeholder. */
type Piece = { readonly text: string } | { readonly ph: Placeholder };

/** A parsed command template; build with {@link parseCommandTemplate}. */
export interface CommandTemplate {
  /** The template as written. */
  readonly source: string;
  /** `argv` when the template is plain words, `shell` when it needs /bin/sh. */
  readonly kind: 'argv' | 'shell';
  /** Which placeholders appear. */
  readonly uses: ReadonlySet<Placeholder>;
  /** For kind `argv`: the words, each a list of pieces. */
  readonly words: readonly (readonly Piece[])[];
  /** For kind `shell`: the script with placeholders turned into `"$1"`, `"$2"`, `"$3"` references. */
  readonly script: string;
}

const SHELL_OPERATOR = new Set(['|', '&', ';', '<', '>', '(', ')', '`']);
const PH_INDEX: Record<Placeholder, number> = { $TARGET$: 1, $PORT$: 2, $MODE$: 3 };

function placeholderAt(s: string, i: number): Placeholder | undefined {
  for (const p of PLACEHOLDERS) if (s.startsWith(p, i)) return p;
  return undefined;
}

/**
 * Parses a template with /bin/sh quoting (single quotes, double quotes, backslash). Throws
 * ConfigError `EXEC_BAD_TEMPLATE` naming `pos`/`key` for an empty template or unbalanced quotes.
 * An unknown `$WORD$` is left as shell text (it may be a shell variable followed by `$`), as 1.2 did.
 */
export function parseCommandTemplate(source: string, where?: { pos?: SourcePos; key?: string }): CommandTemplate {
  const words: Piece[][] = [];
  const uses = new Set<Placeholder>();
  let needsShell = false;
  let script = '';
  let cur: Piece[] | undefined;
  let lit = '';
  let quote: '' | "'" | '"' = '';

  const pushLit = (): void => {
    if (lit !== '') {
      (cur ??= []).push({ text: lit });
      lit = '';
    }
  };
  const endWord = (): void => {
    pushLit();
    if (cur) words.push(cur);
    cur = undefined;
  };

  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    const ph = placeholderAt(source, i);
    if (ph) {
      uses.add(ph);
      pushLit();
      (cur ??= []).push({ ph });
      // In the shell script the value must expand as exactly one word whatever the quoting around it.
      const ref = `\${${PH_INDEX[ph]}}`;
      script += quote === "'" ? `'"${ref}"'` : quote === '"' ? ref : `"${ref}"`;
      i += ph.length - 1;
      continue;
    }
    script += c;
    if (quote === "'") {
      if (c === "'") quote = '';
      else lit += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = '';
      else if (c === '\\' && i + 1 < source.length && '$`"\\\n'.includes(source[i + 1]!)) {
        lit += source[i + 1]!;
        script += source[i + 1]!;
        i++;
      } else {
        if (c === '$' || c === '`') needsShell = true;
        lit += c;
      }
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      cur ??= [];
    } else if (c === '\\') {
      if (i + 1 < source.length) {
        lit += source[i + 1]!;
        script += source[i + 1]!;
        i++;
      }
    } else if (c === ' ' || c === '\t') {
      endWord();
    } else if (c === '\n' || SHELL_OPERATOR.has(c) || c === '$' || c === '*' || c === '?' || c === '[' || c === '~' || c === '{' || c === '#' && cur === undefined) {
      // Anything the shell would interpret (operators, expansions, globs, comments): keep sh.
      needsShell = true;
      lit += c;
    } else {
      lit += c;
    }
  }
  if (quote !== '') {
    throw new ConfigError('EXEC_BAD_TEMPLATE', `unterminated ${quote === "'" ? 'single' : 'double'} quote in command template: ${source}`, where);
  }
  endWord();
  if (words.length === 0) throw new ConfigError('EXEC_BAD_TEMPLATE', 'empty command template', where);
  return Object.freeze({
    source,
    kind: needsShell ? 'shell' : 'argv',
    uses,
    words: Object.freeze(words.map((w) => Object.freeze(w))),
    script,
  });
}

const IPV4_CANON = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CANON = /^[0-9a-f:.]{2,45}$/;

/**
 * True when `s` could only be the printed form of a parsed address: digits and dots for IPv4, hex
 * digits, colons and (for a mapped IPv4 tail) dots for IPv6. Never true for text with spaces, quotes,
 * shell metacharacters or control characters.
 */
export function isCanonicalAddressText(s: string, family: 4 | 6): boolean {
  return family === 4 ? IPV4_CANON.test(s) : IPV6_CANON.test(s) && s.includes(':');
}

/** Returns the text for each placeholder, checking every value again. Throws ExecError EXEC_BAD_VALUE. */
export function placeholderValues(tpl: Pick<CommandTemplate, 'uses' | 'source'>, values: TemplateValues): Record<Placeholder, string> {
  const out: Record<Placeholder, string> = { $TARGET$: '', $PORT$: '', $MODE$: '' };
  const bad = (why: string): never => {
    throw new ExecError('EXEC_BAD_VALUE', `${why} (template: ${tpl.source})`, { argv: [] });
  };
  if (tpl.uses.has('$TARGET$')) {
    const t = values.target;
    if (!t) bad('$TARGET$ used but no target given');
    const s = String(t);
    if (!isCanonicalAddressText(s, t!.family)) bad(`target ${JSON.stringify(s)} is not a parsed address`);
    out.$TARGET$ = s;
  }
  if (tpl.uses.has('$PORT$')) {
    const p = values.port;
    if (p === undefined || !Number.isInteger(p) || p < 0 || p > 65535) bad(`port ${String(p)} is not an integer 0-65535`);
    out.$PORT$ = String(p);
  }
  if (tpl.uses.has('$MODE$')) {
    const m = values.mode;
    if (m === undefined || !(MODES as readonly string[]).includes(m)) bad(`mode ${String(m)} is not one of ${MODES.join(', ')}`);
    out.$MODE$ = m!;
  }
  return out;
}

/** What to run for a filled template: a file and its arguments, for execFile (no shell of ours). */
export interface FilledCommand {
  readonly file: string;
  readonly args: readonly string[];
  /** The command as an administrator would read it in a log line (the template with values filled). */
  readonly display: string;
}

/** Fills a parsed template. Throws ExecError EXEC_BAD_VALUE when a value does not pass its check. */
export function fillCommand(tpl: CommandTemplate, values: TemplateValues): FilledCommand {
  const v = placeholderValues(tpl, values);
  const display = fillText(tpl.source, v);
  if (tpl.kind === 'shell') {
    // sh -c SCRIPT NAME $1 $2 $3: the values are positional parameters, never script text.
    return { file: '/bin/sh', args: ['-c', tpl.script, 'trisentry-cmd', v.$TARGET$, v.$PORT$, v.$MODE$], display };
  }
  const argv = tpl.words.map((w) => w.map((p) => ('ph' in p ? v[p.ph] : p.text)).join(''));
  return { file: argv[0]!, args: argv.slice(1), display };
}

function fillText(source: string, v: Record<Placeholder, string>): string {
  let out = source;
  for (const p of PLACEHOLDERS) out = out.split(p).join(v[p]);
  return out;
}

/**
 * Fills a text template that is not a command (KILL_HOSTS_DENY's `ALL: $TARGET$ : DENY`). Values are
 * checked as for commands, so the line can never gain a newline or other outside text.
 */
export function fillTextTemplate(source: string, values: TemplateValues): string {
  const uses = new Set<Placeholder>(PLACEHOLDERS.filter((p) => source.includes(p)));
  return fillText(source, placeholderValues({ uses, source }, values));
}
