/** @trisentry/logsentry — Logcheck-compatible log reports. */
export { main } from './cli.js';
