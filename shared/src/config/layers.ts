/**
 * Layered YAML configs, fail2ban style: the shipped `NAME.yaml`, then `NAME.local.yaml` beside it,
 * then `NAME.d/*.yaml` in lexical order, then command-line flags. Mappings merge key by key; a
 * scalar or a list replaces what was below it. Every value keeps the position of the layer that set
 * it, so an error names that file (or that flag).
 *
 * {@link parseLayers} is pure (texts in, value or errors out); {@link loadLayeredConfig} only adds
 * the file reading.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { ConfigError, ConfigErrors } from '../errors.js';
import type { SourcePos } from '../errors.js';
import { tryReadConfigText } from './read.js';
import { readWithSchema } from './schema.js';
import type { Field, Infer } from './schema.js';
import { parseYamlText } from './yaml.js';
import type { ConfigMapEntry, ConfigNode } from './yaml.js';

/** A setting from the command line: `path` is the dotted key ("blocking.backend"), `origin` names the flag in errors. */
export interface ConfigFlag {
  readonly path: string;
  readonly value: string;
  readonly origin: string;
}

/** One layer's text and the file name used in its errors. */
export interface ConfigSource {
  readonly file: string;
  readonly text: string;
}

/** Merges `over` onto `base`: mappings key by key (recursively), anything else replaced by `over`. */
export function mergeNodes(base: ConfigNode | undefined, over: ConfigNode): ConfigNode {
  if (base === undefined || base.kind !== 'map' || over.kind !== 'map') return over;
  const entries = new Map<string, ConfigMapEntry>(base.entries);
  for (const [k, e] of over.entries) {
    const below = entries.get(k);
    entries.set(k, { keyPos: e.keyPos, value: mergeNodes(below?.value, e.value) });
  }
  return { kind: 'map', entries, pos: base.pos };
}

/** Sets one flag on a tree: creates the mappings on its path and puts the flag's text at the end. */
export function applyFlag(root: ConfigNode, flag: ConfigFlag): ConfigNode {
  const pos = { file: flag.origin };
  const keys = flag.path.split('.');
  const set = (node: ConfigNode | undefined, i: number): ConfigNode => {
    const key = keys[i] ?? '';
    const map: ConfigNode = node !== undefined && node.kind === 'map' ? node : { kind: 'map', entries: new Map(), pos };
    const entries = new Map(map.kind === 'map' ? map.entries : []);
    const below = entries.get(key)?.value;
    const value: ConfigNode = i === keys.length - 1 ? { kind: 'scalar', value: flag.value, fromText: true, pos } : set(below, i + 1);
    entries.set(key, { keyPos: pos, value });
    return { kind: 'map', entries, pos: map.pos };
  };
  return set(root, 0);
}

/**
 * Parses layers (lowest first) and flags with a schema. Pure. Returns the deep-frozen typed value,
 * or throws one ConfigErrors holding every error of every layer (syntax errors stop before the
 * schema is applied, since a half-read file would give misleading "missing key" errors).
 * `rootFile` positions errors about the whole config when no layer has content.
 */
export function parseLayers<F extends Field<unknown>>(schema: F, sources: readonly ConfigSource[], flags: readonly ConfigFlag[] = [], rootFile = sources[0]?.file ?? '<config>'): Infer<F> {
  const errors: ConfigError[] = [];
  let root: ConfigNode = { kind: 'map', entries: new Map(), pos: { file: rootFile } };
  let syntax = false;
  for (const src of sources) {
    const r = parseYamlText(src.text, src.file);
    errors.push(...r.errors);
    if (r.errors.some((e) => e.code === 'CFG_SYNTAX')) syntax = true;
    if (r.root !== undefined) root = mergeNodes(root, r.root);
  }
  if (syntax) throw new ConfigErrors(errors);
  for (const f of flags) root = applyFlag(root, f);
  const ctx = { errors };
  const value = readWithSchema(schema, root, ctx);
  if (value === undefined || errors.length > 0) throw new ConfigErrors(errors);
  return value;
}

/** The files a layered config is read from, in order, for a base path such as /etc/trisentry/portsentry.yaml. */
export function layerFiles(basePath: string): { readonly base: string; readonly local: string; readonly dir: string } {
  const ext = extname(basePath);
  const stem = basename(basePath, ext);
  const dir = dirname(basePath);
  return { base: basePath, local: join(dir, `${stem}.local${ext}`), dir: join(dir, `${stem}.d`) };
}

