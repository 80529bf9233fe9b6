/** @trisentry/logsentry — Logcheck-compatible log reports. */
export { main } from './cli.js';
export { logsentrySchema, checkLogsentryConfig, logsentryConfigProblems, cronProblem, type LogsentryConfig } from './config.js';
