/**
 * Where things are: the shipped etc/ directory, the default config, the state directory, and each
 * sentry's executable. Resolved once at start-up.
 */
import { existsSync } from 'node:fs';
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

/** The command that runs a sentry: its bin script beside this package, under this node. */
export function sentryArgv(name: string): string[] {
  const bin = join(SUITE_ROOT, name, 'bin', `${name}.js`);
  return existsSync(bin) ? [process.execPath, bin] : [name];
}
