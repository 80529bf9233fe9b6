/**
 * One logsentry run, as logcheck 1.4 does it but losing nothing: lock, deliver what an earlier run
 * spooled, read every input from its offset, classify, render, spool, advance the offsets, mail.
 *
 * Order (see spool.ts): the spool file is the commit point. Offsets advance only once the report is
 * safely on disk in the spool (or printed with -o), and a spooled report is removed only when the
 * mail server accepted it. Killed before the spool write: the next run reads the same lines again.
 * Killed between the spool write and the offset write: the next run sends the spooled report and
 * reads those lines again (reported twice: at-least-once, never lost). `-t` advances nothing.
 *
 * Log lines travel as bytes end to end, as in logcheck: read as byte strings (inputs), matched as
 * such (rules core), rendered in the report's bytes mode, printed (`-o`) and mailed as those bytes.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, FileStateError, pendingBytes, type Lock } from '@trisentry/shared';
import type { LogsentryConfig } from './config.js';
import { readInputs, readLogLists } from './inputs/index.js';
import { readRuleTree } from './rules-loader.js';
import { compileRules, type RuleOptions, type Titles } from './core/rules.js';
import { poolFor, type MatchPool } from './pool.js';
import { hostname as osHostname } from 'node:os';
import { formatSubjectDate, PSIONIC_DATE_FORMAT, renderPsionicReport, renderReport, sanitizeHeaderValue, type ReportSection as OutSection } from './report.js';
import { DEFAULT_DATE_FORMAT } from './config.js';
import { createMailer, readSmtpPassword, resolveHostName } from './mail.js';
import { deliverSpooled, spool, spoolDirOf } from './spool.js';
import { preflightLocale, ruleFileOrder, systemSort } from './locale.js';
import type { MatchLocale } from './core/utf8ctype.js';

/** Per-run choices from the command line. */
export interface RunOptions {
  /** -o: print the report instead of mailing it. */
  readonly stdout: boolean;
  /** -t: advance no offset, no cursor. */
  readonly test: boolean;
  /** -R: "Reboot: " in the subject. */
  readonly reboot: boolean;
  /** -l: check only this file (its offset is kept as usual). */
  readonly logFile?: string;
  /** Where -o writes the report's bytes (default process.stdout). */
  readonly write?: (bytes: Buffer) => void;
  /** The run's time (tests). */
  readonly now?: Date;
  /** rules.locale as resolved and checked at start-up (see locale.ts); absent: resolved here from the environment. */
  readonly locale?: MatchLocale;
}

/** What a run did. */
export interface RunResult {
  /** Lines read. */
  readonly lines: number;
  /** The report's subject, or undefined when there was nothing to report. */
  readonly subject: string | undefined;
  /** Reports mailed (spooled ones from earlier runs included). */
  readonly delivered: number;
  /** Rules that could not be compiled, `file:line: message`. */
  readonly ruleProblems: readonly string[];
}

/** A syslog line's usual length with its newline, for guessing a batch's lines from its bytes. */
const TYPICAL_LINE_BYTES = 100;

// header.txt/footer.txt as byte strings: logcheck `cat`s them into the report as they are.
function readOptional(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'latin1') : undefined;
}

/**
 * For `-t`: a private copy of the state directory's files (offsets, fingerprints, the journal cursor
 * and its logcheck stamp, with their times, which the journal's first-run `--since` reads). A run
 * whose backlog is read in several batches advances the copy from batch to batch, so `-t` goes on
 * through the whole backlog (reading the real directory again would repeat the first batch forever)
 * and leaves the real state as it was.
 */
function scratchState(stateDir: string): string {
  const scratch = mkdtempSync(join(tmpdir(), 'logsentry-t-'));
  let names: string[] = [];
  try {
    names = readdirSync(stateDir);
  } catch {
    // No state yet: a first run, read from the start.
  }
  for (const name of names) {
    const from = join(stateDir, name);
    const st = statSync(from, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) continue;
    const to = join(scratch, name);
    copyFileSync(from, to);
    utimesSync(to, st.atime, st.mtime);
  }
  return scratch;
}

