/**
 * POSIX extended regular expressions exactly as GNU `grep -E` reads them in the C locale (how
 * logcheck's rule files are applied), translated for RE2 (the `re2` package), which matches in time
 * linear in the line: log text is written by attackers, so no rule may backtrack on it.
 *
 * Strings are "byte strings": one char per byte (decode files as latin1). In the C locale grep
 * treats every byte as one character, so `.` or `[^x]` match one byte and `[[:alpha:]]` is ASCII.
 * RE2 in the package works on UTF-8, but as every char of a byte string is one code point the
 * meaning is the same.
 *
 * What RE2 cannot do exactly (back-references; `\<` `\>` where the next/previous character is not a
 * plain character or class) is matched in two steps: RE2 runs a superset of the pattern (a
 * back-reference replaced by a copy of its group, a word start/end by `\b`), and only when that
 * matches does a backtracking matcher with a hard budget of {@link EXACT_STEP_BUDGET} steps decide.
 * Over budget, the answer is `undefined` ("cannot tell"), and the caller decides what is safe.
 *
 * Pure: no I/O, no clock, no logging.
 */
import RE2 from 're2';
import { nativeBatch, type NativeBatch, type NativeSetHandle } from './native.js';

/** Why a pattern cannot be compiled; `offset` is the char index in the pattern where it was found. */
export class EreSyntaxError extends Error {
  /** Index into the pattern. */
  readonly offset: number;
  /** @param message grep's wording where there is one. */
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'EreSyntaxError';
    this.offset = offset;
  }
}

/** Steps the exact (backtracking) matcher may take for one line and one pattern before it gives up. */
export const EXACT_STEP_BUDGET = 200_000;

/** A character set over byte values 0..255 (`neg` also takes every char above 255). */
interface CharSet { readonly t: 'set'; readonly bits: Uint8Array; readonly neg: boolean }

/** Parsed ERE. `group` numbers count opening parentheses from 1, as grep's do. */
export type EreNode =
  | { readonly t: 'char'; readonly c: number }
  | CharSet
  | { readonly t: 'any' }
  | { readonly t: 'bol' | 'eol' | 'bot' | 'eot' | 'wordb' | 'nwordb' | 'wstart' | 'wend' }
  | { readonly t: 'group'; readonly n: number; readonly body: EreNode }
  | { readonly t: 'cat'; readonly items: readonly EreNode[] }
  | { readonly t: 'alt'; readonly items: readonly EreNode[] }
  | { readonly t: 'rep'; readonly min: number; readonly max: number; readonly body: EreNode }
  | { readonly t: 'backref'; readonly n: number };

/** One part of a bracket expression, in the order written (for {@link EreParseHooks}). */
export type BracketItem =
  | { readonly t: 'class'; readonly name: string }
  | { readonly t: 'char'; readonly c: number }
  | { readonly t: 'range'; readonly lo: number; readonly hi: number };

/**
 * How one pattern is read outside the C locale (utf8ctype.ts: glibc's UTF-8 locales). parseEre runs
 * over `text`, in which each character of the pattern above ASCII (or stray byte) is one unit at or
 * above 0x100, and these make the nodes of what it reads: nodes over the locale's matching alphabet
 * (see {@link EreCharset}), never `any` or a negated set, so the translation and the exact matcher
 * below serve both unchanged.
 */
export interface EreParseHooks {
  readonly text: string;
  /** A character written by itself or after a backslash (ASCII too: grep -i folds it here). */
  literal(u: number): EreNode;
  /** `.` */
  any(): EreNode;
  /** `\w` `\W` `\s` `\S`. */
  escape(e: 'w' | 'W' | 's' | 'S'): EreNode;
  /** A bracket expression starting at `offset`; throws EreSyntaxError where grep refuses it. */
  bracket(items: readonly BracketItem[], neg: boolean, offset: number): EreNode;
}

/**
 * A locale other than C as the matcher sees it: patterns are read through {@link parse}, and a line
 * is matched as its "matching text" (one char per character of the line, in the alphabet the
 * patterns were translated to; the line itself when it is ASCII). The C locale needs none of this.
 */
export interface EreCharset {
  /** How to read `pattern` (a byte string), `ignoreCase` as grep -i. */
  parse(pattern: string, ignoreCase: boolean): EreParseHooks;
  /** The matching text of `line` (a byte string). */
  matchText(line: string): string;
  /** For back-references: per char of matchText(line), which character of the line it stands for. */
  matchIds(line: string): Int32Array;
  /** Writes matchText(line) as UTF-8 into `bytes` from `pos` (room: 3 bytes a char of `line`); returns the end. */
  writeMatch(line: string, bytes: Uint8Array, pos: number): number;
}

/** grep's RE_DUP_MAX: a larger count in an interval is "Regular expression too big". */
const DUP_MAX = 0x7fff;
/** RE2's largest repetition count. */
const RE2_REPEAT_MAX = 1000;

function setOf(pred: (c: number) => boolean): Uint8Array {
  const b = new Uint8Array(256);
  for (let c = 0; c < 256; c++) if (pred(c)) b[c] = 1;
  return b;
}
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const isAlpha = (c: number): boolean => isUpper(c) || isLower(c);
const isAlnum = (c: number): boolean => isAlpha(c) || isDigit(c);
const isWord = (c: number): boolean => isAlnum(c) || c === 0x5f;
const isSpace = (c: number): boolean => c === 0x20 || (c >= 9 && c <= 13);

/** The C locale's character classes (glibc's "C"/"POSIX" ctype tables: ASCII only). */
const CLASSES: ReadonlyMap<string, (c: number) => boolean> = new Map([
  ['alpha', isAlpha],
  ['upper', isUpper],
  ['lower', isLower],
  ['digit', isDigit],
  ['alnum', isAlnum],
  ['xdigit', (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)],
  ['space', isSpace],
  ['blank', (c: number) => c === 0x20 || c === 9],
  ['punct', (c: number) => c >= 0x21 && c <= 0x7e && !isAlnum(c)],
  ['print', (c: number) => c >= 0x20 && c <= 0x7e],
  ['graph', (c: number) => c >= 0x21 && c <= 0x7e],
  ['cntrl', (c: number) => c < 0x20 || c === 0x7f],
]);
/** The C locale's class `name` (undefined for an unknown name): also the ASCII part of the UTF-8 locales' classes. */
export function cClass(name: string): ((c: number) => boolean) | undefined {
  return CLASSES.get(name);
}
const WORD_BITS = setOf(isWord);
const SPACE_BITS = setOf(isSpace);

