/** @trisentry/logsentry — Logcheck-compatible log reports. */
export { main } from './cli.js';
export { logsentrySchema, checkLogsentryConfig, logsentryConfigProblems, cronProblem, type LogsentryConfig } from './config.js';
export { runOnce, type RunOptions, type RunResult } from './run.js';
export { loadConfig } from './cli.js';
export { logcheckConfFlags } from './logcheckconf.js';
export { loadRules, readRuleTree, detectLayout } from './rules-loader.js';
export { compileRules, prepareLines, RuleSet, type Classification, type Verdict } from './core/rules.js';
export { translateEre, EreList } from './core/ere.js';
export { renderReport, formatSubjectDate } from './report.js';
export { createMailer, readSmtpPassword, MailError } from './mail.js';
export { spool, deliverSpooled, pendingSpooled, spoolDirOf } from './spool.js';
export { readInputs, readLogLists, readNew, readJournal } from './inputs/index.js';
