/** @trisentry/hostsentry — login anomaly detection. */
export { main } from './cli.js';