/**
 * Parses `pattern` as GNU grep -E does; throws EreSyntaxError where grep reports an error. With
 * `hooks` (a locale other than C) `pattern` is `hooks.text` and the hooks make the character nodes.
 */
export function parseEre(pattern: string, hooks?: EreParseHooks): { readonly node: EreNode; readonly groups: number } {
  let i = 0;
  let groups = 0;
  const closed = new Set<number>();
  let depth = 0;
  const n = pattern.length;
  const code = (k: number): number => pattern.charCodeAt(k);

  // An interval `{n}`, `{n,}`, `{,m}`, `{n,m}`, `{,}` at i (pointing at `{`), or undefined when it is
  // not one, in which case grep -E reads the `{` as a literal (its documented traditional-egrep rule).
  function interval(): { min: number; max: number; end: number } | undefined {
    const m = /^\{([0-9]*)(,([0-9]*))?\}/.exec(pattern.slice(i, i + 24));
    if (m === null) return undefined;
    const lo = m[1] ?? '';
    const hasComma = m[2] !== undefined;
    const hi = m[3] ?? '';
    if (!hasComma && lo === '') return undefined;
    const min = lo === '' ? 0 : Number(lo);
    const max = hasComma ? (hi === '' ? Infinity : Number(hi)) : min;
    if (min > DUP_MAX || (max !== Infinity && max > DUP_MAX)) throw new EreSyntaxError('Regular expression too big', i);
    if (max < min) throw new EreSyntaxError('Invalid content of \\{\\}', i);
    return { min, max, end: i + m[0].length };
  }

  function bracket(): EreNode {
    const start = i;
    i++; // [
    let neg = false;
    if (i < n && code(i) === 0x5e) { neg = true; i++; }
    const bits = new Uint8Array(256);
    // Outside the C locale the hooks build the set from the parts as written.
    const items: BracketItem[] | undefined = hooks === undefined ? undefined : [];
    let first = true;
    const contentStart = i;
    for (;;) {
      if (i >= n) throw new EreSyntaxError('Unmatched [, [^, [:, [., or [=', start);
      let c = code(i);
      if (c === 0x5d && !first) { i++; break; }
      first = false;
      let lo: number | undefined;
      if (c === 0x5b && i + 1 < n && (code(i + 1) === 0x3a || code(i + 1) === 0x2e || code(i + 1) === 0x3d)) {
        const kind = pattern[i + 1]!;
        const close = pattern.indexOf(kind + ']', i + 2);
        if (close < 0) throw new EreSyntaxError('Unmatched [, [^, [:, [., or [=', start);
        const name = pattern.slice(i + 2, close);
        i = close + 2;
        if (kind === ':') {
          const pred = CLASSES.get(name);
          if (pred === undefined) throw new EreSyntaxError('Invalid character class name', start);
          for (let b = 0; b < 256; b++) if (pred(b)) bits[b] = 1;
          items?.push({ t: 'class', name });
          if (i + 1 < n && code(i) === 0x2d && code(i + 1) !== 0x5d) throw new EreSyntaxError('Invalid range end', start);
          continue;
        }
        // [.x.] and [=x=]: in the C locale only single characters exist.
        if (name.length !== 1) throw new EreSyntaxError('Invalid collation character', start);
        lo = name.charCodeAt(0);
      } else {
        lo = c;
        i++;
      }
      // A range, unless the `-` is the last thing before `]`.
      if (i + 1 < n && code(i) === 0x2d && code(i + 1) !== 0x5d) {
        i++;
        c = code(i);
        let hi: number;
        if (c === 0x5b && i + 1 < n && (code(i + 1) === 0x2e || code(i + 1) === 0x3d)) {
          const kind = pattern[i + 1]!;
          const close = pattern.indexOf(kind + ']', i + 2);
          if (close < 0 || close !== i + 3) throw new EreSyntaxError('Invalid range end', start);
          hi = code(i + 2);
          i = close + 2;
        } else if (c === 0x5b && i + 1 < n && code(i + 1) === 0x3a) {
          throw new EreSyntaxError('Invalid range end', start);
        } else {
          hi = c;
          i++;
        }
        // (A locale's order of characters is its hooks' to judge.)
        if (items === undefined && hi < lo) throw new EreSyntaxError('Invalid range end', start);
        for (let b = lo; b <= Math.min(hi, 255); b++) bits[b] = 1;
        items?.push({ t: 'range', lo, hi });
        continue;
      }
      if (lo < 256) bits[lo] = 1;
      items?.push({ t: 'char', c: lo });
    }
    const content = pattern.slice(contentStart, i - 1);
    // grep refuses `[:space:]` written without the outer brackets.
    if (!neg && content.length >= 2 && content.startsWith(':') && content.endsWith(':')) {
      throw new EreSyntaxError('character class syntax is [[:space:]], not [:space:]', start);
    }
    return items === undefined ? { t: 'set', bits, neg } : hooks!.bracket(items, neg, start);
  }

  function alt(): EreNode {
    const items = [cat()];
    while (i < n && code(i) === 0x7c) {
      i++;
      items.push(cat());
    }
    return items.length === 1 ? items[0]! : { t: 'alt', items };
  }

  function cat(): EreNode {
    const items: EreNode[] = [];
    for (;;) {
      if (i >= n) break;
      const c = code(i);
      if (c === 0x7c) break;
      if (c === 0x29 && depth > 0) break;
      // A repetition operator with nothing before it (start of the expression, after `(` or `|`)
      // is a no-op in GNU grep (it warns "* at start of expression" and goes on).
      if (items.length === 0 && (c === 0x2a || c === 0x2b || c === 0x3f)) { i++; continue; }
      if (items.length === 0 && c === 0x7b) {
        const iv = interval();
        if (iv !== undefined) { i = iv.end; continue; }
      }
      let atom = parseAtom();
      for (;;) {
        if (i >= n) break;
        const q = code(i);
        if (q === 0x2a) { atom = { t: 'rep', min: 0, max: Infinity, body: atom }; i++; }
        else if (q === 0x2b) { atom = { t: 'rep', min: 1, max: Infinity, body: atom }; i++; }
        else if (q === 0x3f) { atom = { t: 'rep', min: 0, max: 1, body: atom }; i++; }
        else if (q === 0x7b) {
          const iv = interval();
          if (iv === undefined) break;
          atom = { t: 'rep', min: iv.min, max: iv.max, body: atom };
          i = iv.end;
        } else break;
      }
      items.push(atom);
    }
    return items.length === 1 ? items[0]! : { t: 'cat', items };
  }

  function parseAtom(): EreNode {
    const c = code(i);
    switch (c) {
      case 0x28: { // (
        i++;
        const num = ++groups;
        depth++;
        const body = alt();
        if (i >= n) throw new EreSyntaxError('Unmatched ( or \\(', i);
        i++; // )
        depth--;
        closed.add(num);
        return { t: 'group', n: num, body };
      }
      case 0x5b: return bracket();
      case 0x2e: i++; return hooks === undefined ? { t: 'any' } : hooks.any();
      case 0x5e: i++; return { t: 'bol' };
      case 0x24: i++; return { t: 'eol' };
      case 0x5c: { // backslash
        if (i + 1 >= n) throw new EreSyntaxError('Trailing backslash', i);
        const e = code(i + 1);
        i += 2;
        switch (e) {
          case 0x3c: return { t: 'wstart' };
          case 0x3e: return { t: 'wend' };
          case 0x62: return { t: 'wordb' };
          case 0x42: return { t: 'nwordb' };
          case 0x60: return { t: 'bot' };
          case 0x27: return { t: 'eot' };
          case 0x77: return hooks === undefined ? { t: 'set', bits: WORD_BITS, neg: false } : hooks.escape('w');
          case 0x57: return hooks === undefined ? { t: 'set', bits: WORD_BITS, neg: true } : hooks.escape('W');
          case 0x73: return hooks === undefined ? { t: 'set', bits: SPACE_BITS, neg: false } : hooks.escape('s');
          case 0x53: return hooks === undefined ? { t: 'set', bits: SPACE_BITS, neg: true } : hooks.escape('S');
          default:
            if (e >= 0x31 && e <= 0x39) {
              const k = e - 0x30;
              if (!closed.has(k)) throw new EreSyntaxError('Invalid back reference', i - 2);
              return { t: 'backref', n: k };
            }
            // Any other escaped character stands for itself (grep 3.8 warns "stray \").
            return hooks === undefined ? { t: 'char', c: e } : hooks.literal(e);
        }
      }
      default:
        i++;
        return hooks === undefined ? { t: 'char', c } : hooks.literal(c);
    }
  }

  const node = alt();
  // A `)` with no `(` open is an ordinary character in grep -E; cat() only stops at one when depth > 0,
  // so reaching here with input left means an unreachable state.
  if (i < n) throw new EreSyntaxError('Unmatched ) or \\)', i);
  return { node, groups };
}

