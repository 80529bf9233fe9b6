// Agreement with Debian's real logcheck 1.4: the same generated log goes through /usr/sbin/logcheck
// (extracted by scripts/install-reference-tools, run as `nobody` since it refuses root) and through
// our rules core; the printed sections must be byte-for-byte identical, for each report level.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRules, splitLogBytes } from '../src/rules-loader.js';
import { renderReport } from '../src/core/rules.js';
import { generateLog, runLogcheck, DB, REF, type Case } from './logcheck-ref.js';


function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (to run logcheck as the unprivileged user nobody)';
  if (!existsSync(REF) || !existsSync(DB)) return 'reference logcheck not extracted: run scripts/install-reference-tools';
  for (const b of ['/usr/sbin/runuser', '/usr/bin/lockfile-create', '/usr/bin/run-parts', '/usr/bin/grep', '/usr/bin/sort']) {
    if (!existsSync(b)) return `${b} is missing`;
  }
  return undefined;
}



const CASES: readonly Case[] = [
  { name: 'paranoid', level: 'paranoid', sortUnique: false, supportCrackingIgnore: false, custom: false },
  { name: 'server', level: 'server', sortUnique: false, supportCrackingIgnore: false, custom: false },
  { name: 'workstation', level: 'workstation', sortUnique: false, supportCrackingIgnore: false, custom: false },
  { name: 'server, local rules, SORTUNIQ=1, SUPPORT_CRACKING_IGNORE=1', level: 'server', sortUnique: true, supportCrackingIgnore: true, custom: true },
  { name: 'workstation, local rules', level: 'workstation', sortUnique: false, supportCrackingIgnore: false, custom: true },
];

/** The shipped database plus local files exercising local-*, logcheck-named files and cracking.ignore.d. */
function customTree(dir: string): void {
  cpSync(DB, dir, { recursive: true });
  writeFileSync(join(dir, 'cracking.d/logcheck'), '# generic\nATTACK-GENERIC\nrshd\\[\n');
  writeFileSync(join(dir, 'cracking.ignore.d/kernel'), 'Oversized packet received from 198\\.18\\.0\\.7$\n');
  writeFileSync(join(dir, 'cracking.ignore.d/local-x'), 'in\\.tftpd.*198\\.18\\.1\\.\n');
  writeFileSync(join(dir, 'violations.d/logcheck'), 'FAILED (SU|LOGIN)\nincorrect password\n');
  writeFileSync(join(dir, 'violations.ignore.d/local-test'), 'COMMAND=/opt/ok\n');
  writeFileSync(join(dir, 'violations.ignore.d/logcheck'), 'FAILED SU \\(to root\\) bob\n');
  writeFileSync(join(dir, 'ignore.d.server/local-mine'), '\n  \n# comment\nntpd\\[[0-9]+\\]: Listen\n');
  // run-parts skips names with a dot: this file must have no effect.
  writeFileSync(join(dir, 'violations.d/kernel.dpkg-old'), '.*\n');
}

test('our report equals Debian logcheck 1.4 for the same log and rules', async (t) => {
  const why = skipReason();
  if (why !== undefined) {
    t.skip(why);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'ls-agree-'));
  chmodSync(work, 0o755);
  try {
    const log = join(work, 'syslog');
    const lines = generateLog(6000, 1404);
    writeFileSync(log, Buffer.from(lines.join('\n') + '\n', 'latin1'), { mode: 0o644 });
    const input = splitLogBytes(Buffer.from(lines.join('\n') + '\n', 'latin1'));
    const custom = join(work, 'rules');
    customTree(custom);
    for (const c of CASES) {
      await t.test(c.name, async (t2) => {
        const ruleDir = c.custom ? custom : DB;
        const t0 = performance.now();
        const theirs = await runLogcheck(work, ruleDir, log, c);
        const t1 = performance.now();
        const rules = loadRules(ruleDir, { layout: 'auto', level: c.level, supportCrackingIgnore: c.supportCrackingIgnore });
        assert.deepEqual(rules.problems, [], 'every shipped rule compiles');
        const report = rules.buildReport(input, c.sortUnique);
        const ours = renderReport(report);
        const t2t = performance.now();
        t2.diagnostic(`logcheck ${(t1 - t0).toFixed(0)} ms, logsentry (load+classify) ${(t2t - t1).toFixed(0)} ms`);
        t2.diagnostic(report.sections.map((s) => `${s.title}: ${s.lines.length}`).join('; '));
        const a = theirs.split('\n');
        const b = ours.split('\n');
        const k = a.findIndex((l, j) => l !== b[j]);
        if (k >= 0 || a.length !== b.length) {
          const at = k >= 0 ? k : Math.min(a.length, b.length);
          assert.fail(`reports differ at line ${at + 1}:\n logcheck: ${JSON.stringify(a[at])}\n ours:     ${JSON.stringify(b[at])}\n(logcheck ${a.length} lines, ours ${b.length})`);
        }
        assert.ok(report.sections.length >= 2, 'the log reaches more than one section');
      });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
