/** @trisentry/trisentry — the umbrella command's pieces. */
export { main } from './cli.js';
export { loadSuiteConfig, suiteSchema, type SuiteConfig, type ResolvedSuite } from './config.js';
export { Supervisor, SENTRIES, type SentryName, type SuiteStatus, type SentryStatus } from './supervisor.js';