// ---------------------------------------------------------------------------------------------
// Translation to RE2

function hex(c: number): string {
  return `\\x{${c.toString(16)}}`;
}

function charToRe2(c: number): string {
  return isAlnum(c) ? String.fromCharCode(c) : hex(c);
}

function setToRe2(s: CharSet): string {
  let out = '';
  let c = 0;
  // 256 bits in the C locale; a UTF-8 locale's alphabet may be wider.
  const size = s.bits.length;
  while (c < size) {
    if (s.bits[c] !== 1) { c++; continue; }
    let e = c;
    while (e + 1 < size && s.bits[e + 1] === 1) e++;
    out += e === c ? hex(c) : `${hex(c)}-${hex(e)}`;
    c = e + 1;
  }
  if (s.neg) return out === '' ? '(?s:.)' : `[^${out}]`;
  // An empty positive set never matches.
  return out === '' ? '[^\\x{0}-\\x{10ffff}]' : `[${out}]`;
}

/** The set of chars a node consuming exactly one character can match, else undefined. */
function singleSet(node: EreNode): CharSet | undefined {
  switch (node.t) {
    case 'char': {
      const bits = new Uint8Array(Math.max(256, node.c + 1));
      bits[node.c] = 1;
      return { t: 'set', bits, neg: false };
    }
    case 'set': return node;
    case 'any': return { t: 'set', bits: new Uint8Array(256), neg: true };
    case 'group': return singleSet(node.body);
    default: return undefined;
  }
}

/** s ∩ word characters, as a positive set (word chars are all below 256). */
function intersectWord(s: CharSet): CharSet {
  const bits = new Uint8Array(256);
  for (let c = 0; c < 256; c++) if (WORD_BITS[c] === 1 && (s.bits[c] === 1) !== s.neg) bits[c] = 1;
  return { t: 'set', bits, neg: false };
}

function subsetOfWord(s: CharSet): boolean {
  if (s.neg) return false;
  for (let c = 0; c < s.bits.length; c++) if (s.bits[c] === 1 && WORD_BITS[c] !== 1) return false;
  return true;
}

const NEVER = '[^\\x{0}-\\x{10ffff}]';

interface Emit {
  /** The RE2 source (a superset of the pattern when `exact` is false). */
  src: string;
  exact: boolean;
}

function repToRe2(body: string, min: number, max: number): string {
  if (min > RE2_REPEAT_MAX || (max !== Infinity && max > RE2_REPEAT_MAX)) {
    throw new EreSyntaxError(`repetition count above ${RE2_REPEAT_MAX} (RE2's limit; grep allows up to ${DUP_MAX})`, 0);
  }
  const b = `(?:${body})`;
  if (min === 0 && max === Infinity) return `${b}*`;
  if (min === 1 && max === Infinity) return `${b}+`;
  if (min === 0 && max === 1) return `${b}?`;
  if (max === Infinity) return `${b}{${min},}`;
  return min === max ? `${b}{${min}}` : `${b}{${min},${max}}`;
}

