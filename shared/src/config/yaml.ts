/**
 * YAML text to a position-carrying tree ({@link ConfigNode}) that the schema reads and the layers
 * merge. Every node remembers `file:line:col`, so any later error can point at the text that set it.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { ConfigError } from '../errors.js';
import type { SourcePos } from '../errors.js';

/** A config value with where it came from. `fromText` scalars came from a flag and are always strings to parse. */
export type ConfigNode =
  | { readonly kind: 'scalar'; readonly value: string | number | boolean | null; readonly fromText: boolean; readonly pos: SourcePos }
  | { readonly kind: 'list'; readonly items: readonly ConfigNode[]; readonly pos: SourcePos }
  | { readonly kind: 'map'; readonly entries: ReadonlyMap<string, ConfigMapEntry>; readonly pos: SourcePos };

/** One key of a mapping: where the key was written, and its value. */
export interface ConfigMapEntry {
  readonly keyPos: SourcePos;
  readonly value: ConfigNode;
}

/** The result of reading one YAML text: the tree (undefined for an empty document) and any problems. */
export interface YamlParseResult {
  readonly root: ConfigNode | undefined;
  /** CFG_SYNTAX (the tree is then undefined) and CFG_DUPLICATE_KEY (the later value wins in the tree). */
  readonly errors: readonly ConfigError[];
}

// Anchors and aliases could nest without end; real config files are nowhere near this deep.
const MAX_DEPTH = 64;

/**
 * Parses YAML text into a {@link ConfigNode} tree. Pure. A syntax error is CFG_SYNTAX at its position;
 * a key repeated in one mapping is CFG_DUPLICATE_KEY at the repeat, with the dotted key path.
 */
export function parseYamlText(text: string, file: string): YamlParseResult {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false });
  const at = (offset: number | undefined): SourcePos => {
    if (offset === undefined) return { file };
    const { line, col } = lc.linePos(offset);
    return { file, line, col };
  };
  const errors: ConfigError[] = [];
  for (const e of doc.errors) {
    const msg = e.message.split('\n')[0] ?? e.message;
    errors.push(new ConfigError('CFG_SYNTAX', `YAML syntax: ${msg}`, { pos: at(e.pos[0]) }));
  }
  if (errors.length > 0) return { root: undefined, errors };
  if (doc.contents === null) return { root: undefined, errors };
  const root = convert(doc, doc.contents, '', at, errors, 0);
  return { root, errors };
}

function describe(n: unknown): string {
  return isMap(n) ? 'mapping' : isSeq(n) ? 'list' : 'value';
}

function convert(
  doc: Document,
  node: YamlNode,
  path: string,
  at: (offset: number | undefined) => SourcePos,
  errors: ConfigError[],
  depth: number,
): ConfigNode {
  const pos = at(node.range?.[0]);
  if (depth > MAX_DEPTH) {
    errors.push(new ConfigError('CFG_SYNTAX', 'nested too deeply', { pos, key: path }));
    return { kind: 'scalar', value: null, fromText: false, pos };
  }
  if (isAlias(node)) {
    const target = node.resolve(doc);
    if (!target) {
      errors.push(new ConfigError('CFG_SYNTAX', `unknown alias *${node.source}`, { pos, key: path }));
      return { kind: 'scalar', value: null, fromText: false, pos };
    }
    // The value is the anchored one, but errors in it point at the alias that brought it here.
    const inner = convert(doc, target, path, at, errors, depth + 1);
    return { ...inner, pos } as ConfigNode;
  }
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return { kind: 'scalar', value: v, fromText: false, pos };
    errors.push(new ConfigError('CFG_BAD_VALUE', `unsupported YAML value type ${typeof v}`, { pos, key: path }));
    return { kind: 'scalar', value: null, fromText: false, pos };
  }
  if (isSeq(node)) {
    const items: ConfigNode[] = [];
    node.items.forEach((item, i) => {
      const p = `${path}[${i}]`;
      if (item === null || typeof item !== 'object' || !('range' in (item as object))) {
        items.push({ kind: 'scalar', value: null, fromText: false, pos });
        return;
      }
      items.push(convert(doc, item as YamlNode, p, at, errors, depth + 1));
    });
    return { kind: 'list', items, pos };
  }
  if (isMap(node)) {
    const entries = new Map<string, ConfigMapEntry>();
    for (const pair of node.items) {
      const k = pair.key;
      if (!isScalar(k) || (typeof k.value !== 'string' && typeof k.value !== 'number' && typeof k.value !== 'boolean')) {
        const kp = at(isScalar(k) || isMap(k) || isSeq(k) ? k.range?.[0] : undefined);
        errors.push(new ConfigError('CFG_SYNTAX', `a key must be a plain name, not a ${describe(k)}`, { pos: kp, key: path }));
        continue;
      }
      const name = String(k.value);
      const keyPos = at(k.range?.[0]);
      const childPath = path === '' ? name : `${path}.${name}`;
      const first = entries.get(name);
      if (first) {
        errors.push(new ConfigError('CFG_DUPLICATE_KEY', `duplicate key "${name}" (first set at line ${first.keyPos.line ?? '?'})`, { pos: keyPos, key: childPath }));
      }
      const v = pair.value;
      const value: ConfigNode =
        v === null || v === undefined || !(isScalar(v) || isMap(v) || isSeq(v) || isAlias(v))
          ? { kind: 'scalar', value: null, fromText: false, pos: keyPos }
          : convert(doc, v, childPath, at, errors, depth + 1);
      entries.set(name, { keyPos, value });
    }
    return { kind: 'map', entries, pos };
  }
  errors.push(new ConfigError('CFG_SYNTAX', 'unsupported YAML node', { pos, key: path }));
  return { kind: 'scalar', value: null, fromText: false, pos };
}
