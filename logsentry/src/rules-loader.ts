/**
 * Reads a logcheck rule tree from disk into the plain input of core/rules.ts. Files are read as
 * latin1 so every byte stays one char (grep works byte-wise in the C locale).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compileRules, type RuleDirInput, type RuleSet, type RuleTreeInput, type ReportLevel, type Titles, DEFAULT_TITLES } from './core/rules.js';
import type { MatchLocale } from './core/utf8ctype.js';

/** Which layout a rules directory holds: `auto` is debian when `cracking.d` exists, else psionic. */
export function detectLayout(dir: string, layout: 'auto' | 'debian' | 'psionic'): 'debian' | 'psionic' {
  if (layout !== 'auto') return layout;
  return existsSync(join(dir, 'cracking.d')) ? 'debian' : 'psionic';
}

function readDir(path: string): RuleDirInput | undefined {
  let names: string[];
  try {
    if (!statSync(path).isDirectory()) return undefined;
    names = readdirSync(path);
  } catch {
    return undefined;
  }
  const out: { name: string; text: string }[] = [];
  for (const name of names) {
    const p = join(path, name);
    // Only regular files (through symlinks) count, as logcheck's `[ -f ]` test; an unreadable one throws.
    if (!statSync(p).isFile()) continue;
    out.push({ name, text: readFileSync(p, 'latin1') });
  }
  return out;
}

function readText(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'latin1') : undefined;
}

/**
 * Reads the rule tree under `dir` in the given layout. Missing directories/files are left
 * undefined (logcheck skips them); an unreadable rule file throws (logcheck stops on it too).
 */
export function readRuleTree(dir: string, layout: 'auto' | 'debian' | 'psionic'): RuleTreeInput {
  const l = detectLayout(dir, layout);
  if (l === 'psionic') {
    return {
      layout: 'psionic',
      hacking: readText(join(dir, 'logcheck.hacking')),
      violations: readText(join(dir, 'logcheck.violations')),
      violationsIgnore: readText(join(dir, 'logcheck.violations.ignore')),
      ignore: readText(join(dir, 'logcheck.ignore')),
    };
  }
  const d = (name: string): RuleDirInput | undefined => readDir(join(dir, name));
  const ignore: { [L in ReportLevel]?: RuleDirInput } = {};
  for (const lvl of ['paranoid', 'server', 'workstation'] as const) {
    const files = d(`ignore.d.${lvl}`);
    if (files !== undefined) ignore[lvl] = files;
  }
  const tree: RuleTreeInput = { layout: 'debian', ignore };
  const cracking = d('cracking.d');
  const crackingIgnore = d('cracking.ignore.d');
  const violations = d('violations.d');
  const violationsIgnore = d('violations.ignore.d');
  return {
    ...tree,
    ...(cracking === undefined ? {} : { cracking }),
    ...(crackingIgnore === undefined ? {} : { crackingIgnore }),
    ...(violations === undefined ? {} : { violations }),
    ...(violationsIgnore === undefined ? {} : { violationsIgnore }),
  };
}

/**
 * Reads and compiles the rules under `dir` for one level (see compileRules for `problems`), in the
 * C locale unless `locale` says otherwise (with `fileOrder`, see RuleOptions).
 */
export function loadRules(
  dir: string,
  opts: { readonly layout: 'auto' | 'debian' | 'psionic'; readonly level: ReportLevel; readonly supportCrackingIgnore: boolean; readonly locale?: MatchLocale; readonly fileOrder?: readonly string[] },
  titles: Titles = DEFAULT_TITLES,
): RuleSet {
  const { layout, ...ruleOpts } = opts;
  return compileRules(readRuleTree(dir, layout), ruleOpts, titles);
}

/** Splits a log file's bytes into lines as byte strings (latin1), without the final newline's empty line. */
export function splitLogBytes(buf: Buffer): string[] {
  const s = buf.toString('latin1');
  const lines = s.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}
