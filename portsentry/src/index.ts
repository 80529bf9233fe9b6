/** @trisentry/portsentry — port scan detection. Public surface for the umbrella command. */
export { loadPortsentryConfig, CLASSIC_KEYS, type PortsentryConfig, type BlockLevel } from './config.js';
export { checkPortsentryConfig, runDaemon, type DaemonOptions } from './daemon.js';
export { main } from './cli.js';
export { replayCapture, stealthPlan, type ReplayResult, type StealthPlan } from './stealth.js';
