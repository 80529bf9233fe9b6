/**
 * Which logs to read: logcheck's list files (`logcheck.logfiles`, then `logcheck.logfiles.d/*.logfiles`
 * in name order), one absolute path a line or the word `journal`, `#` comments and blank lines
 * ignored; plus the paths listed in logsentry.yaml's `inputs.files`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

/** What the lists name. */
export interface LogList {
  /** Log paths in first-listed order, each once. */
  readonly files: readonly string[];
  /** True when some list file has a `journal` line. */
  readonly journal: boolean;
  /** List files that could not be read and lines that are not absolute paths, as `file:line: why`. */
  readonly problems: readonly string[];
}

/**
 * Parses the text of one list file. logcheck keeps lines that `grep -E -v "(^#|^[[:space:]]*$)"`
 * lets through; we also trim surrounding white space (a trailing blank would otherwise name a file
 * that does not exist) and so treat an indented `#` as a comment too. Pure.
 */
export function parseLogList(text: string, source: string): { entries: string[]; journal: boolean; problems: string[] } {
  const entries: string[] = [];
  const problems: string[] = [];
  let journal = false;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line === 'journal') journal = true;
    else if (!isAbsolute(line)) problems.push(`${source}:${i + 1}: ${JSON.stringify(line)} is not an absolute path (nor the word journal); ignored`);
    else entries.push(line);
  }
  return { entries, journal, problems };
}

/**
 * Reads the list files, then every `*.logfiles` file of each list directory (sorted by name, as the
 * shell glob in logcheck does), then appends `extraFiles`. A missing list file or directory is skipped
 * (logsentry.yaml's documented behaviour; logcheck reports it as an error only for the main list), an
 * unreadable one is a problem. Duplicates are dropped, so a file is read once per run.
 */
export function readLogLists(listFiles: readonly string[], listDirs: readonly string[], extraFiles: readonly string[] = []): LogList {
  const files: string[] = [];
  const seen = new Set<string>();
  const problems: string[] = [];
  let journal = false;
  const add = (p: string): void => {
    if (!seen.has(p)) {
      seen.add(p);
      files.push(p);
    }
  };
  const readList = (file: string): void => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') problems.push(`${file}: cannot read (${code ?? (e as Error).message})`);
      return;
    }
    const r = parseLogList(text, file);
    journal ||= r.journal;
    problems.push(...r.problems);
    r.entries.forEach(add);
  };
  for (const f of listFiles) readList(f);
  for (const d of listDirs) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') problems.push(`${d}: cannot read directory (${code ?? (e as Error).message})`);
      continue;
    }
    // Byte order, as bash sorts globs under LC_ALL=C (logcheck's cron job).
    for (const n of names.filter((x) => x.endsWith('.logfiles') && !x.startsWith('.')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      readList(join(d, n));
    }
  }
  extraFiles.forEach(add);
  return { files, journal, problems };
}
