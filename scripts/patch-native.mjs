#!/usr/bin/env node
// Root `postinstall`: applies patches/*.patch with patch-package, then rebuilds the native `cap`
// binding when its compiled binary predates the patched source. npm runs cap's own `node-gyp rebuild`
// before the root postinstall, so on a fresh install the binary is built from the unpatched source and
// must be built again. Safe to run repeatedly: an applied patch is left alone and an up-to-date binary
// is not rebuilt. Any failure exits non-zero so `npm ci` fails instead of leaving a stale binding.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(root, 'package.json'));

function fail(msg) {
  console.error(`patch-native: ${msg}`);
  process.exit(1);
}

function run(cmd, args) {
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (res.error) fail(`${cmd} ${args.join(' ')}: ${res.error.message}`);
  if (res.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${res.status ?? res.signal}`);
}

let patchPackageBin;
try {
  patchPackageBin = join(require.resolve('patch-package/package.json'), '..', 'index.js');
} catch {
  fail('patch-package is not installed (it is a root devDependency; install without --omit=dev)');
}
// --error-on-fail: outside CI patch-package would otherwise exit 0 after a patch failed to apply.
run(process.execPath, [patchPackageBin, '--error-on-fail']);

const capDir = join(root, 'node_modules', 'cap');
const source = join(capDir, 'src', 'binding.cc');
const binary = join(capDir, 'build', 'Release', 'cap.node');

// Loaded in a child: a native module cannot be unloaded, so this process could not re-check it
// after a rebuild.
function bindingIsPatched() {
  const probe = "process.exit(typeof require('cap').Cap.prototype.stats === 'function' ? 0 : 3)";
  const res = spawnSync(process.execPath, ['-e', probe], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return res.status === 0;
}

const stale = !existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs;
if (stale || !bindingIsPatched()) {
  console.log('patch-native: rebuilding cap from the patched source');
  // npm sets npm_execpath for lifecycle scripts; use the same npm that is running this install.
  const npmCli = process.env['npm_execpath'];
  if (npmCli && npmCli.endsWith('.js')) run(process.execPath, [npmCli, 'rebuild', 'cap']);
  else run('npm', ['rebuild', 'cap']);
  if (!bindingIsPatched()) fail('cap was rebuilt but its binding still lacks stats(): is the patch applied?');
}
console.log('patch-native: cap binding is patched (stats, packet timestamps, optional promisc)');
