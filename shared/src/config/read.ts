/**
 * Reading config files as text, with read failures turned into config errors.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, ConfigErrors } from '../errors.js';

/** A file's text, or that it does not exist, or why it could not be read (CFG_UNREADABLE). */
export type ReadOutcome = { readonly text: string } | { readonly missing: true; readonly error: ConfigError } | { readonly missing: false; readonly error: ConfigError };

/** Reads a file as UTF-8 without throwing. */
export function tryReadConfigText(path: string): ReadOutcome {
  try {
    return { text: readFileSync(path, 'utf8') };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const code = e instanceof Error && 'code' in e ? (e as NodeJS.ErrnoException).code : undefined;
    return { missing: code === 'ENOENT', error: new ConfigError('CFG_UNREADABLE', `cannot read: ${why}`, { pos: { file: path } }) };
  }
}

/** Reads a file as UTF-8 text; any failure throws a ConfigErrors with CFG_UNREADABLE. */
export function readConfigText(path: string): string {
  const r = tryReadConfigText(path);
  if ('text' in r) return r.text;
  throw new ConfigErrors([r.error]);
}
