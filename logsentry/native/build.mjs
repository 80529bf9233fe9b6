#!/usr/bin/env node
// Builds the native batch matcher (re2batch.cc against the system's libre2: Debian's libre2-dev)
// with node-gyp, the way npm builds any addon. Optional: when it cannot be built (no compiler, no
// libre2-dev), logsentry matches through node-re2 alone, slower, and this says why. Rebuilds only
// when the source is newer than the built module.
//   node logsentry/native/build.mjs [--force]
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const here = dirname(new URL(import.meta.url).pathname);
const built = join(here, 'build/Release/re2batch.node');
const sources = ['re2batch.cc', 'binding.gyp'].map((f) => join(here, f));
const fresh = existsSync(built) && sources.every((s) => statSync(s).mtimeMs <= statSync(built).mtimeMs);
if (fresh && !process.argv.includes('--force')) process.exit(0);

// node-gyp: npm's own (npm puts it on the path of its scripts and names it in npm_config_node_gyp).
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const npmDir = dirname(dirname(process.execPath));
  for (const c of [join(npmDir, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'), '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js', '/usr/share/nodejs/node-gyp/bin/node-gyp.js']) {
    if (existsSync(c)) return c;
  }
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}

const gyp = nodeGyp();
if (gyp === undefined) {
  console.warn('logsentry native matcher: not built (node-gyp not found); logsentry will use node-re2 alone');
  process.exit(0);
}
if (!existsSync('/usr/include/re2/set.h')) {
  console.warn('logsentry native matcher: not built (no /usr/include/re2/set.h: install libre2-dev); logsentry will use node-re2 alone');
  process.exit(0);
}
const args = [gyp, 'rebuild'];
// Node's own headers when the system has them (Debian's nodejs-dev, NodeSource's node); else node-gyp fetches them.
if (!process.env.npm_config_nodedir && existsSync(join(dirname(dirname(process.execPath)), 'include/node/node_api.h'))) {
  args.push(`--nodedir=${dirname(dirname(process.execPath))}`);
}
try {
  execFileSync(process.execPath, args, { cwd: here, stdio: ['ignore', 'ignore', 'pipe'] });
  console.log('logsentry native matcher: built');
} catch (e) {
  const err = e.stderr?.toString().trim().split('\n').slice(-5).join('\n') ?? String(e);
  console.warn(`logsentry native matcher: not built; logsentry will use node-re2 alone:\n${err}`);
}
