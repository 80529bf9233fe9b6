/**
 * logcheck's rule trees and its classification, as data: which lines of a run land in which section
 * of the report. The specification is Debian's /usr/sbin/logcheck 1.4.2 (functions cleanrules,
 * greplogoutput, cleanchecked and the main body) run in the C locale, and Psionic Logcheck 1.1.1's
 * logcheck.sh for the four-file layout.
 *
 * Lines and rule texts are byte strings (one char per byte: decode files as latin1), because grep and
 * sort run byte-wise in the C locale. Pure: no I/O, no clock, no logging (the loader reads files).
 */
import { encodeLines, EreList, SharedEreSet, type LineBytes } from './ere.js';
import { Utf8Charset, type MatchLocale } from './utf8ctype.js';

/** A rule's origin: the rule file (relative to the rules directory) and its 1-based line. */
export interface RuleRef {
  readonly file: string;
  readonly line: number;
}

/** What logcheck made of a line. */
export type Verdict = 'attack' | 'violation' | 'unusual' | 'ignored';

/** Report level (REPORTLEVEL): which ignore.d.* directories apply, cumulatively. */
export type ReportLevel = 'workstation' | 'server' | 'paranoid';

/** One rule file as read from disk: its name in its directory and its content (a byte string). */
export interface RuleFileInput {
  readonly name: string;
  readonly text: string;
}

/** A rule directory's files; undefined in a tree means the directory does not exist. */
export type RuleDirInput = readonly RuleFileInput[];

/** A Debian-layout rule tree as read from disk (directory name → files). */
export interface DebianTreeInput {
  readonly layout: 'debian';
  readonly cracking?: RuleDirInput;
  readonly crackingIgnore?: RuleDirInput;
  readonly violations?: RuleDirInput;
  readonly violationsIgnore?: RuleDirInput;
  readonly ignore: { readonly [L in ReportLevel]?: RuleDirInput };
}

/** A Psionic Logcheck 1.1 rule tree: the four files' contents (undefined: the file does not exist). */
export interface PsionicTreeInput {
  readonly layout: 'psionic';
  readonly hacking?: string;
  readonly violations?: string;
  readonly violationsIgnore?: string;
  readonly ignore?: string;
}

/** Either layout. */
export type RuleTreeInput = DebianTreeInput | PsionicTreeInput;

/** Options of {@link compileRules}, mirroring logcheck.conf. */
export interface RuleOptions {
  /** REPORTLEVEL. */
  readonly level: ReportLevel;
  /** SUPPORT_CRACKING_IGNORE. */
  readonly supportCrackingIgnore: boolean;
  /** The locale logcheck's grep, sed and sort run under (utf8ctype.ts); absent: C, bytes. */
  readonly locale?: MatchLocale;
  /**
   * Rule file names in the order bash's glob lists them under the locale (the report's section
   * order); absent: byte order, as in C and C.UTF-8. Under en_US.UTF-8 the adapter gets it from the
   * system's sort (a name missing here goes after the listed ones).
   */
  readonly fileOrder?: readonly string[];
}

/** A rule that could not be compiled: it is left out and never matches. */
export interface RuleProblem extends RuleRef {
  readonly message: string;
}

/** Kind of a report section. */
export type SectionKind = 'attack' | 'violation' | 'events';

/** One section of a report, lines in logcheck's order (duplicates kept unless sort_unique). */
export interface ReportSection {
  readonly kind: SectionKind;
  /** The rule file whose matches make the section (undefined for System Events and Psionic sections). */
  readonly file: string | undefined;
  /** The heading logcheck prints, e.g. "Security Alerts for kernel". */
  readonly title: string;
  readonly lines: readonly string[];
}

/** The sections of one run, in logcheck's order; empty when there is nothing to report. */
export interface Report {
  readonly sections: readonly ReportSection[];
}

/** One place a line was reported. */
export interface SectionHit {
  readonly kind: 'attack' | 'violation';
  /** The rule file titling the section (a Psionic section has its file's name). */
  readonly file: string;
  readonly rule: RuleRef;
}

/** The classification of one line, with the rule that decided it. */
export interface Classification {
  readonly verdict: Verdict;
  /** For 'attack'/'violation': the rule file of the first section the line is in. */
  readonly section: string | undefined;
  /**
   * The deciding rule: the raising rule of the first section for attack/violation, the ignore rule
   * that dropped the line for ignored (in logcheck's order of application); undefined for unusual
   * or where no single rule decided.
   */
  readonly rule: RuleRef | undefined;
  /** Every attack/violation section the line appears in (logcheck repeats a line in each). */
  readonly hits: readonly SectionHit[];
}

/** Section titles (ATTACKSUBJECT, SECURITYSUBJECT, EVENTSSUBJECT). */
export interface Titles {
  readonly attack: string;
  readonly security: string;
  readonly events: string;
}

/** logcheck's default titles. */
export const DEFAULT_TITLES: Titles = { attack: 'Security Alerts', security: 'Security Events', events: 'System Events' };

/** {@link Decisions.flags} bit: the line goes to System Events. */
export const DECIDE_KEEP = 1;
/** {@link Decisions.flags} bit: the line matches cracking.d (dropped from Security Events when a Security Alerts section is printed). */
export const DECIDE_CRACKING = 2;

/**
 * Per-line decisions of a run's lines (see RuleSet.decide): a flags byte per line, and the few lines
 * raised into Security Alerts or Security Events sections with the rule files whose sections they
 * are in. Plain data, so a worker thread's part can be sent back (its flags written in shared memory).
 */
export interface Decisions {
  /** {@link DECIDE_KEEP} and {@link DECIDE_CRACKING} per line index. */
  readonly flags: Uint8Array;
  readonly attackAt: number[];
  readonly attackFiles: (readonly string[])[];
  readonly violationAt: number[];
  readonly violationFiles: (readonly string[])[];
}

/** Empty decisions for `n` lines (flags in `flags` when given, e.g. shared memory). */
export function newDecisions(n: number, flags?: Uint8Array): Decisions {
  return { flags: flags ?? new Uint8Array(n), attackAt: [], attackFiles: [], violationAt: [], violationFiles: [] };
}

// ---------------------------------------------------------------------------------------------

/** A cleaned rule file: its patterns (blank lines and `#` lines dropped) with where each came from. */
interface CleanFile {
  readonly name: string;
  readonly refs: readonly RuleRef[];
  readonly list: EreList;
}

/** A cleaned rule directory: files in name order, plus one combined list for "any file matches". */
interface CleanDir {
  readonly files: readonly CleanFile[];
  readonly byName: ReadonlyMap<string, CleanFile>;
  readonly all: Pick<EreList, 'test'>;
  readonly allRefs: readonly RuleRef[];
}

/** run-parts' default name rule (Debian): only letters, digits, `_` and `-`; so no backups or dotfiles. */
const RUN_PARTS_NAME = /^[A-Za-z0-9_-]+$/;
/** cleanrules drops these lines: `grep -E -v '^[[:space:]]*$|^#'` in the C locale. */
const SKIP_LINE = /^[ \t\n\v\f\r]*$|^#/;

