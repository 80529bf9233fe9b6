/**
 * Where things are: the shipped etc/ directory, the default config, the state directory, and each
 * sentry's executable. Resolved once at start-up.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (or installed package tree) root: trisentry/dist/src/ -> ../../.. */
export const SUITE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The shipped default configuration directory. */
export const SHIPPED_ETC = join(SUITE_ROOT, 'etc');

/** The system-wide configuration, used when present. */
export const SYSTEM_CONFIG = '/etc/trisentry/trisentry.yaml';

/** The config file used when none is named: the system one if installed, else the shipped one. */
export function defaultConfigPath(): string {
  return existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : join(SHIPPED_ETC, 'trisentry.yaml');
}

/** True when running with root's privileges. */
export function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

/**
 * The state directory for `auto`: /var/lib/trisentry for root, otherwise the XDG state directory
 * ($XDG_STATE_HOME/trisentry, default ~/.local/state/trisentry) so an unprivileged run works.
 */
export function autoStateDir(): string {
  if (isRoot()) return '/var/lib/trisentry';
  const xdg = process.env['XDG_STATE_HOME'];
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.local', 'state'), 'trisentry');
}

/**
 * The command that runs a sentry: its bin script beside this package, under this node, with the
 * node flags of the script's `#!/usr/bin/env -S node --flag...` line (logsentry's larger young
 * generation), which running the script through node directly would skip.
 */
export function sentryArgv(name: string): string[] {
  const bin = join(SUITE_ROOT, name, 'bin', `${name}.js`);
  if (!existsSync(bin)) return [name];
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '';
  const flags = first.startsWith('#!') ? first.split(/\s+/).filter((w) => /^--[a-z][a-z0-9-]*(=\S+)?$/.test(w)) : [];
  return [process.execPath, ...flags, bin];
}