function emit(node: EreNode, groupsByN: ReadonlyMap<number, EreNode>, out: Emit): string {
  switch (node.t) {
    case 'char': return charToRe2(node.c);
    case 'set': return setToRe2(node);
    case 'any': return '(?s:.)';
    case 'bol': return '^';
    case 'eol': return '$';
    case 'bot': return '\\A';
    case 'eot': return '\\z';
    case 'wordb': return '\\b';
    case 'nwordb': return '\\B';
    case 'wstart':
    case 'wend':
      // Reached only where the neighbour is not a plain character: \b is a superset.
      out.exact = false;
      return '\\b';
    case 'group': return `(?:${emit(node.body, groupsByN, out)})`;
    case 'alt': return node.items.map((x) => emit(x, groupsByN, out)).join('|');
    case 'rep': return repToRe2(emit(node.body, groupsByN, out), node.min, node.max);
    case 'backref': {
      // A copy of the group matches every text the back-reference can match (and more).
      out.exact = false;
      const g = groupsByN.get(node.n);
      return g === undefined ? NEVER : `(?:${emit(g, groupsByN, out)})`;
    }
    case 'cat': {
      const items = node.items;
      const parts: string[] = [];
      const skip = new Set<number>();
      for (let k = 0; k < items.length; k++) {
        if (skip.has(k)) continue;
        const it = items[k]!;
        if (it.t === 'wstart') {
          const nx = items[k + 1];
          if (nx === undefined || nx.t === 'eol' || nx.t === 'eot') {
            // Start of a word needs a word character after it: at the end nothing can follow.
            parts.push(nx === undefined && k === items.length - 1 ? '\\b' : NEVER);
            if (nx === undefined) out.exact = false;
            continue;
          }
          const s = singleSet(nx);
          if (s !== undefined) {
            parts.push('\\b', subsetOfWord(s) ? emit(nx, groupsByN, out) : setToRe2(intersectWord(s)));
            skip.add(k + 1);
            continue;
          }
          if (nx.t === 'rep' && nx.min >= 1) {
            const bs = singleSet(nx.body);
            if (bs !== undefined) {
              const body = emit(nx.body, groupsByN, out);
              parts.push('\\b', subsetOfWord(bs) ? body : setToRe2(intersectWord(bs)));
              if (nx.max - 1 > 0) parts.push(repToRe2(body, nx.min - 1, nx.max - 1));
              skip.add(k + 1);
              continue;
            }
          }
          parts.push(emit(it, groupsByN, out));
          continue;
        }
        if (it.t === 'wend') {
          const prevNode = items[k - 1];
          if (prevNode === undefined) {
            parts.push(k === 0 && items.length > 0 ? '\\b' : NEVER);
            out.exact = false;
            continue;
          }
          if (prevNode.t === 'bol' || prevNode.t === 'bot') { parts.push(NEVER); continue; }
          const s = singleSet(prevNode);
          if (s !== undefined && !skip.has(k - 1)) {
            parts.pop();
            parts.push(subsetOfWord(s) ? emit(prevNode, groupsByN, out) : setToRe2(intersectWord(s)), '\\b');
            continue;
          }
          if (prevNode.t === 'rep' && prevNode.min >= 1 && !skip.has(k - 1)) {
            const bs = singleSet(prevNode.body);
            if (bs !== undefined) {
              parts.pop();
              const body = emit(prevNode.body, groupsByN, out);
              if (prevNode.max - 1 > 0) parts.push(repToRe2(body, prevNode.min - 1, prevNode.max - 1));
              parts.push(subsetOfWord(bs) ? body : setToRe2(intersectWord(bs)), '\\b');
              continue;
            }
          }
          parts.push(emit(it, groupsByN, out));
          continue;
        }
        parts.push(emit(it, groupsByN, out));
      }
      return parts.join('');
    }
    default: {
      const never: never = node;
      throw new Error(`unreachable ${String(never)}`);
    }
  }
}

/** grep -i in the C locale: ASCII letters match either case (a back-reference too, approximately). */
function foldCase(node: EreNode): EreNode {
  switch (node.t) {
    case 'char': {
      if (!isAlpha(node.c)) return node;
      const bits = new Uint8Array(256);
      bits[node.c | 0x20] = 1;
      bits[node.c & ~0x20] = 1;
      return { t: 'set', bits, neg: false };
    }
    case 'set': {
      const bits = Uint8Array.from(node.bits);
      for (let c = 0x41; c <= 0x5a; c++) if (node.bits[c] === 1 || node.bits[c | 0x20] === 1) { bits[c] = 1; bits[c | 0x20] = 1; }
      return { t: 'set', bits, neg: node.neg };
    }
    case 'group': return { t: 'group', n: node.n, body: foldCase(node.body) };
    case 'cat': return { t: 'cat', items: node.items.map(foldCase) };
    case 'alt': return { t: 'alt', items: node.items.map(foldCase) };
    case 'rep': return { t: 'rep', min: node.min, max: node.max, body: foldCase(node.body) };
    default: return node;
  }
}

function collectGroups(node: EreNode, into: Map<number, EreNode>): void {
  switch (node.t) {
    case 'group': into.set(node.n, node.body); collectGroups(node.body, into); break;
    case 'cat': case 'alt': for (const x of node.items) collectGroups(x, into); break;
    case 'rep': collectGroups(node.body, into); break;
    default: break;
  }
}

/** The RE2 translation of one grep -E pattern. */
export interface EreTranslation {
  /** RE2 source; it matches exactly the lines grep -E matches when `exact`, else a superset. */
  readonly re2: string;
  /** False when a back-reference or an irregular `\<`/`\>` needs the budgeted exact matcher. */
  readonly exact: boolean;
  /** The parsed pattern (for the exact matcher). */
  readonly node: EreNode;
  /** Number of capturing groups. */
  readonly groups: number;
}

/**
 * Translates one grep -E pattern (a byte string) to RE2 syntax. Throws EreSyntaxError when grep
 * would reject it, or when it needs more than RE2 can (a repetition count above 1000). With
 * `charset`, as grep reads it in that locale: the translation then matches lines' matching text.
 */
export function translateEre(pattern: string, ignoreCase = false, charset?: EreCharset): EreTranslation {
  const hooks = charset?.parse(pattern, ignoreCase);
  const parsed = parseEre(hooks?.text ?? pattern, hooks);
  // A charset's hooks fold case themselves (before a negated set is complemented).
  const node = ignoreCase && hooks === undefined ? foldCase(parsed.node) : parsed.node;
  const groups = parsed.groups;
  const byN = new Map<number, EreNode>();
  collectGroups(node, byN);
  const out: Emit = { src: '', exact: true };
  const re2 = emit(node, byN, out);
  return { re2, exact: out.exact, node, groups };
}