/** C-locale byte order, the order of run-parts and of bash's globs under LC_ALL=C. */
function byteCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cleanPatterns(path: string, text: string, into: { patterns: string[]; refs: RuleRef[] }): void {
  const lines = text.split('\n');
  lines.forEach((l, k) => {
    if (SKIP_LINE.test(l) || compileCharset?.isBlank(l) === true) return;
    into.patterns.push(l);
    into.refs.push({ file: path, line: k + 1 });
  });
}

// The common sets of the rule tree being compiled (one per case mode), set by compileRules for the
// duration of the compilation, so every file's patterns land in one set without threading it
// through every helper. compileRules is synchronous, so no other compilation can interleave.
// Case folding is done in the pattern (translateEre), so one set serves both modes.
let sharedSet: SharedEreSet | undefined;
// Whether the tree being compiled is known to compile (see compileRules' `trusted`).
let trustedCompile = false;
// The UTF-8 locale's charset of the tree being compiled (undefined: C), set like sharedSet.
let compileCharset: Utf8Charset | undefined;
// The glob order of rule file names for the tree being compiled (RuleOptions.fileOrder), as ranks.
let compileFileRank: ReadonlyMap<string, number> | undefined;

/** The order of a cleaned directory's files: bash's glob order (byte order unless fileOrder says otherwise). */
function globCompare(a: string, b: string): number {
  if (compileFileRank === undefined) return byteCompare(a, b);
  const n = compileFileRank.size;
  return (compileFileRank.get(a) ?? n) - (compileFileRank.get(b) ?? n) || byteCompare(a, b);
}

function compileList(patterns: readonly string[], refs: readonly RuleRef[], problems: RuleProblem[] | undefined, ignoreCase: boolean, shared = true): EreList {
  const list = new EreList(patterns, ignoreCase, shared ? sharedSet : undefined, trustedCompile, compileCharset);
  if (problems !== undefined) for (const e of list.errors) problems.push({ ...refs[e.index]!, message: e.message });
  return list;
}

/**
 * cleanrules for one or more source directories merged into one cleaned directory (the ignore.d.*
 * levels are appended into one, same-named files concatenated in level order).
 */
function cleanDir(sources: readonly { readonly dir: string; readonly files: RuleDirInput }[], problems: RuleProblem[]): CleanDir {
  const merged = new Map<string, { patterns: string[]; refs: RuleRef[] }>();
  for (const src of sources) {
    const names = src.files.filter((f) => RUN_PARTS_NAME.test(f.name)).sort((a, b) => byteCompare(a.name, b.name));
    for (const f of names) {
      let m = merged.get(f.name);
      if (m === undefined) merged.set(f.name, (m = { patterns: [], refs: [] }));
      cleanPatterns(`${src.dir}/${f.name}`, f.text, m);
    }
  }
  const files: CleanFile[] = [...merged.entries()]
    .sort((a, b) => globCompare(a[0], b[0]))
    .map(([name, m]) => ({ name, refs: m.refs, list: compileList(m.patterns, m.refs, problems, false) }));
  const allPatterns: string[] = [];
  const allRefs: RuleRef[] = [];
  for (const [, m] of [...merged.entries()].sort((a, b) => globCompare(a[0], b[0]))) {
    allPatterns.push(...m.patterns);
    allRefs.push(...m.refs);
  }
  // Problems were reported per file above; the combined list repeats them.
  return { files, byName: new Map(files.map((f) => [f.name, f])), all: dirAllList(files, allPatterns, allRefs), allRefs };
}

/**
 * [from, to) of the files' exact patterns in the common set: files are compiled one after the other,
 * so the ranges are contiguous ([0, 0) when there are none); undefined if they were not.
 */
function exactRange(files: readonly CleanFile[]): readonly [number, number] | undefined {
  const ranges = files.map((f) => f.list.sharedRange).filter((r): r is readonly [number, number] => r !== undefined && r[1] > r[0]);
  if (!ranges.every((r, k) => k === 0 || r[0] === ranges[k - 1]![1])) return undefined;
  return [ranges[0]?.[0] ?? 0, ranges[ranges.length - 1]?.[1] ?? 0];
}

/**
 * A directory's "does any file match" list. With the common set it only needs the answers the files
 * already give (a combined copy would double the set and the per-line cost), so it asks them.
 */
function dirAllList(files: readonly CleanFile[], patterns: readonly string[], refs: readonly RuleRef[]): Pick<EreList, 'test'> {
  if (sharedSet === undefined) return compileList(patterns, refs, undefined, false, false);
  // One binary search answers for the whole directory when no file needs the budgeted matcher.
  const set = files[0]?.list.sharedSet;
  const range = exactRange(files);
  if (set !== undefined && range !== undefined) {
    const [from, to] = range;
    // The few files with a pattern for the budgeted matcher (back-references) are asked only when
    // no exact pattern of the directory matched.
    const inexact = files.filter((f) => f.list.hasInexact).map((f) => f.list);
    if (inexact.length === 0) return { test: (line: string): boolean => to > from && set.anyIn(line, from, to) };
    return {
      test(line: string): boolean | undefined {
        if (to > from && set.anyIn(line, from, to)) return true;
        let unsure = false;
        for (const l of inexact) {
          const r = l.testInexact(line);
          if (r === true) return true;
          if (r === undefined) unsure = true;
        }
        return unsure ? undefined : false;
      },
    };
  }
  return {
    test(line: string): boolean | undefined {
      let unsure = false;
      for (const f of files) {
        const r = f.list.test(line);
        if (r === true) return true;
        if (r === undefined) unsure = true;
      }
      return unsure ? undefined : false;
    },
  };
}

/** A doubtful match (the exact matcher ran out of budget) resolves toward reporting the line. */
type Doubt = 'as-match' | 'as-no-match';

function fileMatch(f: CleanFile, line: string, doubt: Doubt): RuleRef | undefined | null {
  const r = f.list.test(line);
  if (r === false) return null;
  if (r === undefined) return doubt === 'as-match' ? (f.refs[0] ?? null) : null;
  const idx = f.list.matching(line)[0];
  return idx === undefined ? (f.refs[0] ?? null) : f.refs[idx]!;
}

/** First rule of `dir` (files in name order) matching `line`, or null. */
function dirMatch(dir: CleanDir, line: string, doubt: Doubt): RuleRef | null {
  const r = dir.all.test(line);
  if (r === false || (r === undefined && doubt === 'as-no-match')) return null;
  for (const f of dir.files) {
    const m = fileMatch(f, line, doubt);
    if (m !== null && m !== undefined) return m;
  }
  return null;
}

/** Result of one raise file's filters on a line: reported with its rule, or dropped by a rule. */
type RaiseOutcome = { readonly reported: RuleRef } | { readonly droppedBy: RuleRef } | null;

