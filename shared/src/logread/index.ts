/**
 * Reading logs from where the last run stopped: files (logtail2's offset files, rotation-aware) and
 * the systemd journal (by cursor). Used by logsentry for its reports and by hostsentry for sshd lines.
 */
export * from './logfile.js';
export * from './journal.js';
