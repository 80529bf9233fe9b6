#!/usr/bin/env node
// Classification throughput: N generated syslog lines (default 1,000,000) through logsentry's rules
// core and through Debian's real logcheck 1.4 (`logcheck -o -t`, run as nobody) with the full
// logcheck-database at level server, in the same run; the reports must be identical. Then the worst
// case: a 1 MB line and lines crafted against the rules. Needs root (logcheck refuses root, so it
// runs as nobody) and scripts/install-reference-tools. Run after `npm run build`:
//   node bench/logsentry-classify.mjs [--lines N] [--level server|paranoid|workstation] [--skip-ref]
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const root = new URL('..', import.meta.url).pathname;
const { loadRules, splitLogBytes } = await import(join(root, 'logsentry/dist/src/rules-loader.js'));
const { renderReport } = await import(join(root, 'logsentry/dist/src/core/rules.js'));
const { generateLog, runLogcheck, DB } = await import(join(root, 'logsentry/dist/test/logcheck-ref.js'));

const arg = (n, d) => {
  const i = process.argv.indexOf(n);
  return i >= 0 ? process.argv[i + 1] : d;
};
const N = Number(arg('--lines', '1000000'));
const LEVEL = arg('--level', 'server');
const skipRef = process.argv.includes('--skip-ref') || process.getuid?.() !== 0;

const work = mkdtempSync(join(tmpdir(), 'ls-bench-'));
chmodSync(work, 0o755);
try {
  // The generator's million strings are dropped before measuring: kept alive, they were a third of
  // the heap every garbage collection of the measured run had to walk.
  const bytes = (() => {
    const lines = generateLog(N, 1404);
    return Buffer.from(lines.join('\n') + '\n', 'latin1');
  })();
  const log = join(work, 'syslog');
  writeFileSync(log, bytes, { mode: 0o644 });
  console.log(`logsentry classification benchmark: ${N.toLocaleString('en')} lines (${(bytes.length / 1e6).toFixed(0)} MB), logcheck-database at level ${LEVEL}`);

  const t0 = performance.now();
  const rules = loadRules(DB, { layout: 'debian', level: LEVEL, supportCrackingIgnore: false });
  const tCompile = performance.now() - t0;
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  const input = splitLogBytes(bytes);
  const report = rules.buildReport(input, false);
  const ours = renderReport(report);
  const tOurs = performance.now() - t1;
  // CPU time beside wall time: on a shared machine the wall time includes waiting for a core.
  const cpu = process.cpuUsage(c1);
  const cpuOurs = (cpu.user + cpu.system) / 1000;
  const rss = process.memoryUsage().rss;

  let tRef;
  let same = 'not compared';
  if (!skipRef) {
    const t2 = performance.now();
    const ref = await runLogcheck(work, DB, log, { name: LEVEL, level: LEVEL, sortUnique: false, supportCrackingIgnore: false, custom: false });
    tRef = performance.now() - t2;
    same = ref === ours ? 'identical' : `DIFFERENT (${ref.length} vs ${ours.length} bytes)`;
  }
  const lps = (ms) => Math.round((N / ms) * 1000).toLocaleString('en');
  console.log('tool                      | seconds | lines/s     | RSS MB');
  console.log(`TriSentry logsentry       | ${(tOurs / 1000).toFixed(2).padStart(7)} | ${lps(tOurs).padStart(11)} | ${(rss / 2 ** 20).toFixed(0)}  (+ ${(tCompile / 1000).toFixed(2)} s compiling ${'1,907'} rules once; CPU ${(cpuOurs / 1000).toFixed(2)} s)`);
  if (tRef !== undefined) console.log(`Debian logcheck 1.4 -o -t | ${(tRef / 1000).toFixed(2).padStart(7)} | ${lps(tRef).padStart(11)} | (grep/sort pipeline)`);
  else console.log('Debian logcheck 1.4       | skipped (needs root and scripts/install-reference-tools)');
  console.log(`reports: ${same}${tRef !== undefined ? `; speed-up ${(tRef / tOurs).toFixed(1)}x` : ''}`);

  // Worst cases: one 1 MB line, and lines shaped to make backtracking engines explode on these rules.
  const evil = [
    'Nov 21 10:00:00 host kernel: ' + 'a'.repeat(1_000_000),
    'Nov 21 10:00:00 host sshd[1]: ' + 'Failed password for '.repeat(20_000),
    'Nov 21 10:00:00 host postfix/smtpd[1]: ' + '['.repeat(50_000) + ']'.repeat(50_000),
    'Nov 21 10:00:00 host ' + ' '.repeat(200_000) + 'x',
  ];
  const t3 = performance.now();
  rules.buildReport(evil, false);
  const tEvil = performance.now() - t3;
  console.log(`pathological lines (1 MB line, 400 KB repetitive, 100 KB brackets, 200 KB spaces): ${tEvil.toFixed(0)} ms for all four`);
  console.log(JSON.stringify({ bench: 'logsentry-classify', lines: N, level: LEVEL, oursMs: Math.round(tOurs), oursCpuMs: Math.round(cpuOurs), compileMs: Math.round(tCompile), refMs: tRef === undefined ? null : Math.round(tRef), identical: same === 'identical', evilMs: Math.round(tEvil) }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