/**
 * Runs once. Throws UnavailableError when another run holds the lock, MailError (LS_SMTP_*) when
 * mail fails (the report stays spooled; offsets have advanced, so nothing is read twice), and the
 * input and config errors of the layers below.
 */
export async function runOnce(cfg: LogsentryConfig, opts: RunOptions): Promise<RunResult> {
  const now = opts.now ?? new Date();
  let lock: Lock;
  try {
    lock = acquireLock(cfg.lock_file);
  } catch (e) {
    throw new FileStateError('FS_LOCKED', cfg.lock_file, `another logsentry run holds this lock (${(e as Error).message}); this run does nothing`);
  }
  try {
    const host = await resolveHostName(cfg.report.subject);
    const spoolDir = spoolDirOf(cfg.state_dir);
    const password = cfg.mail.smtp.password_file !== '' ? readSmtpPassword(cfg.mail.smtp.password_file) : undefined;
    const mailer = opts.stdout ? undefined : createMailer(cfg.mail, { host, ...(password !== undefined ? { password } : {}) });
    let delivered = 0;
    let pool: MatchPool | undefined;
    let readState = cfg.state_dir;
    try {
      // Earlier runs' reports first, in order: the administrator gets them before newer ones.
      if (mailer !== undefined && !opts.test) delivered += (await deliverSpooled(spoolDir, (r) => mailer.send(r))).delivered.length;

      const lists = opts.logFile !== undefined ? { files: [opts.logFile], journal: false, problems: [] as string[] } : readLogLists(cfg.inputs.list_files, cfg.inputs.list_dirs, cfg.inputs.files);
      const journal = opts.logFile === undefined && (cfg.inputs.journal === 'on' || (cfg.inputs.journal === 'auto' && lists.journal));
      const tree = readRuleTree(cfg.rules.dir, cfg.rules.layout);
      const locale = opts.locale ?? preflightLocale(cfg.rules.locale, process.env).locale;
      // Under en_US.UTF-8 the system's sort orders the lines and, as bash's glob does, the rule files.
      const collate = locale === 'en_US.UTF-8' && tree.layout === 'debian';
      const fileOrder = collate ? await ruleFileOrder(tree, locale) : undefined;
      const ruleOpts: RuleOptions = { level: cfg.report.level, supportCrackingIgnore: cfg.rules.support_cracking_ignore, locale, ...(fileOrder === undefined ? {} : { fileOrder }) };
      const titles: Titles = { attack: cfg.report.subject.attack, security: cfg.report.subject.security, events: cfg.report.subject.events };
      // Worker threads only for a big batch (a backlog, a first run). When the files' new bytes
      // promise one, they start now, so their compiling overlaps this thread's compiling and
      // reading; otherwise once the lines are read (the journal's are not known before).
      const threads = cfg.rules.threads === 'auto' ? 'auto' : Number(cfg.rules.threads);
      const pending = lists.files.reduce((sum, f) => sum + Math.min(pendingBytes(f, cfg.state_dir), cfg.inputs.batch_bytes), 0);
      pool = poolFor(tree, ruleOpts, titles, Math.floor(pending / TYPICAL_LINE_BYTES), threads);
      const rules = compileRules(tree, ruleOpts, titles);
      const ruleProblems = rules.problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
      // Psionic 1.1's subject: `hostname` as it prints (short, usually) and `date +%m/%d/%y:%H.%M`,
      // unless the administrator set a host name or a date format of their own.
      const psionicHost = cfg.report.subject.hostname !== '' ? host : sanitizeHeaderValue(osHostname());
      const psionicDate = cfg.report.subject.date_format === DEFAULT_DATE_FORMAT ? PSIONIC_DATE_FORMAT : cfg.report.subject.date_format;

      let lines = 0;
      let subject: string | undefined;
      readState = opts.test ? scratchState(cfg.state_dir) : cfg.state_dir;
      for (;;) {
        const input = await readInputs({ files: lists.files, journal, normalizeTimestamps: cfg.inputs.normalize_timestamps }, readState, now.getTime(), {
          file: { maxBytes: cfg.inputs.batch_bytes },
        });
        lines += input.texts.length;
        // logtail's warnings reach logcheck among the log lines; so do ours.
        let texts = input.warnings.length === 0 ? input.texts : [...input.warnings, ...input.texts];
        if (collate) texts = await systemSort(texts, locale, cfg.report.sort_unique ? 'unique' : 'keys');
        pool ??= poolFor(tree, ruleOpts, titles, texts.length, threads);
        const report = pool === undefined ? rules.buildReport(texts, cfg.report.sort_unique, collate) : await pool.buildReport(rules, texts, cfg.report.sort_unique, undefined, collate);
        const errors = [
          ...lists.problems.map((p) => `E: ${p}`),
          ...ruleProblems.map((p) => `E: rule left out: ${p}`),
          ...(pool?.problems ?? []).map((p) => `E: a worker thread failed (this thread decided its lines): ${p}`),
          ...(rules.matcherProblem === undefined ? [] : [`E: ${rules.matcherProblem}`]),
        ];
        const sections: OutSection[] = report.sections.map((s) => ({ kind: s.kind === 'events' ? 'unusual' : s.kind, title: s.title, lines: s.lines }));
        const rendered = rules.layout === 'psionic' ? renderPsionicReport({
          sections,
          host: psionicHost,
          date: formatSubjectDate(now, psionicDate, -now.getTimezoneOffset()),
          reboot: opts.reboot,
          maxSize: cfg.report.max_size,
          ...(cfg.report.subject.add_tag ? { tag: cfg.report.subject.tag } : {}),
          errors,
          bytes: true,
        }) : renderReport({
          sections,
          host,
          date: formatSubjectDate(now, cfg.report.subject.date_format, -now.getTimezoneOffset()),
          reboot: opts.reboot,
          intro: cfg.report.intro,
          ...(cfg.report.intro ? { header: readOptional(join(cfg.rules.dir, 'header.txt')), footer: readOptional(join(cfg.rules.dir, 'footer.txt')) } : {}),
          maxSize: cfg.report.max_size,
          summary: cfg.report.summary,
          subjectWords: { attack: cfg.report.subject.attack, security: cfg.report.subject.security, events: cfg.report.subject.events },
          ...(cfg.report.subject.add_tag ? { tag: cfg.report.subject.tag } : {}),
          errors,
          bytes: true,
        });
        if (rendered !== null) subject ??= rendered.subject;
        if (opts.stdout) {
          if (rendered !== null) (opts.write ?? ((b: Buffer) => process.stdout.write(b)))(Buffer.from(rendered.body, 'latin1'));
          if (!opts.test) input.commit();
        } else if (rendered !== null && opts.test) {
          // -t: mail it, but keep nothing: no spool, no offsets (the next run reports these lines again).
          await mailer!.send({ subject: rendered.subject, body: rendered.body, bytes: true });
          delivered++;
        } else if (rendered !== null) {
          spool(spoolDir, { subject: rendered.subject, body: rendered.body, bytes: true }, { host, now });
          input.commit();
          delivered += (await deliverSpooled(spoolDir, (r) => mailer!.send(r))).delivered.length;
        } else if (!opts.test) input.commit();
        if (!input.more) return { lines, subject, delivered, ruleProblems };
        // -t: the next batch starts where this one ended, in the scratch copy only.
        if (opts.test) input.commit();
      }
    } finally {
      if (readState !== cfg.state_dir) rmSync(readState, { recursive: true, force: true });
      mailer?.close();
      await pool?.close();
    }
  } finally {
    lock.release();
  }
}