// ---------------------------------------------------------------------------------------------
// Exact matcher for what RE2 cannot express: backtracking with a step budget.

class BudgetExceeded extends Error {}

/**
 * Whether `node` matches somewhere in `line` (grep's existence question), by exhaustive backtracking
 * limited to `budget` steps. Returns undefined when the budget runs out. `ids`: for a matching text
 * (see {@link EreCharset}), which character each char stands for, so a back-reference compares
 * characters, not their stand-ins.
 */
export function exactMatch(node: EreNode, groups: number, line: string, budget = EXACT_STEP_BUDGET, ids?: Int32Array): boolean | undefined {
  let steps = 0;
  const n = line.length;
  const capS = new Int32Array(groups + 1).fill(-1);
  const capE = new Int32Array(groups + 1).fill(-1);
  const word = (p: number): boolean => p >= 0 && p < n && isWord(line.charCodeAt(p));

  const inSet = (s: CharSet, c: number): boolean => (c < s.bits.length ? s.bits[c] === 1 : false) !== s.neg;
  const sameChars = (a: number, b: number, len: number): boolean => {
    if (ids === undefined) return line.slice(a, a + len) === line.slice(b, b + len);
    for (let j = 0; j < len; j++) if (ids[a + j] !== ids[b + j]) return false;
    return true;
  };

  // Continuation-passing: m(node, pos, k) is true when node matches at pos and k accepts the end.
  function m(nd: EreNode, p: number, k: (q: number) => boolean): boolean {
    if (++steps > budget) throw new BudgetExceeded();
    switch (nd.t) {
      case 'char': return p < n && line.charCodeAt(p) === nd.c && k(p + 1);
      case 'set': return p < n && inSet(nd, line.charCodeAt(p)) && k(p + 1);
      case 'any': return p < n && k(p + 1);
      case 'bol': case 'bot': return p === 0 && k(p);
      case 'eol': case 'eot': return p === n && k(p);
      case 'wordb': return word(p - 1) !== word(p) && k(p);
      case 'nwordb': return word(p - 1) === word(p) && k(p);
      case 'wstart': return !word(p - 1) && word(p) && k(p);
      case 'wend': return word(p - 1) && !word(p) && k(p);
      case 'group': {
        const os = capS[nd.n]!;
        const oe = capE[nd.n]!;
        const r = m(nd.body, p, (q) => {
          const ps = capS[nd.n]!;
          const pe = capE[nd.n]!;
          capS[nd.n] = p;
          capE[nd.n] = q;
          if (k(q)) return true;
          capS[nd.n] = ps;
          capE[nd.n] = pe;
          return false;
        });
        if (!r) { capS[nd.n] = os; capE[nd.n] = oe; }
        return r;
      }
      case 'cat': {
        const items = nd.items;
        const step = (idx: number, q: number): boolean => (idx === items.length ? k(q) : m(items[idx]!, q, (r) => step(idx + 1, r)));
        return step(0, p);
      }
      case 'alt':
        for (const it of nd.items) if (m(it, p, k)) return true;
        return false;
      case 'rep': {
        const rep = (count: number, q: number): boolean => {
          if (count < nd.max && m(nd.body, q, (r) => (r === q && count >= nd.min ? false : rep(count + 1, r)))) return true;
          return count >= nd.min && k(q);
        };
        return rep(0, p);
      }
      case 'backref': {
        const s = capS[nd.n]!;
        const e = capE[nd.n]!;
        if (s < 0) return false;
        const len = e - s;
        if (p + len > n || !sameChars(s, p, len)) return false;
        return k(p + len);
      }
      default: {
        const never: never = nd;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  try {
    for (let start = 0; start <= n; start++) {
      capS.fill(-1);
      capE.fill(-1);
      if (m(node, start, () => true)) return true;
    }
    return false;
  } catch (e) {
    // A very long line can exhaust the stack before the budget: the same "cannot tell".
    if (e instanceof BudgetExceeded || e instanceof RangeError) return undefined;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Compiled pattern lists (one rule file)

/** A pattern of a list that could not be compiled, by its index in the list. */
export interface EreListError {
  readonly index: number;
  readonly message: string;
}

/** Patterns per RE2.Set of a SharedEreSet: as many as possible (each set scans the line once; measured, 500-pattern chunks doubled the time), split only when RE2 refuses one. */
const SHARED_CHUNK = 4000;

/**
 * Lines as UTF-8 bytes in one buffer, each followed by `\n`: line k of the lines they were made from
 * is bytes[offs[k + shift], offs[k + shift + 1] - 1). The layout the pool's shared memory and the
 * native matcher read.
 */
export interface LineBytes {
  readonly bytes: Uint8Array;
  readonly offs: Uint32Array;
  readonly shift: number;
}

/**
 * Encodes lines[from..to) into `into` (grown as needed) in the {@link LineBytes} layout with
 * shift = -from. Buffer's utf8Write line by line: measured faster than encoding a joined string
 * (the join and the newline search cost more than the encoding); a lone surrogate becomes U+FFFD
 * as with TextEncoder. With `charset`, each line's matching text instead (see {@link writeLines}).
 */
export function encodeLines(lines: readonly string[], from: number, to: number, into?: { bytes: Buffer; offs: Uint32Array }, charset?: EreCharset): { bytes: Buffer; offs: Uint32Array; shift: number } {
  let chars = 0;
  for (let k = from; k < to; k++) chars += lines[k]!.length + 1;
  // One UTF-16 unit takes at most 3 UTF-8 bytes.
  let bytes = into?.bytes;
  if (bytes === undefined || bytes.length < chars * 3) bytes = Buffer.allocUnsafe(Math.max(chars * 3, 4096));
  let offs = into?.offs;
  if (offs === undefined || offs.length < to - from + 1) offs = new Uint32Array(to - from + 1);
  writeLines(lines, from, to, bytes, 0, offs, -from, charset);
  return { bytes, offs, shift: -from };
}

/**
 * Writes lines[from..to) as UTF-8 into `bytes` from `pos` on, each followed by `\n`, and their
 * offsets into offs[k + shift] (offs[to + shift] = the end); `bytes` must have room (3 bytes a char).
 * Returns the end. With `charset` (a UTF-8 locale), what is written is each line's matching text.
 */
export function writeLines(lines: readonly string[], from: number, to: number, bytes: Buffer, pos: number, offs: Uint32Array, shift: number, charset?: EreCharset): number {
  if (charset !== undefined) return writeMatchLines(lines, from, to, bytes, pos, offs, shift, charset);
  for (let k = from; k < to; k++) {
    offs[k + shift] = pos;
    pos += bytes.write(lines[k]!, pos, 'utf8');
    bytes[pos++] = 0x0a;
  }
  offs[to + shift] = pos;
  return pos;
}

/** {@link writeLines} with a charset: an ASCII line is its own matching text, so only the others are rewritten. */
function writeMatchLines(lines: readonly string[], from: number, to: number, bytes: Buffer, pos: number, offs: Uint32Array, shift: number, charset: EreCharset): number {
  for (let k = from; k < to; k++) {
    const l = lines[k]!;
    offs[k + shift] = pos;
    // A char above 0x7f takes two bytes, so the count tells whether the line was all ASCII.
    const w = bytes.write(l, pos, 'utf8');
    pos = w === l.length ? pos + w : charset.writeMatch(l, bytes, pos);
    bytes[pos++] = 0x0a;
  }
  offs[to + shift] = pos;
  return pos;
}

/** Lines per native call (its answers for a block fit a buffer reused from block to block). */
const NATIVE_BLOCK = 2048;

/**
 * One RE2.Set holding the patterns of many EreLists (every rule file of a rule tree), so a line is
 * scanned once for all of them instead of once per file: with Debian's database a line was tested
 * against ~40 per-file sets (~100 µs a line); one set of ~1,900 patterns answers in about a µs. The
 * answer for the last line is kept, and each EreList asks whether any of its own (contiguous) indexes
 * matched. Exact patterns come first; the RE2 supersets of the patterns that need the budgeted exact
 * matcher ({@link addSuperset}) follow them, so one native call per line answers for those too.
 * Add every pattern before the first match: the set is built then and frozen.
 */
export class SharedEreSet {
  private readonly srcs: string[] = [];
  private readonly supersets: string[] = [];
  private sets: { readonly set: InstanceType<typeof RE2.Set>; readonly offset: number }[] | undefined;
  /** The native matcher's compiled set: undefined until frozen, null when there is none. */
  private native: { readonly batch: NativeBatch; readonly set: NativeSetHandle } | null | undefined;
  private lastLine: string | undefined;
  // The last line's answer: indexes lastBuf[lastFrom..lastTo), ascending (a node-re2 array, or a
  // stretch of the native matcher's answer buffer).
  private lastBuf: ArrayLike<number> = [];
  private lastFrom = 0;
  private lastTo = 0;
  // The line's UTF-8 bytes, written here instead of handing RE2 the string: for a string node-re2
  // allocates a Buffer and converts on every call, which was two thirds of the per-line cost
  // (measured: 2.9 µs against 0.9 µs a line with Debian's database).
  private scratch = new Uint8Array(4096);
  private static readonly encoder = new TextEncoder();
  // The native matcher's answers for the current block.
  private starts = new Uint32Array(NATIVE_BLOCK + 1);
  private out = new Int32Array(0);
  // The native matcher's buffers for a line matched alone.
  private single: { buf: Uint8Array; readonly offs: Uint32Array; readonly starts: Uint32Array; readonly out: Int32Array } | undefined;

  /** Why the native matcher stopped answering mid-run, if it did. */
  problem: string | undefined;

  /**
   * `native`: use the native matcher when it is built (false: node-re2 alone, for comparing the two).
   * `charset`: a UTF-8 locale's, whose matching text a line given as a string is matched as (bytes
   * handed to {@link prime} and {@link primeEach} must already be it: see {@link writeLines}).
   */
  constructor(
    private readonly flags: string,
    private readonly useNative = true,
    private readonly charset?: EreCharset,
  ) {}

  /** Adds an exact pattern (already checked to compile alone); returns its index in the set. */
  add(src: string): number {
    if (this.sets !== undefined || this.native !== undefined) throw new Error('SharedEreSet: patterns added after the first match');
    this.srcs.push(src);
    return this.srcs.length - 1;
  }

  /**
   * Adds the RE2 superset of a pattern the exact matcher decides; returns a handle for
   * {@link supersetMatches}. Supersets are placed after every exact pattern when the set is built.
   */
  addSuperset(src: string): number {
    if (this.sets !== undefined || this.native !== undefined) throw new Error('SharedEreSet: patterns added after the first match');
    this.supersets.push(src);
    return this.supersets.length - 1;
  }

  /**
   * Builds the sets: chunks of patterns, each one RE2.Set. RE2 refuses a set whose automaton needs
   * more than maxMem, and a big local rule tree can get there; a chunk that does not compile is split
   * in two until it does (a single pattern always compiles: each was checked alone).
   */
  private build(): { readonly set: InstanceType<typeof RE2.Set>; readonly offset: number }[] {
    const all = [...this.srcs, ...this.supersets];
    const out: { set: InstanceType<typeof RE2.Set>; offset: number }[] = [];
    const add = (from: number, to: number): void => {
      if (to <= from) return;
      try {
        out.push({ set: new RE2.Set(all.slice(from, to), this.flags, { maxMem: 64 * 1024 * 1024 }), offset: from });
      } catch (e) {
        if (to - from === 1) throw e;
        const mid = (from + to) >> 1;
        add(from, mid);
        add(mid, to);
      }
    };
    for (let from = 0; from < all.length; from += SHARED_CHUNK) add(from, Math.min(all.length, from + SHARED_CHUNK));
    return out;
  }

  /**
   * The native matcher's set of every pattern, when the matcher is built and the set fits in one
   * automaton (else null: node-re2's chunked sets answer). A pattern it refuses is thrown, as
   * node-re2's build would (only a `trusted` compile gets that far with a bad pattern).
   */
  private buildNative(): { readonly batch: NativeBatch; readonly set: NativeSetHandle } | null {
    const batch = this.useNative ? nativeBatch() : undefined;
    const all = [...this.srcs, ...this.supersets];
    if (batch === undefined || all.length === 0) return null;
    try {
      return { batch, set: batch.compile(all, 256 * 1024 * 1024) };
    } catch {
      // Too big for one automaton, or a pattern the system's RE2 reads otherwise than node-re2's:
      // node-re2's sets answer (and throw, as before, for a pattern that is really bad).
      return null;
    }
  }

  /** `line` as UTF-8 bytes (what node-re2 would make of the string), in a reused buffer. */
  private utf8(line: string): Uint8Array {
    // One UTF-16 unit takes at most 3 UTF-8 bytes.
    if (this.scratch.length < line.length * 3) this.scratch = new Uint8Array(line.length * 3);
    if (this.charset !== undefined) return this.scratch.subarray(0, this.charset.writeMatch(line, this.scratch, 0));
    const { written } = SharedEreSet.encoder.encodeInto(line, this.scratch);
    return this.scratch.subarray(0, written);
  }

  /** Whether the native matcher answers for this set (it is built and took the patterns). */
  get usesNative(): boolean {
    this.freeze();
    return this.native !== null && this.native !== undefined;
  }

  /** Builds the automata now (else the first match does); no pattern may be added afterwards. */
  freeze(): void {
    if (this.native === undefined) this.native = this.buildNative();
    if (this.native === null) this.sets ??= this.build();
  }

  /**
   * Decides the answers of lines[from..to) (their bytes in `enc`) block by block: `each(k)` is
   * called for every k in order, with the set primed for lines[k] (as {@link prime} would), so
   * {@link matches}, {@link anyIn} and {@link supersetMatches} answer for it without matching again.
   * The native matcher answers a block per call; without it, node-re2 a line per call.
   */
  primeEach(lines: readonly string[], from: number, to: number, enc: LineBytes, each: (k: number) => void): void {
    this.freeze();
    const native = this.native;
    const { bytes, offs, shift } = enc;
    if (native === null || native === undefined) {
      for (let k = from; k < to; k++) {
        this.prime(lines[k]!, bytes.subarray(offs[k + shift]!, offs[k + shift + 1]! - 1));
        each(k);
      }
      return;
    }
    // Room for a block of ordinary answers, and always for one line matching every pattern.
    const total = this.srcs.length + this.supersets.length;
    if (this.out.length < total + NATIVE_BLOCK * 16) this.out = new Int32Array(total + NATIVE_BLOCK * 16);
    const { starts, out } = this;
    for (let k = from; k < to; ) {
      const end = Math.min(to, k + NATIVE_BLOCK);
      let done: number;
      try {
        done = native.batch.match(native.set, bytes, offs, k + shift, end + shift, starts, out);
      } catch (e) {
        // RE2 gave up on a line (its automaton out of memory): node-re2 answers from here on.
        this.problem ??= `native matcher: ${e instanceof Error ? e.message : String(e)}; matching went on through node-re2`;
        this.native = null;
        this.primeEach(lines, k, to, enc, each);
        return;
      }
      for (let j = 0; j < done; j++, k++) {
        this.lastLine = lines[k]!;
        this.lastBuf = out;
        this.lastFrom = starts[j]!;
        this.lastTo = starts[j + 1]!;
        each(k);
      }
    }
    this.lastLine = undefined;
  }

  /**
   * Matches `line` given as its UTF-8 bytes (`bytes` must be exactly what {@link encodeLines} or
   * TextEncoder makes of it): the answers of {@link matches}, {@link anyIn} and
   * {@link supersetMatches} for `line` then come from this one call.
   */
  prime(line: string, bytes: Uint8Array): void {
    this.setAnswer(this.matchBytes(bytes));
    this.lastLine = line;
  }

  private setAnswer(m: readonly number[]): void {
    this.lastBuf = m;
    this.lastFrom = 0;
    this.lastTo = m.length;
  }

  /** Sorted indexes of every pattern matching `line` (computed once per line). */
  matches(line: string): readonly number[] {
    if (line !== this.lastLine) {
      this.setAnswer(this.matchBytes(this.utf8(line)));
      this.lastLine = line;
    }
    const b = this.lastBuf;
    if (Array.isArray(b) && this.lastFrom === 0 && this.lastTo === b.length) return b as readonly number[];
    const m: number[] = [];
    for (let i = this.lastFrom; i < this.lastTo; i++) m.push(b[i]!);
    return m;
  }

  private matchBytes(bytes: Uint8Array): readonly number[] {
    if (this.native === undefined) this.freeze();
    const native = this.native;
    if (native !== null && native !== undefined) {
      // One line through the native matcher (lines outside a run: check, classify), in buffers of
      // its own (a block's answers may still be in use), grown as needed and kept.
      const one = (this.single ??= { buf: new Uint8Array(4096), offs: new Uint32Array(2), starts: new Uint32Array(2), out: new Int32Array(this.srcs.length + this.supersets.length) });
      if (one.buf.length < bytes.length + 1) one.buf = new Uint8Array(bytes.length + 1);
      one.buf.set(bytes);
      one.offs[1] = bytes.length + 1;
      native.batch.match(native.set, one.buf, one.offs, 0, 1, one.starts, one.out);
      return Array.from(one.out.subarray(0, one.starts[1]!));
    }
    const sets = (this.sets ??= this.build());
    const first = sets[0];
    // RE2.Set.match returns its indexes sorted.
    if (sets.length === 1 && first !== undefined) return first.set.match(bytes);
    // Chunks are in ascending index order and each answer is sorted, so the concatenation is too.
    const m: number[] = [];
    for (const { set, offset } of sets) for (const k of set.match(bytes)) m.push(k + offset);
    return m;
  }

  /** Whether a pattern with index in [from, to) matches `line`. */
  anyIn(line: string, from: number, to: number): boolean {
    if (line !== this.lastLine) this.matches(line);
    const m = this.lastBuf;
    let lo = this.lastFrom;
    let hi = this.lastTo;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (m[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.lastTo && m[lo]! < to;
  }

  /**
   * Where the answer for the line just primed ({@link primeEach}, {@link prime}) lies against the
   * index range [from, to): 0 when no pattern matched at all, 1 when every match is inside it, 2
   * when some match is outside.
   */
  primedWithin(from: number, to: number): 0 | 1 | 2 {
    if (this.lastTo === this.lastFrom) return 0;
    return this.lastBuf[this.lastFrom]! >= from && this.lastBuf[this.lastTo - 1]! < to ? 1 : 2;
  }

  /** Whether the superset with handle `h` (from {@link addSuperset}) matches `line`. */
  supersetMatches(line: string, h: number): boolean {
    const at = this.srcs.length + h;
    return this.anyIn(line, at, at + 1);
  }
}

/**
 * Many grep -E patterns tested together, as `grep -E -f FILE` does: a line matches when any pattern
 * matches. The exact patterns share one RE2.Set (one pass over the line); the rest each have an RE2
 * superset and the budgeted exact matcher.
 */
export class EreList {
  /** Patterns that failed to compile (they never match). */
  readonly errors: readonly EreListError[];
  private readonly set: InstanceType<typeof RE2.Set> | undefined;
  /** Index into the original list of each pattern in `set`. */
  private readonly setIndex: readonly number[];
  private readonly inexact: readonly { readonly index: number; readonly re: RE2; readonly t: EreTranslation; readonly superset: number }[];
  private readonly shared: SharedEreSet | undefined;
  private sharedFrom = 0;
  private readonly charset: EreCharset | undefined;

  /**
   * Compiles every pattern; never throws for a bad pattern (see `errors`). With `shared`, the exact
   * patterns go into that common set instead of one of this list's own. `trusted` skips compiling
   * each exact pattern alone (the check that pins a bad one to its line): then a bad pattern makes
   * the set fail to build instead. `charset`: read and match as in that locale (C without); a
   * `shared` set must have the same.
   */
  constructor(patterns: readonly string[], ignoreCase = false, shared?: SharedEreSet, trusted = false, charset?: EreCharset) {
    const errors: EreListError[] = [];
    const srcs: string[] = [];
    const setIndex: number[] = [];
    const inexact: { index: number; re: RE2; t: EreTranslation; superset: number }[] = [];
    patterns.forEach((p, index) => {
      try {
        const t = translateEre(p, ignoreCase, charset);
        if (t.exact) {
          // Compile alone first so one bad translation is pinned to its own line (unless the caller
          // knows every pattern compiled before: a second compile of the same tree, in a worker).
          if (!trusted) void new RE2(t.re2, 'u');
          srcs.push(t.re2);
          setIndex.push(index);
        } else {
          const re = new RE2(t.re2, 'u');
          inexact.push({ index, re, t, superset: shared === undefined ? -1 : shared.addSuperset(t.re2) });
        }
      } catch (e) {
        errors.push({ index, message: e instanceof Error ? e.message : String(e) });
      }
    });
    this.errors = errors;
    this.charset = charset;
    this.setIndex = setIndex;
    this.inexact = inexact;
    this.shared = shared;
    if (shared !== undefined) {
      srcs.forEach((src, k) => {
        const at = shared.add(src);
        if (k === 0) this.sharedFrom = at;
      });
      this.set = undefined;
    } else {
      // A large maxMem keeps RE2's DFA from running out of room on big rule files.
      this.set = srcs.length === 0 ? undefined : new RE2.Set(srcs, 'u', { maxMem: 256 * 1024 * 1024 });
    }
  }

  /** [from, to) of this list's exact patterns in the shared set, or undefined without one. */
  get sharedRange(): readonly [number, number] | undefined {
    return this.shared === undefined ? undefined : [this.sharedFrom, this.sharedFrom + this.setIndex.length];
  }

  /** The shared set this list's exact patterns are in, if any. */
  get sharedSet(): SharedEreSet | undefined {
    return this.shared;
  }

  /** Whether some pattern needs the budgeted exact matcher (back-references and the like). */
  get hasInexact(): boolean {
    return this.inexact.length > 0;
  }

  /** Whether the RE2 superset of an inexact pattern matches (from the shared set's answer when there is one). */
  private supersetTest(x: { readonly re: RE2; readonly superset: number }, line: string): boolean {
    return this.shared !== undefined ? this.shared.supersetMatches(line, x.superset) : x.re.test(this.text(line));
  }

  private exactTest(line: string): boolean {
    if (this.shared !== undefined) return this.setIndex.length > 0 && this.shared.anyIn(line, this.sharedFrom, this.sharedFrom + this.setIndex.length);
    return this.set?.test(this.text(line)) === true;
  }

  private exactMatching(line: string): number[] {
    if (this.shared !== undefined) {
      const from = this.sharedFrom;
      const to = from + this.setIndex.length;
      if (to === from || !this.shared.anyIn(line, from, to)) return [];
      return this.shared
        .matches(line)
        .filter((k) => k >= from && k < to)
        .map((k) => this.setIndex[k - from]!);
    }
    return this.set === undefined ? [] : this.set.match(this.text(line)).map((k) => this.setIndex[k]!);
  }

  /** What this list's own RE2 objects and the exact matcher read for `line`: its matching text. */
  private text(line: string): string {
    return this.charset === undefined ? line : this.charset.matchText(line);
  }

  /** The budgeted exact matcher on `line` (on its matching text, comparing characters for back-references). */
  private exact(x: { readonly t: EreTranslation }, line: string): boolean | undefined {
    if (this.charset === undefined) return exactMatch(x.t.node, x.t.groups, line);
    return exactMatch(x.t.node, x.t.groups, this.charset.matchText(line), EXACT_STEP_BUDGET, this.charset.matchIds(line));
  }

  /**
   * Whether any pattern matches `line`: true, false, or undefined when only a pattern whose exact
   * matcher ran out of budget could have matched.
   */
  test(line: string): boolean | undefined {
    if (this.exactTest(line)) return true;
    return this.testInexact(line);
  }

  /**
   * Whether a pattern needing the budgeted exact matcher matches `line` (true, false, or undefined
   * when one ran out of budget); the exact patterns are not consulted.
   */
  testInexact(line: string): boolean | undefined {
    let unsure = false;
    for (const x of this.inexact) {
      if (!this.supersetTest(x, line)) continue;
      const r = this.exact(x, line);
      if (r === true) return true;
      if (r === undefined) unsure = true;
    }
    return unsure ? undefined : false;
  }

  /** Indexes (into the constructor's list, ascending) of every pattern that matches `line` for sure. */
  matching(line: string): number[] {
    const out: number[] = this.exactMatching(line);
    for (const x of this.inexact) {
      if (this.supersetTest(x, line) && this.exact(x, line) === true) out.push(x.index);
    }
    return out.sort((a, b) => a - b);
  }
}