/** Compiled Debian rules for one level. */
interface DebianRules {
  readonly layout: 'debian';
  /** Undefined when cracking is not checked at all (no cracking.d; or SUPPORT_CRACKING_IGNORE without cracking.ignore.d). */
  readonly crackingRaise: CleanDir | undefined;
  /** cracking.d, for filtering other sections (undefined when cracking.d does not exist). */
  readonly cracking: CleanDir | undefined;
  readonly crackingIgnore: CleanDir | undefined;
  readonly violations: CleanDir | undefined;
  readonly violationsIgnore: CleanDir | undefined;
  readonly ignore: CleanDir | undefined;
  /** The set every rule's pattern is in (its answer for a line is what the dirs and files consult). */
  readonly shared: SharedEreSet | undefined;
}

/** Compiled Psionic 1.1 rules. */
interface PsionicRules {
  readonly layout: 'psionic';
  readonly hacking: CleanFile | undefined;
  readonly violations: CleanFile | undefined;
  readonly violationsIgnore: CleanFile | undefined;
  readonly ignore: CleanFile | undefined;
}

/**
 * greplogoutput's filters for one raise file `f` and one line already matching it: the ignore
 * directory's same-named and logcheck-<name> files; for the file named `logcheck` every ignore file
 * and every raise file whose name does not start with "logchec" (bash `=~ ^logcheck*`); the higher
 * directory; then ignore's local and local-* files.
 */
function raiseFilters(f: CleanFile, rule: RuleRef, raise: CleanDir, ignore: CleanDir | undefined, higher: CleanDir | undefined, line: string): RaiseOutcome {
  const drop = (m: RuleRef | null | undefined): RaiseOutcome => (m === null || m === undefined ? null : { droppedBy: m });
  if (ignore !== undefined) {
    for (const name of [f.name, `logcheck-${f.name}`]) {
      const g = ignore.byName.get(name);
      const d = g === undefined ? null : drop(fileMatch(g, line, 'as-no-match'));
      if (d !== null) return d;
    }
  }
  if (f.name === 'logcheck') {
    if (ignore !== undefined && ignore.files.length > 0) {
      const d = drop(dirMatch(ignore, line, 'as-no-match'));
      if (d !== null) return d;
    }
    for (const other of raise.files) {
      if (other.name.startsWith('logchec')) continue;
      const d = drop(fileMatch(other, line, 'as-no-match'));
      if (d !== null) return d;
    }
  }
  if (higher !== undefined) {
    const d = drop(dirMatch(higher, line, 'as-no-match'));
    if (d !== null) return d;
  }
  if (ignore !== undefined) {
    const local = ignore.byName.get('local');
    if (local !== undefined) {
      const d = drop(fileMatch(local, line, 'as-no-match'));
      if (d !== null) return d;
    }
    for (const g of ignore.files) {
      if (!g.name.startsWith('local-')) continue;
      const d = drop(fileMatch(g, line, 'as-no-match'));
      if (d !== null) return d;
    }
  }
  return { reported: rule };
}

/** Per-line outcome of every raise file of one directory. */
interface RaiseResult {
  readonly hits: readonly { readonly file: string; readonly rule: RuleRef }[];
  /** The first filter rule that dropped a match, if the line matched but was not reported. */
  readonly droppedBy: RuleRef | undefined;
}

function raiseLine(raise: CleanDir, ignore: CleanDir | undefined, higher: CleanDir | undefined, line: string): RaiseResult {
  const hits: { file: string; rule: RuleRef }[] = [];
  let droppedBy: RuleRef | undefined;
  if (raise.all.test(line) === false) return { hits, droppedBy };
  for (const f of raise.files) {
    const m = fileMatch(f, line, 'as-match');
    if (m === null || m === undefined) continue;
    const o = raiseFilters(f, m, raise, ignore, higher, line);
    if (o === null) continue;
    if ('reported' in o) hits.push({ file: f.name, rule: o.reported });
    else droppedBy ??= o.droppedBy;
  }
  return { hits, droppedBy };
}

const NO_FILES: readonly string[] = [];

/** The files of `raise` whose section reports `line` (raiseLine without the rules, for reports). */
function raiseFiles(raise: CleanDir, ignore: CleanDir | undefined, line: string): readonly string[] {
  // Most lines match no raise file: answer without allocating.
  if (raise.all.test(line) === false) return NO_FILES;
  let out: string[] | undefined;
  for (const f of raise.files) {
    // fileMatch(f, line, 'as-match') is not null exactly when the test is not false.
    if (f.list.test(line) === false) continue;
    if (raiseDropped(f, raise, ignore, line)) continue;
    (out ??= []).push(f.name);
  }
  return out ?? NO_FILES;
}

/**
 * raiseFilters without `higher` as a yes/no: whether a filter drops `line` from `f`'s section.
 * fileMatch and dirMatch with 'as-no-match' give a rule exactly when the test is true.
 */
function raiseDropped(f: CleanFile, raise: CleanDir, ignore: CleanDir | undefined, line: string): boolean {
  const hit = (g: CleanFile | undefined): boolean => g !== undefined && g.list.test(line) === true;
  if (ignore !== undefined && (hit(ignore.byName.get(f.name)) || hit(ignore.byName.get(`logcheck-${f.name}`)))) return true;
  if (f.name === 'logcheck') {
    if (ignore !== undefined && ignore.files.length > 0 && ignore.all.test(line) === true) return true;
    for (const other of raise.files) if (!other.name.startsWith('logchec') && hit(other)) return true;
  }
  if (ignore !== undefined) {
    if (hit(ignore.byName.get('local'))) return true;
    for (const g of ignore.files) if (g.name.startsWith('local-') && hit(g)) return true;
  }
  return false;
}

/**
 * A compiled rule tree for one level: classify lines and build reports exactly as logcheck would.
 * Build with {@link compileRules}.
 */
export class RuleSet {
  /** Rules left out because they could not be compiled (logcheck's grep would instead fail the whole file). */
  readonly problems: readonly RuleProblem[];
  private readonly rules: DebianRules | PsionicRules;
  private readonly titles: Titles;
  /** A UTF-8 locale's (matching and sed), undefined in C. */
  private readonly charset: Utf8Charset | undefined;

  /** @internal use compileRules. */
  constructor(rules: DebianRules | PsionicRules, problems: readonly RuleProblem[], titles: Titles, charset?: Utf8Charset) {
    this.rules = rules;
    this.problems = problems;
    this.titles = titles;
    this.charset = charset;
  }

  /** logcheck's sed step in this rule set's locale: a line without its trailing white space. */
  get trimLine(): (l: string) => string {
    return this.charset?.trimTrailingSpace ?? trimTrailingSpace;
  }

  private ignoreIndexes: readonly [number, number] | undefined;

  /** [from, to) of the ignore directory's exact patterns in the common set ({@link exactRange}), or an empty range. */
  private ignoreRange(): readonly [number, number] {
    if (this.ignoreIndexes !== undefined) return this.ignoreIndexes;
    const r = this.rules;
    return (this.ignoreIndexes = (r.layout === 'debian' && r.ignore !== undefined ? exactRange(r.ignore.files) : undefined) ?? [0, 0]);
  }

