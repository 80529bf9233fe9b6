/** @trisentry/hostsentry — login anomaly detection. */
export { main } from './cli.js';
export { hostsentrySchema, checkHostsentryConfig, hostsentryConfigProblems, type HostsentryConfig, type Severity } from './config.js';
