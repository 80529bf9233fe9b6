/**
 * logcheck's grep -E and sed run under a UTF-8 locale (LC_ALL=C.UTF-8 or en_US.UTF-8; config
 * rules.locale), for the rules core, which otherwise works on byte strings as the C locale does.
 * What a UTF-8 locale changes, measured against GNU grep 3.8 and glibc 2.36:
 *
 * - Characters. grep decodes the bytes as UTF-8. A valid shortest-form sequence of a scalar value
 *   (U+0000..U+10FFFF, no surrogates) is one character, in the classes of glibc's tables
 *   (utf8ctype-data.ts). The old 4-6 byte forms of values above U+10FFFF are characters of no class:
 *   `.` does not match them, a negated bracket, `\S` and `\W` do. Every other byte is an encoding
 *   error, which only the same raw byte written in a pattern (outside brackets) matches: not `.`, no
 *   bracket (negated ones included), not `\S` or `\W`.
 * - Matching, by transliteration. RE2 knows neither glibc's classes nor grep's view of bad bytes, so
 *   a line with a byte above 0x7f is matched as its "matching text": each character replaced by the
 *   stand-in of its element (the characters no pattern of the rule tree can tell apart), each bad
 *   byte by an error stand-in. Patterns are translated over the same alphabet: ASCII as itself, then
 *   one stand-in per class signature (the 12 POSIX classes; under en_US.UTF-8 also membership of its
 *   [a-z] [A-Z] [a-f] [A-F]), one for above U+10FFFF, one per non-ASCII character written in a rule
 *   (so a literal stays exact) and one per raw byte written in a rule (so it matches only itself),
 *   and one for every other bad byte. An ASCII line is its own matching text: the fast path.
 * - Ranges. Outside the C locale grep hands a range to glibc's regex, which orders by collation.
 *   C.UTF-8's ranges are code point ranges, and one with a non-ASCII end is "Invalid collation
 *   character" (grep fails the whole rule file). en_US.UTF-8's [a-z] has 1,367 members (é, ß, ª...):
 *   those four ranges and ranges of digits (ASCII only) are modelled, any other range is refused
 *   (the rule is left out with a problem) rather than guessed: `[ -~]` there does not even hold `a`.
 * - sed's `s/[[:space:]]\+$//` also strips the 15 spaces above ASCII (U+3000, U+2000..U+200A...).
 *
 * The sort is the adapters' (locale.ts): byte order under C.UTF-8 as in C, the system's sort under
 * en_US.UTF-8. Not modelled (see README, Locale): `\b` `\<` `\>` with non-ASCII neighbours (grep
 * counts letters and bad bytes as word characters, RE2 only ASCII), a raw continuation byte in a rule
 * matching inside a character, equivalence classes ([=e=]), the [0-9] quirk of glibc's regex in some
 * en_US patterns, other locales' collation.
 *
 * Pure: no I/O, no clock, no logging.
 */
import { cClass, EreSyntaxError, type BracketItem, type EreCharset, type EreNode, type EreParseHooks } from './ere.js';
import { RUNS, SIGNATURE_BITS, SIGNATURES } from './utf8ctype-data.js';

/** The locales logsentry matches as: C (bytes), or grep/sed/sort under LC_ALL=C.UTF-8 or en_US.UTF-8. */
export type MatchLocale = 'C' | 'C.UTF-8' | 'en_US.UTF-8';

/** Signature bit of a class or of an en_US range (`range:a-z`). */
function bit(name: (typeof SIGNATURE_BITS)[number]): number {
  return 1 << SIGNATURE_BITS.indexOf(name);
}
// The twelve classes are the low bits (cntrl the last), en_US's ranges the ones above.
const CTYPE_BITS = bit('cntrl') * 2 - 1;
const SPACE = bit('space');
const ALNUM = bit('alnum');

// The signature number (into SIGNATURES) of every code point, built once per process from the runs.
let sigNumbers: Uint8Array | undefined;
function sigNumberTable(): Uint8Array {
  if (sigNumbers !== undefined) return sigNumbers;
  if (SIGNATURES.length > 256) throw new Error('utf8ctype-data: more signatures than a byte numbers');
  const t = new Uint8Array(0x110000);
  let cp = 0x80;
  for (const run of RUNS.split(' ')) {
    const dot = run.indexOf('.');
    const len = parseInt(run.slice(0, dot), 36);
    t.fill(parseInt(run.slice(dot + 1), 36), cp, cp + len);
    cp += len;
  }
  if (cp !== 0x110000) throw new Error('utf8ctype-data: the runs do not cover U+0080..U+10FFFF');
  sigNumbers = t;
  return t;
}