  /** 'debian' or 'psionic'. */
  get layout(): 'debian' | 'psionic' {
    return this.rules.layout;
  }

  /**
   * Classifies one line as logcheck would within a run. Whether any Security Alerts section was
   * printed in that run (logcheck's ATTACK flag) changes one thing: a line matching cracking.d that
   * was dropped by cracking.ignore.d is then also kept out of Security Events. `attackInRun`
   * defaults to "this line alone is the run". The line must already be trimmed of trailing white
   * space, as logcheck's sed does before matching (see {@link prepareLines}).
   */
  classify(line: string, attackInRun?: boolean): Classification {
    const r = this.rules;
    if (r.layout === 'psionic') return this.classifyPsionic(r, line);
    const attack = r.crackingRaise === undefined ? undefined : raiseLine(r.crackingRaise, r.crackingIgnore, undefined, line);
    if (attack !== undefined && attack.hits.length > 0) {
      return { verdict: 'attack', section: attack.hits[0]!.file, rule: attack.hits[0]!.rule, hits: attack.hits.map((h) => ({ kind: 'attack', ...h })) };
    }
    const attackFlag = attackInRun ?? false;
    const viol = r.violations === undefined ? undefined : raiseLine(r.violations, r.violationsIgnore, attackFlag ? r.cracking : undefined, line);
    if (viol !== undefined && viol.hits.length > 0) {
      return { verdict: 'violation', section: viol.hits[0]!.file, rule: viol.hits[0]!.rule, hits: viol.hits.map((h) => ({ kind: 'violation', ...h })) };
    }
    // System Events: everything not matched by an ignore.d.* file, a cracking.d file or a violations.d file.
    const by =
      (r.ignore === undefined ? null : dirMatch(r.ignore, line, 'as-no-match')) ??
      (r.cracking === undefined ? null : dirMatch(r.cracking, line, 'as-no-match')) ??
      (r.violations === undefined ? null : dirMatch(r.violations, line, 'as-no-match'));
    if (by === null) return { verdict: 'unusual', section: undefined, rule: undefined, hits: [] };
    // A line matching a raise file but filtered from its section: name the filter that dropped it.
    const rule = attack?.droppedBy ?? viol?.droppedBy ?? by;
    return { verdict: 'ignored', section: undefined, rule, hits: [] };
  }

  private classifyPsionic(r: PsionicRules, line: string): Classification {
    const hits: SectionHit[] = [];
    if (r.hacking !== undefined) {
      const m = fileMatch(r.hacking, line, 'as-match');
      if (m !== null && m !== undefined) hits.push({ kind: 'attack', file: r.hacking.name, rule: m });
    }
    // 1.1 pipes violation matches through `grep -v -f logcheck.violations.ignore`; with that file
    // missing grep fails and the section is never printed.
    if (r.violations !== undefined && r.violationsIgnore !== undefined) {
      const m = fileMatch(r.violations, line, 'as-match');
      if (m !== null && m !== undefined && fileMatch(r.violationsIgnore, line, 'as-no-match') === null) {
        hits.push({ kind: 'violation', file: r.violations.name, rule: m });
      }
    }
    // 1.1's "Unusual System Events" is everything the ignore file does not drop, alerts included.
    const ig = r.ignore === undefined ? null : fileMatch(r.ignore, line, 'as-no-match');
    const first = hits[0];
    if (first !== undefined) return { verdict: first.kind, section: first.file, rule: first.rule, hits };
    if (r.ignore === undefined || ig === null || ig === undefined) return { verdict: r.ignore === undefined ? 'ignored' : 'unusual', section: undefined, rule: undefined, hits };
    return { verdict: 'ignored', section: undefined, rule: ig, hits };
  }

  /**
   * The report logcheck prints for these lines (its input after logtail: every log's new lines,
   * in order, as byte strings without their newline): lines sorted and trimmed as logcheck does
   * (see {@link prepareLines}), then the Security Alerts sections (one per cracking.d file, in file
   * name order), Security Events sections, and System Events. `sortUnique` is SORTUNIQ. Psionic
   * trees keep the input order (1.1 did not sort). `presorted`: the input is already in the sort's
   * order (sorted by the system's sort under en_US.UTF-8; with `sortUnique`, its `sort -u`).
   */
  buildReport(input: readonly string[], sortUnique = false, presorted = false): Report {
    const r = this.rules;
    if (r.layout === 'psionic') return this.buildPsionic(r, input);
    const { lines, order } = this.prepare(input, sortUnique, presorted);
    const d = newDecisions(lines.length);
    this.decide(lines, 0, lines.length, undefined, d);
    return this.assemble(lines, order, d);
  }

  /** Why the native matcher stopped answering during a run (the rest went through node-re2), if it did. */
  get matcherProblem(): string | undefined {
    return this.rules.layout === 'debian' ? this.rules.shared?.problem : undefined;
  }

  /**
   * Whether {@link buildReport} goes through {@link prepare}, {@link decide} and {@link assemble}
   * (the Debian layout): a caller may then decide parts of the lines elsewhere (a worker thread
   * with the same tree compiled) and assemble the parts.
   */
  get decides(): boolean {
    return this.rules.layout === 'debian';
  }

  /**
   * The lines to decide and the order to list them in: logcheck's sort and trim. Without
   * `sortUnique` the lines stay in input order (trimmed) with the sort's permutation beside them,
   * so deciding reads them where they lie in memory (deciding in sorted order of a shuffled log cost
   * a cache miss per string touched); with it, the sorted unique lines themselves. `presorted`: the
   * input is in the sort's order already (see {@link buildReport}): only the trim is left.
   */
  prepare(input: readonly string[], sortUnique: boolean, presorted = false): { readonly lines: readonly string[]; readonly order: Uint32Array | undefined } {
    const trim = this.trimLine;
    if (presorted) return { lines: trimLines(input, trim), order: undefined };
    if (sortUnique) return { lines: prepareLines(input, true, trim), order: undefined };
    return { lines: trimLines(input, trim), order: sortOrder(input) };
  }