function isMissing(e: unknown): boolean {
  return e instanceof Error && 'code' in e && (e as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The parsed config and, for diagnostics, the files it was read from in order. */
export interface LoadedConfig<T> {
  readonly config: T;
  readonly files: readonly string[];
}

/**
 * Reads `basePath` (required), `NAME.local.yaml` beside it (if present), and every `NAME.d/*.yaml`
 * (if the folder exists; sorted by code point, names starting with "." skipped as editor leftovers),
 * applies `flags`, and parses the result with `schema` (see {@link parseLayers}). Synchronous: it runs
 * once at start-up or on reload. Throws ConfigErrors (CFG_UNREADABLE for a file that exists but
 * cannot be read, or a missing base file).
 */
export function loadLayeredConfig<F extends Field<unknown>>(schema: F, basePath: string, flags: readonly ConfigFlag[] = []): LoadedConfig<Infer<F>> {
  const { base, local, dir } = layerFiles(basePath);
  const sources: ConfigSource[] = [];
  const errors: ConfigError[] = [];
  const read = (file: string, optional: boolean): void => {
    const r = tryReadConfigText(file);
    if ('text' in r) sources.push({ file, text: r.text });
    else if (!(optional && r.missing)) errors.push(r.error);
  };
  read(base, false);
  read(local, true);
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.yaml') && !n.startsWith('.'));
  } catch (e) {
    if (!isMissing(e)) errors.push(new ConfigError('CFG_UNREADABLE', `cannot list: ${e instanceof Error ? e.message : String(e)}`, { pos: { file: dir } }));
  }
  // Plain code-point order, not the locale's, so "10-x" and "9-y" sort the same everywhere.
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const n of names) read(join(dir, n), false);
  if (errors.length > 0) throw new ConfigErrors(errors);
  const config = parseLayers(schema, sources, flags, base);
  return Object.freeze({ config, files: Object.freeze(sources.map((x) => x.file)) });
}

/**
 * Where the dotted `key` (list items as `name[3]`) was last set in `files` (merged in order), or just
 * `fallback` when no layer sets it (the key kept its default). Re-reads the files, so use it only to
 * position an error.
 */
export function findKeyPosition(files: readonly string[], key: string, fallback: string): SourcePos {
  let root: ConfigNode | undefined;
  for (const f of files) {
    const r = tryReadConfigText(f);
    if (!('text' in r)) continue; // readable moments ago; if not now, the file name alone will do
    const parsed = parseYamlText(r.text, f);
    if (parsed.root !== undefined) root = root === undefined ? parsed.root : mergeNodes(root, parsed.root);
  }
  let node = root;
  let pos: SourcePos = { file: fallback };
  for (const part of key.split('.')) {
    const m = /^([^[]+)(?:\[([0-9]+)\])?$/.exec(part);
    if (m === null || node?.kind !== 'map') return pos;
    const e = node.entries.get(m[1]!);
    if (e === undefined) return pos;
    node = e.value;
    pos = node.pos;
    if (m[2] !== undefined && node.kind === 'list') {
      const it = node.items[Number(m[2])];
      if (it === undefined) return pos;
      node = it;
      pos = it.pos;
    }
  }
  return pos;
}

/** A cross-field rule's finding: the dotted key it is about and why. */
export type ConfigProblem = readonly [key: string, why: string];

/**
 * {@link loadLayeredConfig}, then `rules` (cross-field checks that need no I/O) on the result; each
 * problem becomes a CFG_BAD_VALUE positioned where its key was last set. Throws ConfigErrors.
 */
export function loadCheckedConfig<F extends Field<unknown>>(
  schema: F,
  basePath: string,
  rules: (config: Infer<F>) => readonly ConfigProblem[],
  flags: readonly ConfigFlag[] = [],
): LoadedConfig<Infer<F>> {
  const loaded = loadLayeredConfig(schema, basePath, flags);
  const problems = rules(loaded.config);
  if (problems.length > 0) {
    throw new ConfigErrors(problems.map(([key, why]) => new ConfigError('CFG_BAD_VALUE', why, { pos: findKeyPosition(loaded.files, key, basePath), key })));
  }
  return loaded;
}