/** The signature (class bits, see utf8ctype-data.ts) of a code point above ASCII. */
export function signatureOf(cp: number): number {
  return SIGNATURES[sigNumberTable()[cp]!]!;
}

// ---------------------------------------------------------------------------------------------
// Decoding as glibc's mbrtowc does for grep: one unit of a byte string at a time.

/** A decoded unit above U+10FFFF (the 4-6 byte forms grep takes as characters of no class). */
const BEYOND = -1;
/** A byte that is not part of a valid sequence. */
const BAD = -2;
// The unit decodeAt read: its length in bytes, and the value of a BEYOND unit.
let unitLen = 1;
let beyondValue = 0;

/**
 * The unit of byte string `s` at `i` (whose char there is at or above 0x80): a code point, BEYOND or
 * BAD; its length is left in unitLen (1 for BAD: decoding goes on at the next byte, as grep's does).
 */
function decodeAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  let n: number;
  let cp: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf7) { n = 3; cp = c & 0x07; min = 0x10000; }
  else if (c >= 0xf8 && c <= 0xfb) { n = 4; cp = c & 0x03; min = 0x200000; }
  else if (c >= 0xfc && c <= 0xfd) { n = 5; cp = c & 0x01; min = 0x4000000; }
  else { unitLen = 1; return BAD; }
  // A truncated sequence is a bad lead byte.
  if (i + n >= s.length) { unitLen = 1; return BAD; }
  for (let j = 1; j <= n; j++) {
    const d = s.charCodeAt(i + j);
    if ((d & 0xc0) !== 0x80 || d > 0xff) { unitLen = 1; return BAD; }
    // Multiplying: a 6-byte form needs 31 bits, past what a shift keeps positive.
    cp = cp * 64 + (d & 0x3f);
  }
  if (cp < min || (cp >= 0xd800 && cp <= 0xdfff)) { unitLen = 1; return BAD; }
  unitLen = n + 1;
  if (cp > 0x10ffff) { beyondValue = cp; return BEYOND; }
  return cp;
}

/** The single code point `s` is, or undefined (for case variants). */
function onlyCodePoint(s: string): number | undefined {
  const cp = s.codePointAt(0);
  return cp !== undefined && s.length === (cp > 0xffff ? 2 : 1) ? cp : undefined;
}