  /**
   * Decides lines[from..to) into `into` (Debian layout only). Each line's verdict depends on its
   * text alone: the common RE2 set answers once per line, from its UTF-8 bytes (`enc`, the
   * lines' bytes in {@link LineBytes} layout; by default they are encoded here), a block of lines
   * per native call when the native matcher is built, and every question below is a lookup in that
   * answer. A line equal to the one before it takes the earlier decision. The violation filter that
   * depends on the whole run (cracking.d applies to Security Events only when some Security Alerts
   * section is printed) is kept per line as {@link DECIDE_CRACKING} and applied by {@link assemble}.
   */
  decide(lines: readonly string[], from: number, to: number, enc: LineBytes | undefined, into: Decisions): void {
    const r = this.rules;
    if (r.layout !== 'debian') throw new Error('RuleSet.decide: the Psionic layout is decided by buildReport');
    const has = (d: CleanDir | undefined, l: string): boolean => d !== undefined && d.all.test(l) === true;
    const flags = into.flags;
    let lastA: readonly string[] = NO_FILES;
    let lastV: readonly string[] = NO_FILES;
    const one = (k: number): void => {
      const l = lines[k]!;
      const a = r.crackingRaise === undefined ? NO_FILES : raiseFiles(r.crackingRaise, r.crackingIgnore, l);
      const v = r.violations === undefined ? NO_FILES : raiseFiles(r.violations, r.violationsIgnore, l);
      const c = has(r.cracking, l);
      flags[k] = (c ? DECIDE_CRACKING : 0) | (has(r.ignore, l) || c || has(r.violations, l) ? 0 : DECIDE_KEEP);
      lastA = a;
      lastV = v;
      hits(k, a, v);
    };
    const hits = (k: number, a: readonly string[], v: readonly string[]): void => {
      if (a.length > 0) {
        into.attackAt.push(k);
        into.attackFiles.push(a);
      }
      if (v.length > 0) {
        into.violationAt.push(k);
        into.violationFiles.push(v);
      }
    };
    const shared = r.shared;
    if (shared === undefined) {
      for (let k = from; k < to; k++) one(k);
      return;
    }
    // Most lines need no rule logic: a line no pattern matched is a System Event, and a line only
    // the ignore directory's exact patterns matched is dropped (no raise file's exact pattern or
    // superset matched it, and supersets lie outside that range).
    const ign = this.ignoreRange();
    // Without `enc`, the lines are encoded a block at a time into one reused buffer. So they are in a
    // UTF-8 locale, whose matcher reads their matching text (`enc` holds the lines' own bytes).
    const cs = this.charset;
    const step = enc === undefined || cs !== undefined ? 65536 : to - from;
    let buf: { bytes: Buffer; offs: Uint32Array } | undefined;
    for (let b = from; b < to; b += step) {
      const e = Math.min(to, b + step);
      const lb: LineBytes = enc !== undefined && cs === undefined ? enc : (buf = encodeLines(lines, b, e, buf, cs));
      // A line equal to the one before it (rare: a timestamp differs) takes that line's decision
      // without the rule logic; the set answers it anyway, as part of its block.
      shared.primeEach(lines, b, e, lb, (k) => {
        if (k > from && lines[k] === lines[k - 1]) {
          flags[k] = flags[k - 1]!;
          hits(k, lastA, lastV);
          return;
        }
        const w = shared.primedWithin(ign[0], ign[1]);
        if (w === 2) {
          one(k);
          return;
        }
        flags[k] = w === 0 ? DECIDE_KEEP : 0;
        lastA = NO_FILES;
        lastV = NO_FILES;
      });
    }
  }

  /**
   * The report from decided lines (every line of `lines` decided into `d`, in any number of parts
   * appended in any order): sections in logcheck's order, lines in `order` (see {@link prepare}).
   */
  assemble(lines: readonly string[], order: Uint32Array | undefined, d: Decisions): Report {
    const r = this.rules;
    if (r.layout !== 'debian') throw new Error('RuleSet.assemble: the Psionic layout is built by buildReport');
    const n = lines.length;
    // One walk over the lines in report order fills every section. The raised lines are marked
    // beforehand, each with its section's place among the directory's files (`secA`/`secV`: the
    // file's index + 1, or MULTI for a line in several sections, looked up in `qA`/`qV`), so the
    // walk reads three bytes per line and a line's text only when it is printed. (Ranking the hits
    // and sorting them per list cost a random write per line; reading each hit's file list during
    // the walk, a cache miss per hit: each measured at 0.1-0.2 s a million lines.)
    const anyAttack = d.attackAt.length > 0;
    // With an alert section printed, logcheck filters Security Events through cracking.d as well
    // (raiseFilters' `higher`); that filter only ever drops a line, and drops it from every file.
    const skipCracking = anyAttack && r.cracking !== undefined;
    const MULTI = 255;
    type Marks = { sec: Uint8Array; q: Int32Array | undefined; index: ReadonlyMap<string, number>; per: (string[] | undefined)[] };
    const mark = (at: readonly number[], files: readonly (readonly string[])[], dir: CleanDir | undefined): Marks | undefined => {
      if (at.length === 0 || dir === undefined) return undefined;
      const index = new Map(dir.files.map((f, i) => [f.name, i]));
      const sec = new Uint8Array(n);
      let q: Int32Array | undefined;
      for (let h = 0; h < at.length; h++) {
        const fs = files[h]!;
        const i = fs.length === 1 ? index.get(fs[0]!)! : MULTI;
        if (i + 1 < MULTI) sec[at[h]!] = i + 1;
        else {
          sec[at[h]!] = MULTI;
          (q ??= new Int32Array(n))[at[h]!] = h;
        }
      }
      return { sec, q, index, per: new Array<string[] | undefined>(dir.files.length) };
    };
    const A = mark(d.attackAt, d.attackFiles, r.crackingRaise);
    const V = mark(d.violationAt, d.violationFiles, r.violations);
    const add = (m: Marks, s: number, k: number, files: readonly (readonly string[])[], line: string): void => {
      if (s !== MULTI) {
        (m.per[s - 1] ??= []).push(line);
        return;
      }
      for (const file of files[m.q![k]!]!) (m.per[m.index.get(file)!] ??= []).push(line);
    };
    const events: string[] = [];
    const flags = d.flags;
    for (let j = 0; j < n; j++) {
      const k = order === undefined ? j : order[j]!;
      const f = flags[k]!;
      const a = A === undefined ? 0 : A.sec[k]!;
      const v = V === undefined ? 0 : V.sec[k]!;
      if ((f & DECIDE_KEEP) === 0 && a === 0 && v === 0) continue;
      const line = lines[k]!;
      if (a !== 0) add(A!, a, k, d.attackFiles, line);
      if (v !== 0 && !(skipCracking && (f & DECIDE_CRACKING) !== 0)) add(V!, v, k, d.violationFiles, line);
      if ((f & DECIDE_KEEP) !== 0) events.push(line);
    }
    const sections: ReportSection[] = [];
    const bySection = (kind: 'attack' | 'violation', per: readonly (string[] | undefined)[], dir: CleanDir, title: string): void => {
      dir.files.forEach((f, i) => {
        const ls = per[i];
        if (ls !== undefined) sections.push({ kind, file: f.name, title: f.name === 'logcheck' ? title : `${title} for ${f.name}`, lines: ls });
      });
    };
    if (A !== undefined) bySection('attack', A.per, r.crackingRaise!, this.titles.attack);
    if (V !== undefined) bySection('violation', V.per, r.violations!, this.titles.security);
    if (events.length > 0) sections.push({ kind: 'events', file: undefined, title: this.titles.events, lines: events });
    return { sections };
  }

