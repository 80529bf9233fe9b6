#!/usr/bin/env node
// Classification throughput: N generated syslog lines (default 1,000,000) through logsentry's rules
// core (on one thread, and with a pool of worker threads as a run starts one for a big batch: cold,
// its workers still compiling, and warm) and through Debian's real logcheck 1.4 (`logcheck -o -t`,
// run as nobody) with the full logcheck-database at level server, in the same run; the reports must
// be identical. Then the worst case: a 1 MB line and lines crafted against the rules. Needs root (logcheck refuses root, so it
// runs as nobody) and scripts/install-reference-tools. Run after `npm run build`:
//   node bench/logsentry-classify.mjs [--lines N] [--level server|paranoid|workstation] [--rounds 3] [--skip-ref]
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const root = new URL('..', import.meta.url).pathname;

// Measured under the node flags bin/logsentry.js runs with (its shebang line), as a run from cron
// would be: re-executed with them when they are missing.
{
  const { readFileSync } = await import('node:fs');
  const shebang = readFileSync(join(root, 'logsentry/bin/logsentry.js'), 'utf8').split('\n')[0];
  const flags = shebang.split(/\s+/).filter((w) => w.startsWith('--'));
  if (flags.some((f) => !process.execArgv.includes(f))) {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [...process.execArgv, ...flags, ...process.argv.slice(1)], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  console.log(`node flags (as bin/logsentry.js): ${flags.join(' ') || 'none'}`);
}
const { readRuleTree, splitLogBytes } = await import(join(root, 'logsentry/dist/src/rules-loader.js'));
const { compileRules, renderReport } = await import(join(root, 'logsentry/dist/src/core/rules.js'));
const { MatchPool, autoWorkers } = await import(join(root, 'logsentry/dist/src/pool.js'));
const { nativeStatus } = await import(join(root, 'logsentry/dist/src/core/native.js'));
const { escapeControlBytes } = await import(join(root, 'logsentry/dist/src/report.js'));
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

  const tree = readRuleTree(DB, 'debian');
  const opts = { level: LEVEL, supportCrackingIgnore: false };
  const t0 = performance.now();
  const rules = compileRules(tree, opts);
  const tCompile = performance.now() - t0;

  // One measured pass: from the log's bytes to the rendered report, as a run does it.
  const measure = async (how) => {
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    let pool;
    if (how.threads > 0) pool = new MatchPool(tree, opts, undefined, how.threads);
    if (how.warm) await pool.ready();
    const tStart = how.warm ? performance.now() : t1;
    const input = splitLogBytes(bytes);
    const report = pool === undefined ? rules.buildReport(input, false) : await pool.buildReport(rules, input, false);
    const text = renderReport(report);
    const ms = performance.now() - tStart;
    // CPU of every thread of the process (the workers' compiling included for a cold pool).
    const cpu = process.cpuUsage(c1);
    await pool?.close();
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, text, rss: process.memoryUsage().rss };
  };
  const threads = autoWorkers() > 0 ? autoWorkers() : 1;
  // Each mode ROUNDS times, interleaved, and the median taken: this machine's speed drifts by a
  // third from minute to minute (measured), more than the differences between the modes.
  const ROUNDS = Number(arg('--rounds', '3'));
  const runs = { one: [], cold: [], warm: [] };
  // Every report is compared with the first and dropped (kept, they would slow the later runs).
  let oneText;
  let same12 = true;
  const keep = (list, r) => {
    oneText ??= r.text;
    if (r.text !== oneText) same12 = false;
    r.text = undefined;
    list.push(r);
  };
  for (let i = 0; i < ROUNDS; i++) {
    keep(runs.one, await measure({ threads: 0 }));
    // The pool as a run starts it for a big batch: its workers compile the tree while this thread
    // encodes and sorts (cold); and once compiled (warm: a long-lived daemon's second batch).
    keep(runs.cold, await measure({ threads }));
    keep(runs.warm, await measure({ threads, warm: true }));
  }
  // The command an administrator runs, end to end: node starting, the config, compiling, reading the
  // file, classifying, rendering the report (controls escaped) and writing it out. logcheck's time
  // below is that too (logtail, sort, the greps, the report), so this is the like-for-like figure.
  // One report for the whole file, uncut, as logcheck prints it: no 64 MiB batches, no size cap.
  const cliOut = join(work, 'cli.out');
  const cliRuns = [];
  for (let i = 0; i < ROUNDS; i++) {
    const state = mkdtempSync(join(work, 'state-'));
    const t = performance.now();
    const r = spawnSync(process.execPath, [
      join(root, 'logsentry/bin/logsentry.js'), '-o', '-t', '-l', log, '-r', DB, '-S', state, LEVEL === 'paranoid' ? '-p' : LEVEL === 'workstation' ? '-w' : '-s',
      '--set', 'inputs.batch_bytes=1073741824', '--set', 'report.max_size=1073741824', '--set', 'report.intro=false',
    ], { stdio: ['ignore', openSync(cliOut, 'w'), 'pipe'] });
    cliRuns.push({ ms: performance.now() - t });
    if (r.status !== 0) throw new Error(`logsentry CLI failed (${r.status}): ${r.stderr}`);
  }
  const median = (rs) => [...rs].sort((a, b) => a.ms - b.ms)[Math.floor(rs.length / 2)];
  const one = median(runs.one);
  const cold = median(runs.cold);
  const warm = median(runs.warm);

  let tRef;
  let same = 'not compared';
  let sameCli = 'not compared';
  if (!skipRef) {
    const t2 = performance.now();
    const ref = await runLogcheck(work, DB, log, { name: LEVEL, level: LEVEL, sortUnique: false, supportCrackingIgnore: false, custom: false });
    tRef = performance.now() - t2;
    same = ref === oneText && same12 ? 'identical' : `DIFFERENT (logcheck ${ref.length} bytes, ours ${oneText.length}${same12 ? '' : '; the pool differs from one thread'})`;
    // The CLI writes control characters escaped (#ooo), logcheck writes them raw: escape logcheck's.
    const cli = readFileSync(cliOut, 'latin1');
    sameCli = cli === ref.split('\n').map(escapeControlBytes).join('\n') ? 'identical' : `DIFFERENT (logcheck ${ref.length} bytes, CLI ${cli.length})`;
  } else if (!same12) same = 'DIFFERENT (the pool differs from one thread)';
  const lps = (ms) => Math.round((N / ms) * 1000).toLocaleString('en');
  const row = (name, r) => console.log(`${name.padEnd(34)}| ${(r.ms / 1000).toFixed(2).padStart(7)} | ${lps(r.ms).padStart(11)} | ${(r.cpuMs / 1000).toFixed(2).padStart(5)} | ${tRef === undefined ? '' : `${(tRef / r.ms).toFixed(1)}x`}`);
  console.log(`rules: ${(tCompile / 1000).toFixed(2)} s to compile once (each pool worker compiles its own copy, ${threads} here); native batch matcher: ${nativeStatus()}`);
  console.log(`each mode run ${ROUNDS} times, interleaved; the median shown (all runs: one thread ${runs.one.map((r) => (r.ms / 1000).toFixed(2)).join(' ')}; cold ${runs.cold.map((r) => (r.ms / 1000).toFixed(2)).join(' ')}; warm ${runs.warm.map((r) => (r.ms / 1000).toFixed(2)).join(' ')} s)`);
  console.log('tool                              | seconds | lines/s     | CPU s | speed-up');
  row('logsentry, one thread', one);
  row(`logsentry, ${threads} worker(s), cold`, cold);
  row(`logsentry, ${threads} worker(s), warm`, warm);
  if (tRef !== undefined) console.log(`${'Debian logcheck 1.4 -o -t'.padEnd(34)}| ${(tRef / 1000).toFixed(2).padStart(7)} | ${lps(tRef).padStart(11)} |       | (grep/sort pipeline)`);
  else console.log('Debian logcheck 1.4: skipped (needs root and scripts/install-reference-tools)');
  if (tRef !== undefined) console.log(`whole run (compile + cold pool) against logcheck: ${(tRef / (tCompile + cold.ms)).toFixed(1)}x`);
  const cliMs = median(cliRuns).ms;
  console.log(`${'logsentry -o -t -l LOG (the CLI)'.padEnd(34)}| ${(cliMs / 1000).toFixed(2).padStart(7)} | ${lps(cliMs).padStart(11)} |       | ${tRef === undefined ? '' : `${(tRef / cliMs).toFixed(1)}x`}   (end to end, like logcheck's figure; runs ${cliRuns.map((r) => (r.ms / 1000).toFixed(2)).join(' ')} s)`);
  console.log(`reports: ${same}; the CLI's: ${sameCli}; RSS after the runs ${(Math.max(one.rss, cold.rss, warm.rss) / 2 ** 20).toFixed(0)} MB`);

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
  console.log(JSON.stringify({ bench: 'logsentry-classify', lines: N, level: LEVEL, threads, oneMs: Math.round(one.ms), oneCpuMs: Math.round(one.cpuMs), coldMs: Math.round(cold.ms), coldCpuMs: Math.round(cold.cpuMs), warmMs: Math.round(warm.ms), warmCpuMs: Math.round(warm.cpuMs), compileMs: Math.round(tCompile), refMs: tRef === undefined ? null : Math.round(tRef), cliMs: Math.round(cliMs), identical: same === 'identical', cliIdentical: sameCli === 'identical', evilMs: Math.round(tEvil) }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