/** Other-case forms of `cp` (JavaScript's simple case mapping, for grep -i), each one code point. */
function caseVariants(cp: number): number[] {
  const ch = String.fromCodePoint(cp);
  const out: number[] = [];
  for (const v of [onlyCodePoint(ch.toUpperCase()), onlyCodePoint(ch.toLowerCase())]) if (v !== undefined && v !== cp && !out.includes(v)) out.push(v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The matching alphabet

/** First stand-in: element k of an alphabet stands in the matching text as char STANDIN + k. */
const STANDIN = 0x80;

/** A set of characters no pattern of the tree can tell apart. */
interface Element {
  /** `chars`: code points (one signature's, or one literal); `beyond`: above U+10FFFF; `bad`: bad bytes. */
  readonly kind: 'chars' | 'beyond' | 'bad';
  /** Class bits (chars only). */
  readonly sig: number;
  /** The code point of a literal's element, else -1. */
  readonly cp: number;
}

/** A pattern's character above ASCII as parseEre sees it: unit 0x100 + k is atom k. */
type Atom = { readonly t: 'cp'; readonly cp: number } | { readonly t: 'byte'; readonly b: number } | { readonly t: 'beyond' };
const UNIT = 0x100;

/**
 * The matching alphabet of one rule tree under a UTF-8 locale, and the {@link EreCharset} that
 * reads its patterns and writes lines' matching texts with it. Build it with {@link forRules} from
 * every rule text of the tree (the literals written in them each get their own element).
 */
export class Utf8Charset implements EreCharset {
  /** Bits of a set over this alphabet (ASCII, then one stand-in per element). */
  readonly size: number;
  private readonly elements: readonly Element[];
  /** Element of each signature number's characters (literals aside). */
  private readonly bySig: Int32Array;
  /** Element of each literal code point. */
  private readonly literals: ReadonlyMap<number, number>;
  /** Element of each bad byte value (a raw byte written in a rule has its own). */
  private readonly badByte: Int32Array;
  private readonly beyond: number;
  private readonly enUS: boolean;
  // The last line's matching text and ids (one line is asked about many times).
  private lastLine: string | undefined;
  private lastText = '';
  private idsLine: string | undefined;
  private lastIds = new Int32Array(0);
  private codes = new Uint16Array(256);

  /**
   * The alphabet for `locale` and a rule tree whose files hold `texts` (byte strings; every line of
   * every file may be passed, comments too: an extra literal only splits an element).
   */
  static forRules(locale: 'C.UTF-8' | 'en_US.UTF-8', texts: readonly string[]): Utf8Charset {
    const literals = new Set<number>();
    const bytes = new Set<number>();
    for (const t of texts) {
      for (let i = 0; i < t.length; ) {
        if (t.charCodeAt(i) < 0x80) { i++; continue; }
        const u = decodeAt(t, i);
        if (u === BAD) bytes.add(t.charCodeAt(i));
        else if (u !== BEYOND) {
          literals.add(u);
          // grep -i (Psionic's alert files) matches a literal's other case too.
          for (const v of caseVariants(u)) if (v >= 0x80) literals.add(v);
        }
        i += unitLen;
      }
    }
    return new Utf8Charset(locale, [...literals].sort((a, b) => a - b), [...bytes].sort((a, b) => a - b));
  }

  private constructor(readonly locale: 'C.UTF-8' | 'en_US.UTF-8', literals: readonly number[], rawBytes: readonly number[]) {
    this.enUS = locale === 'en_US.UTF-8';
    // C.UTF-8's ranges are code point ranges: the en_US membership bits mean nothing there.
    const mask = this.enUS ? 0xffff : CTYPE_BITS;
    const elements: Element[] = [];
    const bySig = new Int32Array(SIGNATURES.length);
    const seen = new Map<number, number>();
    SIGNATURES.forEach((s, k) => {
      const sig = s & mask;
      let e = seen.get(sig);
      if (e === undefined) {
        e = elements.push({ kind: 'chars', sig, cp: -1 }) - 1;
        seen.set(sig, e);
      }
      bySig[k] = e;
    });
    this.beyond = elements.push({ kind: 'beyond', sig: 0, cp: -1 }) - 1;
    const bad = elements.push({ kind: 'bad', sig: 0, cp: -1 }) - 1;
    this.badByte = new Int32Array(256).fill(bad);
    for (const b of rawBytes) this.badByte[b] = elements.push({ kind: 'bad', sig: 0, cp: -1 }) - 1;
    const lit = new Map<number, number>();
    for (const cp of literals) lit.set(cp, elements.push({ kind: 'chars', sig: signatureOf(cp) & mask, cp }) - 1);
    // Stand-ins stay below the surrogates (each is one UTF-16 unit, at most 3 UTF-8 bytes).
    if (STANDIN + elements.length > 0xd800) throw new Error(`rules.locale ${locale}: the rules write more than ${0xd800 - STANDIN - 30} different characters above ASCII`);
    this.elements = elements;
    this.bySig = bySig;
    this.literals = lit;
    this.size = STANDIN + elements.length;
  }

  /** Element of code point `cp` (above ASCII, at most U+10FFFF). */
  private elementOf(cp: number): number {
    if (this.literals.size !== 0) {
      const e = this.literals.get(cp);
      if (e !== undefined) return e;
    }
    return this.bySig[sigNumberTable()[cp]!]!;
  }

  /** Stand-in (or ASCII char) of the unit of `line` at `i`, whose char is at or above 0x80; its length in unitLen. */
  private standInAt(line: string, i: number): number {
    const u = decodeAt(line, i);
    if (u >= 0) return STANDIN + this.elementOf(u);
    return STANDIN + (u === BEYOND ? this.beyond : this.badByte[line.charCodeAt(i) & 0xff]!);
  }

  /** The matching text of `line` (a byte string): the line itself when it is ASCII. */
  matchText(line: string): string {
    if (line === this.lastLine) return this.lastText;
    const n = line.length;
    let i = 0;
    while (i < n && line.charCodeAt(i) < 0x80) i++;
    let text = line;
    if (i < n) {
      if (this.codes.length < n) this.codes = new Uint16Array(n);
      const codes = this.codes;
      let o = 0;
      for (let j = 0; j < i; j++) codes[o++] = line.charCodeAt(j);
      while (i < n) {
        const c = line.charCodeAt(i);
        if (c < 0x80) {
          codes[o++] = c;
          i++;
        } else {
          codes[o++] = this.standInAt(line, i);
          i += unitLen;
        }
      }
      text = '';
      // In slices: String.fromCharCode takes its codes as arguments.
      for (let j = 0; j < o; j += 8192) text += String.fromCharCode(...codes.subarray(j, Math.min(o, j + 8192)));
    }
    this.lastLine = line;
    this.lastText = text;
    return text;
  }

  /**
   * Per char of matchText(line), the character it stands for: the code point, the value above
   * U+10FFFF, or -1 - the byte for a bad byte (back-references compare these).
   */
  matchIds(line: string): Int32Array {
    if (line === this.idsLine) return this.lastIds;
    const ids = new Int32Array(line.length);
    let o = 0;
    for (let i = 0; i < line.length; ) {
      const c = line.charCodeAt(i);
      if (c < 0x80) {
        ids[o++] = c;
        i++;
        continue;
      }
      const u = decodeAt(line, i);
      ids[o++] = u >= 0 ? u : u === BEYOND ? beyondValue : -1 - (c & 0xff);
      i += unitLen;
    }
    this.idsLine = line;
    this.lastIds = ids.subarray(0, o);
    return this.lastIds;
  }

  /** Writes matchText(line) as UTF-8 into `bytes` from `pos`; returns the end. */
  writeMatch(line: string, bytes: Uint8Array, pos: number): number {
    const n = line.length;
    for (let i = 0; i < n; ) {
      const c = line.charCodeAt(i);
      if (c < 0x80) {
        bytes[pos++] = c;
        i++;
        continue;
      }
      const s = this.standInAt(line, i);
      i += unitLen;
      // A stand-in below U+0800 takes 2 bytes, no more than the byte it replaces took; the widest
      // alphabet takes 3, still within the 3 bytes a char the callers make room for.
      if (s < 0x800) {
        bytes[pos++] = 0xc0 | (s >> 6);
        bytes[pos++] = 0x80 | (s & 0x3f);
      } else {
        bytes[pos++] = 0xe0 | (s >> 12);
        bytes[pos++] = 0x80 | ((s >> 6) & 0x3f);
        bytes[pos++] = 0x80 | (s & 0x3f);
      }
    }
    return pos;
  }

  /**
   * logcheck's `sed -e 's/[[:space:]]\+$//'` in this locale: trailing ASCII white space and the
   * spaces above ASCII (valid sequences of a space-class character) removed. A bad byte stops it,
   * as sed keeps bad bytes; the spaces after one still go.
   */
  readonly trimTrailingSpace = (l: string): string => {
    let e = l.length;
    for (;;) {
      const c = l.charCodeAt(e - 1);
      if (e > 0 && (c === 0x20 || (c >= 0x09 && c <= 0x0d))) {
        e--;
        continue;
      }
      // A sequence ending here: its lead byte can only start a character (no lead byte is a
      // continuation), so when it decodes to exactly these bytes, sed saw that character.
      if (c >= 0x80 && c <= 0xbf) {
        let k = e - 2;
        while (k >= 0 && e - k <= 4 && (l.charCodeAt(k) & 0xc0) === 0x80) k--;
        if (k >= 0 && e - k <= 4) {
          const u = decodeAt(l, k);
          if (u >= 0 && k + unitLen === e && (signatureOf(u) & SPACE) !== 0) {
            e = k;
            continue;
          }
        }
      }
      break;
    }
    return e === l.length ? l : l.slice(0, e);
  };

  /** Whether cleanrules drops this rule line as blank (`^[[:space:]]*$` in this locale). */
  isBlank(l: string): boolean {
    return this.trimTrailingSpace(l) === '';
  }

  /** Reads one pattern (a byte string) in this locale; see {@link EreParseHooks}. */
  parse(pattern: string, ignoreCase: boolean): EreParseHooks {
    const atoms: Atom[] = [];
    let text = '';
    for (let i = 0; i < pattern.length; ) {
      const c = pattern.charCodeAt(i);
      if (c < 0x80) {
        text += pattern[i];
        i++;
        continue;
      }
      const u = decodeAt(pattern, i);
      atoms.push(u >= 0 ? { t: 'cp', cp: u } : u === BEYOND ? { t: 'beyond' } : { t: 'byte', b: c & 0xff });
      text += String.fromCharCode(UNIT + atoms.length - 1);
      i += unitLen;
    }
    return new PatternHooks(this, text, atoms, ignoreCase);
  }

  /** @internal for PatternHooks: a set over this alphabet. */
  newSet(): Uint8Array {
    return new Uint8Array(this.size);
  }

  /** @internal for PatternHooks: the stand-in of a literal code point (one the alphabet was built with). */
  literal(cp: number): number {
    const e = this.literals.get(cp);
    // Every literal of the tree has its own element; a pattern read without its text in forRules would silently match its whole class.
    if (e === undefined) throw new Error(`rules.locale ${this.locale}: U+${cp.toString(16).toUpperCase()} is not in the rule texts this charset was built from`);
    return STANDIN + e;
  }

  /** @internal for PatternHooks: the stand-in of a raw byte written in a rule. */
  rawByte(b: number): number {
    return STANDIN + this.badByte[b]!;
  }

  /** @internal for PatternHooks: the stand-in of every character above U+10FFFF. */
  get beyondStandIn(): number {
    return STANDIN + this.beyond;
  }

  /** @internal for PatternHooks: adds to `set` every element of characters whose signature has any of `bits`. */
  addSig(set: Uint8Array, bits: number): void {
    this.elements.forEach((el, k) => {
      if (el.kind === 'chars' && (el.sig & bits) !== 0) set[STANDIN + k] = 1;
    });
  }

  /** @internal for PatternHooks: adds every character element (what `.` matches above ASCII). */
  addAllChars(set: Uint8Array): void {
    this.elements.forEach((el, k) => {
      if (el.kind === 'chars') set[STANDIN + k] = 1;
    });
  }

  /** @internal for PatternHooks: the complement of `set` a negated bracket matches: never a bad byte, and characters above U+10FFFF too. */
  complement(set: Uint8Array): Uint8Array {
    const out = this.newSet();
    for (let c = 0; c < STANDIN; c++) out[c] = set[c] === 1 ? 0 : 1;
    this.elements.forEach((el, k) => {
      if (el.kind !== 'bad') out[STANDIN + k] = set[STANDIN + k] === 1 ? 0 : 1;
    });
    return out;
  }

  /** @internal whether en_US.UTF-8's collation ranges apply. */
  get collationRanges(): boolean {
    return this.enUS;
  }
}

/** The en_US.UTF-8 ranges with members above ASCII in the tables; `[0-9]`-like digit ranges are ASCII only. */
const EN_US_RANGES: ReadonlyMap<string, number> = new Map(
  SIGNATURE_BITS.filter((n) => n.startsWith('range:')).map((n) => [n.slice('range:'.length), bit(n)] as const),
);
/** The range with the other case's letters, for grep -i. */
const OTHER_CASE: ReadonlyMap<string, string> = new Map([
  ['a-z', 'A-Z'],
  ['A-Z', 'a-z'],
  ['a-f', 'A-F'],
  ['A-F', 'a-f'],
]);

/** How one pattern is read (see Utf8Charset.parse). */
class PatternHooks implements EreParseHooks {
  constructor(
    private readonly cs: Utf8Charset,
    readonly text: string,
    private readonly atoms: readonly Atom[],
    private readonly ignoreCase: boolean,
  ) {}

  private atom(u: number): Atom | undefined {
    return u >= UNIT ? this.atoms[u - UNIT] : undefined;
  }

  private set(bits: Uint8Array): EreNode {
    return { t: 'set', bits, neg: false };
  }

  /** Adds character unit `u` (and with -i its other case) to `set`. */
  private addChar(set: Uint8Array, u: number): void {
    const a = this.atom(u);
    if (a === undefined) {
      set[u] = 1;
      if (this.ignoreCase && ((u >= 0x41 && u <= 0x5a) || (u >= 0x61 && u <= 0x7a))) set[u ^ 0x20] = 1;
      return;
    }
    switch (a.t) {
      case 'cp':
        set[this.cs.literal(a.cp)] = 1;
        if (this.ignoreCase) for (const v of caseVariants(a.cp)) set[v < 0x80 ? v : this.cs.literal(v)] = 1;
        return;
      // Inside brackets a raw byte matches nothing (grep: `[\xe9]x` misses `\xe9x`).
      case 'byte':
        return;
      case 'beyond':
        set[this.cs.beyondStandIn] = 1;
        return;
      default: {
        const never: never = a;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  literal(u: number): EreNode {
    const a = this.atom(u);
    if (a === undefined && !this.ignoreCase) return { t: 'char', c: u };
    // A raw byte outside brackets matches that byte of a line, where it is a bad byte.
    if (a?.t === 'byte') return { t: 'char', c: this.cs.rawByte(a.b) };
    if (a?.t === 'beyond') return { t: 'char', c: this.cs.beyondStandIn };
    if (a?.t === 'cp' && !this.ignoreCase) return { t: 'char', c: this.cs.literal(a.cp) };
    const s = this.cs.newSet();
    this.addChar(s, u);
    return this.set(s);
  }

  any(): EreNode {
    const s = this.cs.newSet();
    s.fill(1, 0, 0x80);
    s[0x0a] = 0;
    this.cs.addAllChars(s);
    return this.set(s);
  }

  escape(e: 'w' | 'W' | 's' | 'S'): EreNode {
    const s = this.cs.newSet();
    const word = e === 'w' || e === 'W';
    const pred = cClass(word ? 'alnum' : 'space')!;
    for (let c = 0; c < 0x80; c++) if (pred(c)) s[c] = 1;
    if (word) s[0x5f] = 1;
    this.cs.addSig(s, word ? ALNUM : SPACE);
    return this.set(e === 'W' || e === 'S' ? this.cs.complement(s) : s);
  }

  bracket(items: readonly BracketItem[], neg: boolean, offset: number): EreNode {
    const s = this.cs.newSet();
    for (const it of items) {
      switch (it.t) {
        case 'class': {
          // grep -i reads [:upper:] and [:lower:] as [:alpha:] (GNU dfa's rule).
          const name = this.ignoreCase && (it.name === 'upper' || it.name === 'lower') ? 'alpha' : it.name;
          const pred = cClass(name)!;
          for (let c = 0; c < 0x80; c++) if (pred(c)) s[c] = 1;
          this.cs.addSig(s, bit(name as (typeof SIGNATURE_BITS)[number]));
          break;
        }
        case 'char':
          this.addChar(s, it.c);
          break;
        case 'range':
          this.addRange(s, it.lo, it.hi, offset);
          break;
        default: {
          const never: never = it;
          throw new Error(`unreachable ${String(never)}`);
        }
      }
    }
    return this.set(neg ? this.cs.complement(s) : s);
  }

  private addRange(s: Uint8Array, lo: number, hi: number, offset: number): void {
    if (lo >= 0x80 || hi >= 0x80) {
      // C.UTF-8: glibc's regex refuses the range and grep the whole file. en_US: a collation range of
      // characters logsentry has no order for.
      if (!this.cs.collationRanges) throw new EreSyntaxError('Invalid collation character', offset);
      throw new EreSyntaxError(`a range with a character above ASCII is an en_US.UTF-8 collation range logsentry does not model (rules.locale ${this.cs.locale})`, offset);
    }
    if (hi < lo) throw new EreSyntaxError('Invalid range end', offset);
    const digits = lo >= 0x30 && hi <= 0x39;
    const name = `${String.fromCharCode(lo)}-${String.fromCharCode(hi)}`;
    const rangeBit = EN_US_RANGES.get(name);
    if (this.cs.collationRanges && !digits && rangeBit === undefined) {
      throw new EreSyntaxError(
        `range ${name} is an en_US.UTF-8 collation range logsentry does not model (it models a-z, A-Z, a-f, A-F and digit ranges; rules.locale C.UTF-8 has code point ranges)`,
        offset,
      );
    }
    for (let c = lo; c <= hi; c++) this.addChar(s, c);
    if (!this.cs.collationRanges || rangeBit === undefined) return;
    const other = this.ignoreCase ? EN_US_RANGES.get(OTHER_CASE.get(name) ?? '') : undefined;
    this.cs.addSig(s, rangeBit | (other ?? 0));
  }
}