  private buildPsionic(r: PsionicRules, lines: readonly string[]): Report {
    const sections: ReportSection[] = [];
    const push = (kind: SectionKind, file: string | undefined, title: string, pred: (l: string) => boolean): void => {
      const ls = lines.filter(pred);
      if (ls.length > 0) sections.push({ kind, file, title, lines: ls });
    };
    const hit = (f: CleanFile, l: string, doubt: Doubt): boolean => {
      const m = fileMatch(f, l, doubt);
      return m !== null && m !== undefined;
    };
    const { hacking, violations, violationsIgnore, ignore } = r;
    if (hacking !== undefined) push('attack', hacking.name, 'Active System Attack Alerts', (l) => hit(hacking, l, 'as-match'));
    if (violations !== undefined && violationsIgnore !== undefined) {
      push('violation', violations.name, 'Security Violations', (l) => hit(violations, l, 'as-match') && !hit(violationsIgnore, l, 'as-no-match'));
    }
    if (ignore !== undefined) push('events', undefined, 'Unusual System Events', (l) => !hit(ignore, l, 'as-no-match'));
    return { sections };
  }
}

/**
 * logcheck's preparation of its input: `sort -k 1,3 -s` (a stable sort on the text up to the end
 * of the third blank-separated field, leading blanks included) or, with `sortUnique`, `sort -u`
 * (whole lines, duplicates removed); both byte-wise as in the C locale (and C.UTF-8); then trailing
 * white space removed from each line by `trim` (`sed 's/[[:space:]]\+$//'`, which runs after the sort;
 * RuleSet.trimLine in a UTF-8 locale).
 */
export function prepareLines(input: readonly string[], sortUnique: boolean, trim: (l: string) => string = trimTrailingSpace): string[] {
  let sorted: string[];
  if (sortUnique) {
    // The default sort compares UTF-16 code units, as byteCompare does, without a call into JS per
    // comparison (about 3 times faster on a million lines).
    sorted = [...input].sort().filter((l, k, a) => k === 0 || a[k - 1] !== l);
  } else {
    const order = keyOrder(input);
    sorted = new Array<string>(input.length);
    for (let k = 0; k < order.length; k++) sorted[k] = input[order[k]!]!;
  }
  return sorted.map(trim);
}

/** Each line without its trailing white space (logcheck's sed; in a UTF-8 locale RuleSet.trimLine), in input order. */
export function trimLines(input: readonly string[], trim: (l: string) => string = trimTrailingSpace): string[] {
  return input.map(trim);
}

/** `sort -k 1,3 -s` in the C locale, as a permutation: input indexes in sorted order (see keyOrder). */
export function sortOrder(input: readonly string[]): Uint32Array {
  return keyOrder(input);
}

/** Key bytes the radix sort looks at (syslog's `Mmm dd hh:mm:ss` has 15); longer keys are finished by comparison. */
const RADIX_WIDTH = 16;

/**
 * `sort -k 1,3 -s` in the C locale: the permutation (input indexes in sorted order) of a stable sort
 * of byte strings on the text up to the end of the third field. The comparison sort this replaces
 * took 5 s for a million lines, more than classifying them, so: a least-significant-digit radix sort
 * over the first {@link RADIX_WIDTH} key bytes, two bytes a pass (a key padded with a value below
 * every byte, so it sorts before its extensions); then each run of equal prefixes that holds a
 * longer key is sorted stably by comparison on the whole key. Chars above 0xff (not a byte string)
 * take the comparison sort throughout.
 */
function keyOrder(input: readonly string[]): Uint32Array {
  const n = input.length;
  if (n === 0) return new Uint32Array(0);
  const { order: stamped, others, hi, lo } = stampOrder(input);
  if (others.length === 0) return stamped;
  const rest = generalKeyOrder(others.map((k) => input[k]!));
  for (let j = 0; j < rest.length; j++) rest[j] = others[rest[j]!]!;
  if (stamped.length === 0) return rest;
  return mergeOrders(input, stamped, hi, lo, rest);
}

/**
 * The timestamp lines' order (`a`, keys as numbers in `hi`/`lo`, from stampOrder) and the other
 * lines' (`b`) merged into one, as one stable sort of the whole would have them. No key of `b` equals
 * a timestamp key (it would have that shape), so each `b` line goes before the first timestamp key
 * above its own: found by binary search on the numbers (each key's chars rebuilt from them), never
 * touching the timestamp lines' strings, which lie all over memory in sorted order.
 */
function mergeOrders(input: readonly string[], a: Uint32Array, hi: Uint32Array, lo: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(a.length + b.length);
  /** Whether timestamp key i sorts before key y (its end ey). */
  const stampBefore = (i: number, y: string, ey: number): boolean => {
    const e = Math.min(15, ey);
    for (let p = 0; p < e; p++) {
      const d = stampChar(hi[i]!, lo[i]!, p) - y.charCodeAt(p);
      if (d !== 0) return d < 0;
    }
    return 15 < ey;
  };
  let o = 0;
  let p = 0;
  for (let q = 0; q < b.length; q++) {
    const y = input[b[q]!]!;
    const ey = keyEnd(y);
    // First timestamp at or after p not before y (b is sorted, so the places only grow).
    let lo2 = p;
    let hi2 = a.length;
    while (lo2 < hi2) {
      const mid = (lo2 + hi2) >>> 1;
      if (stampBefore(mid, y, ey)) lo2 = mid + 1;
      else hi2 = mid;
    }
    out.set(a.subarray(p, lo2), o);
    o += lo2 - p;
    p = lo2;
    out[o++] = b[q]!;
  }
  out.set(a.subarray(p), o);
  return out;
}

/** keyOrder's sort for keys of any shape (see keyOrder). */
function generalKeyOrder(input: readonly string[]): Uint32Array {
  const n = input.length;
  if (n === 0) return new Uint32Array(0);
  const ends = new Uint32Array(n);
  let w = 0;
  for (let k = 0; k < n; k++) {
    const e = keyEnd(input[k]!);
    ends[k] = e;
    if (e > w) w = e;
  }
  const keyOf = (k: number): string => input[k]!.slice(0, ends[k]!);
  // Array.prototype.sort is stable, as sort -s is.
  const byKey = (a: number, b: number): number => byteCompare(keyOf(a), keyOf(b));
  const fallback = (): Uint32Array => Uint32Array.from(Array.from({ length: n }, (_, k) => k).sort(byKey));
  w = Math.min(w, RADIX_WIDTH);
  // Digit p of key k (at p * n + k): key bytes 2p and 2p + 1, a byte b counting b + 1 and a missing
  // one 0 (so a key sorts before its extensions): 257 * 257 values. Column by column, so counting a
  // pass reads one column in order and only the placing reads it through the permutation.
  const d = (w + 1) >> 1;
  const digits = new Uint32Array(n * d);
  const long = new Uint8Array(n);
  let anyLong = false;
  for (let k = 0; k < n; k++) {
    const l = input[k]!;
    const e = Math.min(ends[k]!, w);
    if (ends[k]! > w) {
      long[k] = 1;
      anyLong = true;
    }
    for (let p = 0; p < e; p++) {
      const c = l.charCodeAt(p);
      if (c > 0xff) return fallback();
      digits[(p >> 1) * n + k]! += (p & 1) === 0 ? (c + 1) * 257 : c + 1;
    }
  }
  let order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  let order2 = new Uint32Array(n);
  const count = new Uint32Array(257 * 257 + 1);
  for (let p = d - 1; p >= 0; p--) {
    const base = p * n;
    count.fill(0);
    for (let k = 0; k < n; k++) count[digits[base + k]! + 1]!++;
    // A digit every key has alike changes nothing (the separators of a timestamp, say).
    if (count[digits[base]! + 1] === n) continue;
    for (let b = 1; b < count.length; b++) count[b]! += count[b - 1]!;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      order2[count[digits[base + i]!]!++] = i;
    }
    [order, order2] = [order2, order];
  }
  // Runs of equal prefixes in which some key is longer than the prefix: finish them by comparison.
  if (!anyLong) return order;
  const samePrefix = (i: number, j: number): boolean => {
    for (let p = 0; p < d; p++) if (digits[p * n + i] !== digits[p * n + j]) return false;
    return true;
  };
  // Only the neighbourhood of each long key needs looking at: find its place, widen to its run.
  const rank = new Uint32Array(n);
  for (let k = 0; k < n; k++) rank[order[k]!] = k;
  const places: number[] = [];
  for (let i = 0; i < n; i++) if (long[i] === 1) places.push(rank[i]!);
  let covered = -1;
  for (const at of Uint32Array.from(places).sort()) {
    if (at <= covered) continue;
    let from = at;
    while (from > 0 && samePrefix(order[from - 1]!, order[from]!)) from--;
    let to = at + 1;
    while (to < n && samePrefix(order[to - 1]!, order[to]!)) to++;
    if (to - from > 1) order.set(Array.from(order.subarray(from, to)).sort(byKey), from);
    covered = to - 1;
  }
  return order;
}

