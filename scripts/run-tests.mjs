#!/usr/bin/env node
// Finds every compiled test file (*/dist/test/**/*.test.js, test/dist/**/*.test.js) and runs them with
// node's own test runner, one file at a time (the lab tests share the kernel's namespaces and firewall).
// Arguments are substrings: only test files whose path contains one of them run.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const roots = ['shared', 'portsentry', 'logsentry', 'hostsentry', 'trisentry'].map((w) => join(root, w, 'dist', 'test'));
roots.push(join(root, 'test', 'dist'));

function walk(dir, out) {
  let names;
  try { names = readdirSync(dir); } catch { return; }
  for (const n of names.sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (n.endsWith('.test.js')) out.push(p);
  }
}
const files = [];
for (const r of roots) walk(r, files);
const filters = process.argv.slice(2);
const chosen = filters.length ? files.filter((f) => filters.some((s) => relative(root, f).includes(s))) : files;
if (chosen.length === 0) { console.error('run-tests: no test files found (did the build run?)'); process.exit(1); }
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...chosen], { stdio: 'inherit', cwd: root });
process.exit(res.status ?? 1);