/**
 * keyOrder for the usual keys: a syslog timestamp, `Mmm dd hh:mm:ss` (a capital and two small
 * letters, a day as two digits or a blank and a digit, six digits with colons; the key ends there).
 * Over keys of that one shape, byte order is the order of a mixed-radix number, so those lines are
 * sorted by a stable radix sort of small integers: four passes of at most 2,048 buckets, a pass
 * skipped where every key has the same digit, none at all for keys already in order (a single log
 * usually is). `order`: the input indexes of those lines, sorted; `others`: the rest, in input order;
 * with others, `hi` and `lo`: the sorted lines' keys as numbers (for {@link stampChar}).
 */
function stampOrder(input: readonly string[]): { readonly order: Uint32Array; readonly others: number[]; readonly hi: Uint32Array; readonly lo: Uint32Array } {
  const n = input.length;
  // Per stamped line, in input order: its index, hi (month letters and day: < 17,576 * 110) and
  // lo (hhmmss as six decimal digits: < 1,000,000).
  const idx = new Uint32Array(n);
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  const others: number[] = [];
  let m = 0;
  let sorted = true;
  for (let k = 0; k < n; k++) {
    const l = input[k]!;
    const m0 = l.charCodeAt(0) - 65;
    const m1 = l.charCodeAt(1) - 97;
    const m2 = l.charCodeAt(2) - 97;
    const d0 = l.charCodeAt(4);
    const d1 = l.charCodeAt(5) - 48;
    const after = l.length === 15 ? 0x20 : l.charCodeAt(15);
    const t0 = l.charCodeAt(7) - 48;
    const t1 = l.charCodeAt(8) - 48;
    const t2 = l.charCodeAt(10) - 48;
    const t3 = l.charCodeAt(11) - 48;
    const t4 = l.charCodeAt(13) - 48;
    const t5 = l.charCodeAt(14) - 48;
    // Unsigned compares: a char below the range wraps to a large number (and past the end, NaN fails).
    if (
      !(l.length >= 15 && m0 >>> 0 <= 25 && m1 >>> 0 <= 25 && m2 >>> 0 <= 25 && l.charCodeAt(3) === 0x20 && (d0 === 0x20 || (d0 - 48) >>> 0 <= 9) && d1 >>> 0 <= 9) ||
      !(l.charCodeAt(6) === 0x20 && l.charCodeAt(9) === 58 && l.charCodeAt(12) === 58 && (after === 0x20 || after === 0x09)) ||
      !(t0 >>> 0 <= 9 && t1 >>> 0 <= 9 && t2 >>> 0 <= 9 && t3 >>> 0 <= 9 && t4 >>> 0 <= 9 && t5 >>> 0 <= 9)
    ) {
      others.push(k);
      continue;
    }
    const h = ((m0 * 26 + m1) * 26 + m2) * 110 + (d0 === 0x20 ? 0 : d0 - 47) * 10 + d1;
    const t = ((((t0 * 10 + t1) * 10 + t2) * 10 + t3) * 10 + t4) * 10 + t5;
    if (sorted && m > 0 && (h < hi[m - 1]! || (h === hi[m - 1]! && t < lo[m - 1]!))) sorted = false;
    idx[m] = k;
    hi[m] = h;
    lo[m] = t;
    m++;
  }
  // order holds positions 0..m-1 into idx/hi/lo until the end.
  let order = new Uint32Array(m);
  for (let j = 0; j < m; j++) order[j] = j;
  if (!sorted) {
    let next = new Uint32Array(m);
    const count = new Uint32Array(2049);
    const dig = new Uint16Array(m);
    // Least significant digit first: lo % 1000, lo / 1000, hi % 2048, hi / 2048.
    for (let p = 0; p < 4; p++) {
      for (let j = 0; j < m; j++) dig[j] = p === 0 ? lo[j]! % 1000 : p === 1 ? (lo[j]! / 1000) | 0 : p === 2 ? hi[j]! & 2047 : hi[j]! >>> 11;
      count.fill(0);
      for (let j = 0; j < m; j++) count[dig[j]! + 1]!++;
      if (count[dig[0]! + 1] === m) continue;
      for (let b = 1; b < count.length; b++) count[b]! += count[b - 1]!;
      for (let i = 0; i < m; i++) {
        const j = order[i]!;
        next[count[dig[j]!]!++] = j;
      }
      [order, next] = [next, order];
    }
  }
  const sortedHi = new Uint32Array(others.length === 0 ? 0 : m);
  const sortedLo = new Uint32Array(others.length === 0 ? 0 : m);
  for (let i = 0; i < m; i++) {
    const j = order[i]!;
    if (others.length > 0) {
      sortedHi[i] = hi[j]!;
      sortedLo[i] = lo[j]!;
    }
    order[i] = idx[j]!;
  }
  return { order, others, hi: sortedHi, lo: sortedLo };
}

/** Divisors of hhmmss for the digits at key positions 7-14 (the colons' 0s are never used). */
const STAMP_DIGIT_DIV = [100000, 10000, 0, 1000, 100, 0, 10, 1];

/** Char p (0-14) of the timestamp key stampOrder encoded as (h, t). */
function stampChar(h: number, t: number, p: number): number {
  switch (p) {
    case 0:
      return 65 + Math.floor(h / (110 * 676));
    case 1:
      return 97 + (Math.floor(h / (110 * 26)) % 26);
    case 2:
      return 97 + (Math.floor(h / 110) % 26);
    case 4: {
      const d0 = Math.floor((h % 110) / 10);
      return d0 === 0 ? 0x20 : 47 + d0;
    }
    case 5:
      return 48 + (h % 10);
    case 3:
    case 6:
      return 0x20;
    case 9:
    case 12:
      return 58;
    default:
      // Digits of t at 7, 8, 10, 11, 13, 14.
      return 48 + (Math.floor(t / STAMP_DIGIT_DIV[p - 7]!) % 10);
  }
}

/**
 * logcheck's `sed -e 's/[[:space:]]*$//'`, by hand: a regex `\s+$` backtracks quadratically on a
 * long run of blanks followed by anything else (200 KB of spaces then "x" took seconds).
 */
function trimTrailingSpace(l: string): string {
  let e = l.length;
  for (;;) {
    const c = l.charCodeAt(e - 1);
    if (e > 0 && (c === 0x20 || (c >= 0x09 && c <= 0x0d))) e--;
    else break;
  }
  return e === l.length ? l : l.slice(0, e);
}

/** End of sort's key `-k 1,3`: fields are a run of blanks (space, tab) then a run of non-blanks. */
function keyEnd(l: string): number {
  let p = 0;
  const n = l.length;
  const blank = (c: number): boolean => c === 0x20 || c === 0x09;
  for (let f = 0; f < 3; f++) {
    while (p < n && blank(l.charCodeAt(p))) p++;
    while (p < n && !blank(l.charCodeAt(p))) p++;
  }
  return p;
}

/**
 * Compiles a rule tree for one level. Never throws for a bad rule: it goes to `problems` with its
 * file and line, and the rest of its file still applies (logcheck's grep would reject the whole file
 * at every use: for a raise file that loses its section, for an ignore file it empties the stage).
 * The patterns are first compiled only together, in the common set (half the time: compiling each
 * one alone as well, to pin a bad one to its line, cost 0.17-0.2 s of Debian's database); only when
 * the set will not build is the tree compiled again, each pattern alone first, and the ones RE2
 * refuses reported. (`trusted` = false: that careful way at once.) A pattern that the system's RE2
 * in the native matcher accepts and node-re2 would refuse is then used, not reported.
 */
export function compileRules(tree: RuleTreeInput, opts: RuleOptions, titles: Titles = DEFAULT_TITLES, trusted = true): RuleSet {
  compileCharset = opts.locale === undefined || opts.locale === 'C' ? undefined : Utf8Charset.forRules(opts.locale, treeTexts(tree));
  sharedSet = new SharedEreSet('u', true, compileCharset);
  compileFileRank = opts.fileOrder === undefined ? undefined : new Map(opts.fileOrder.map((name, k) => [name, k]));
  trustedCompile = trusted;
  try {
    const rules = compileRulesInto(tree, opts, titles);
    // Building the automata is part of compiling, not of the first run's first line.
    sharedSet.freeze();
    return rules;
  } catch (e) {
    // `trusted` was wrong (a pattern does not compile alone): compile again the careful way.
    if (!trusted) throw e;
  } finally {
    sharedSet = undefined;
    trustedCompile = false;
    compileCharset = undefined;
    compileFileRank = undefined;
  }
  return compileRules(tree, opts, titles, false);
}

/** Every rule text of a tree (a UTF-8 locale's alphabet gives each character they write its own element). */
function treeTexts(tree: RuleTreeInput): string[] {
  if (tree.layout === 'psionic') return [tree.hacking, tree.violations, tree.violationsIgnore, tree.ignore].filter((t): t is string => t !== undefined);
  const dirs = [tree.cracking, tree.crackingIgnore, tree.violations, tree.violationsIgnore, tree.ignore.workstation, tree.ignore.server, tree.ignore.paranoid];
  return dirs.flatMap((d) => (d ?? []).map((f) => f.text));
}

function compileRulesInto(tree: RuleTreeInput, opts: RuleOptions, titles: Titles): RuleSet {
  const problems: RuleProblem[] = [];
  if (tree.layout === 'psionic') {
    const one = (name: string, text: string | undefined, ignoreCase: boolean): CleanFile | undefined => {
      if (text === undefined) return undefined;
      const m = { patterns: [] as string[], refs: [] as RuleRef[] };
      // 1.1 used the files as they were: every line, even blank or comment lines, is a pattern;
      // an empty line matches everything. (egrep -f)
      text.split('\n').forEach((l, k, a) => {
        if (k === a.length - 1 && l === '') return;
        m.patterns.push(l);
        m.refs.push({ file: name, line: k + 1 });
      });
      return { name, refs: m.refs, list: compileList(m.patterns, m.refs, problems, ignoreCase) };
    };
    // 1.1's case rules: alerts and violations with egrep -i, the ignore files case-sensitive.
    const rules: PsionicRules = {
      layout: 'psionic',
      hacking: one('logcheck.hacking', tree.hacking, true),
      violations: one('logcheck.violations', tree.violations, true),
      violationsIgnore: one('logcheck.violations.ignore', tree.violationsIgnore, false),
      ignore: one('logcheck.ignore', tree.ignore, false),
    };
    return new RuleSet(rules, problems, titles, compileCharset);
  }
  const dir = (name: string, files: RuleDirInput | undefined): CleanDir | undefined =>
    files === undefined ? undefined : cleanDir([{ dir: name, files }], problems);
  const cracking = dir('cracking.d', tree.cracking);
  const crackingIgnore = opts.supportCrackingIgnore ? dir('cracking.ignore.d', tree.crackingIgnore) : undefined;
  const levels: readonly ReportLevel[] =
    opts.level === 'workstation' ? ['workstation', 'server', 'paranoid'] : opts.level === 'server' ? ['server', 'paranoid'] : ['paranoid'];
  const ignoreSources = levels.flatMap((l) => {
    const files = tree.ignore[l];
    return files === undefined ? [] : [{ dir: `ignore.d.${l}`, files }];
  });
  const rules: DebianRules = {
    layout: 'debian',
    // With SUPPORT_CRACKING_IGNORE=1 and no cracking.ignore.d, logcheck skips the cracking check.
    crackingRaise: opts.supportCrackingIgnore && crackingIgnore === undefined ? undefined : cracking,
    cracking,
    crackingIgnore,
    violations: dir('violations.d', tree.violations),
    violationsIgnore: dir('violations.ignore.d', tree.violationsIgnore),
    ignore: ignoreSources.length === 0 ? undefined : cleanDir(ignoreSources, problems),
    shared: sharedSet,
  };
  return new RuleSet(rules, problems, titles, compileCharset);
}

/**
 * The report as logcheck prints it (without header.txt/footer.txt): each section's title, a rule
 * of alternating `=` and `-` as long as the title, its lines, and an empty line.
 */
export function renderReport(report: Report): string {
  let out = '';
  for (const s of report.sections) {
    let rule = '';
    for (let k = 0; k < s.title.length; k++) rule += k % 2 === 0 ? '=' : '-';
    out += `${s.title}\n${rule}\n`;
    for (const l of s.lines) out += `${l}\n`;
    out += '\n';
  }
  return out;
}
