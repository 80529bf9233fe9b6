/**
 * A small schema DSL for the sentries' YAML configs. A schema both validates a {@link ConfigNode}
 * tree and gives the TypeScript type of the result (`Infer<typeof schema>`), so there is no second,
 * hand-written interface to drift. Each field carries a doc string and its default for generated docs.
 *
 * ```ts
 * const schema = s.object({
 *   blocking: s.object({
 *     backend: s.enumOf(['nftables', 'dry-run'] as const, { default: 'nftables', doc: 'Firewall backend.' }),
 *     timeout: s.duration({ default: 48 * 3600, doc: 'How long a block lasts.' }),
 *   }),
 * });
 * type Config = Infer<typeof schema>;
 * ```
 */
import { ConfigError } from '../errors.js';
import type { SourcePos } from '../errors.js';
import { AddressSet } from '../net/addressset.js';
import type { ReadonlyAddressSet } from '../net/addressset.js';
import { tryParsePrefix } from '../net/ip.js';
import { parseDuration } from './duration.js';
import { parsePortListText, mergeRanges } from './ports.js';
import type { PortRange } from './ports.js';
import { didYouMean } from './suggest.js';
import type { ConfigNode, ConfigMapEntry } from './yaml.js';

/** Marks a value that failed to parse; its errors are already in the context. */
const INVALID: unique symbol = Symbol('invalid');
type Invalid = typeof INVALID;

/** Where parse errors are collected while one config is read. */
export interface ParseContext {
  readonly errors: ConfigError[];
}

/** The kinds of field, for documentation generators. */
export type FieldKind =
  | 'object'
  | 'string'
  | 'integer'
  | 'boolean'
  | 'duration'
  | 'enum'
  | 'path'
  | 'port'
  | 'portList'
  | 'addressList'
  | 'list';

/** One field of a schema; `T` is the type of its parsed value. Build fields with {@link s}. */
export interface Field<T> {
  readonly kind: FieldKind;
  readonly doc: string | undefined;
  /** True when an absent key is fine: it has a default, is optional, or is an object whose fields all are. */
  readonly hasDefault: boolean;
  /** The value used when the key is absent (deep-frozen), when `hasDefault`. */
  readonly defaultValue: T | undefined;
  /** Extra facts for docs: enum names, int bounds, object shape, list item. */
  readonly meta: Readonly<Record<string, unknown>>;
  /** Reads a node; pushes errors to `ctx` and returns INVALID on failure. `path` is the dotted key path. */
  readonly read: (node: ConfigNode, ctx: ParseContext, path: string) => T | Invalid;
}

/** The parsed type of a field. */
export type Infer<F> = F extends Field<infer T> ? T : never;

/** The fields of an object. */
export type Shape = Record<string, Field<unknown>>;

/** The parsed type of an object schema: every key, read-only. */
export type ObjectOf<S extends Shape> = { readonly [K in keyof S]: Infer<S[K]> };

/** Options every scalar field takes. */
export interface FieldOptions<T> {
  /** What the setting does, for generated docs. */
  readonly doc?: string;
  /** Value when the key is absent; without it the key is required. */
  readonly default?: T;
}

/** True when `v` is the failure marker. */
export function isInvalid(v: unknown): v is Invalid {
  return v === INVALID;
}

function fail(ctx: ParseContext, code: 'CFG_BAD_VALUE' | 'CFG_UNKNOWN_KEY' | 'CFG_MISSING_KEY' | 'CFG_UNKNOWN_NAME' | 'CFG_BAD_DURATION' | 'CFG_BAD_ADDRESS', pos: SourcePos, path: string, detail: string): Invalid {
  ctx.errors.push(new ConfigError(code, detail, { pos, key: path }));
  return INVALID;
}

function found(node: ConfigNode): string {
  switch (node.kind) {
    case 'map':
      return 'a mapping';
    case 'list':
      return 'a list';
    case 'scalar': {
      const v = node.value;
      if (v === null) return 'nothing (null)';
      if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
      return `${typeof v} ${String(v)}`;
    }
    default: {
      const never: never = node;
      return String(never);
    }
  }
}

/** Freezes plain objects and arrays all the way down (class instances such as AddressSet are left as they are). */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v) && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

function field<T>(kind: FieldKind, opts: FieldOptions<T> | undefined, meta: Record<string, unknown>, read: Field<T>['read']): Field<T> {
  const hasDefault = opts !== undefined && 'default' in opts;
  return Object.freeze({
    kind,
    doc: opts?.doc,
    hasDefault,
    defaultValue: hasDefault ? deepFreeze(opts.default) : undefined,
    meta: Object.freeze(meta),
    read,
  });
}

/** Reads a scalar that may be text (from a flag): the node's value, or for text its string. */
function scalar(node: ConfigNode): { value: string | number | boolean | null; fromText: boolean } | undefined {
  return node.kind === 'scalar' ? node : undefined;
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

/** Splits flag text "a, b c" into items. */
function splitText(text: string): string[] {
  return text.split(/[\s,]+/).filter((x) => x !== '');
}

/** Turns a flag's text into items that a list field reads one by one, each positioned at the flag. */
function textItems(node: ConfigNode & { kind: 'scalar' }, splitter: (t: string) => string[]): ConfigNode[] {
  return splitter(String(node.value)).map((t) => ({ kind: 'scalar', value: t, fromText: true, pos: node.pos }));
}

function object<S extends Shape>(shape: S, opts?: { readonly doc?: string }): Field<ObjectOf<S>> {
  const names = Object.keys(shape);
  const allDefault = names.every((k) => shape[k]?.hasDefault === true);
  const read = (node: ConfigNode, ctx: ParseContext, path: string): ObjectOf<S> | Invalid => {
    if (node.kind !== 'map') return fail(ctx, 'CFG_BAD_VALUE', node.pos, path, `expected a mapping, found ${found(node)}`);
    let ok = true;
    for (const [key, entry] of node.entries) {
      if (!Object.hasOwn(shape, key)) {
        fail(ctx, 'CFG_UNKNOWN_KEY', entry.keyPos, path === '' ? key : `${path}.${key}`, `unknown key "${key}"${didYouMean(key, names)}`);
        ok = false;
      }
    }
    const out: Record<string, unknown> = {};
    for (const key of names) {
      const f = shape[key] as Field<unknown>;
      const childPath = path === '' ? key : `${path}.${key}`;
      const entry: ConfigMapEntry | undefined = node.entries.get(key);
      if (entry === undefined) {
        if (f.kind === 'object' && f.hasDefault && f.meta['optional'] !== true) {
          // An absent section is an empty one: its own defaults fill it in.
          const v = f.read({ kind: 'map', entries: new Map(), pos: node.pos }, ctx, childPath);
          if (isInvalid(v)) ok = false;
          else out[key] = v;
        } else if (f.hasDefault) {
          out[key] = f.defaultValue;
        } else {
          fail(ctx, 'CFG_MISSING_KEY', node.pos, childPath, `required key "${key}" is missing`);
          ok = false;
        }
        continue;
      }
      const v = f.read(entry.value, ctx, childPath);
      if (isInvalid(v)) ok = false;
      else out[key] = v;
    }
    return ok ? (Object.freeze(out) as ObjectOf<S>) : INVALID;
  };
  return Object.freeze({ kind: 'object', doc: opts?.doc, hasDefault: allDefault, defaultValue: undefined, meta: Object.freeze({ shape }), read });
}

function string(opts?: FieldOptions<string> & { readonly pattern?: RegExp; readonly patternHint?: string }): Field<string> {
  return field<string>('string', opts, { pattern: opts?.pattern?.source }, (node, ctx, path) => {
    const sc = scalar(node);
    if (sc === undefined || typeof sc.value !== 'string') return fail(ctx, 'CFG_BAD_VALUE', node.pos, path, `expected a string, found ${found(node)}`);
    if (opts?.pattern && !opts.pattern.test(sc.value)) return fail(ctx, 'CFG_BAD_VALUE', node.pos, path, `${JSON.stringify(sc.value)} is not ${opts.patternHint ?? `of the form /${opts.pattern.source}/`}`);
    return sc.value;
  });
}

function readInteger(node: ConfigNode, ctx: ParseContext, path: string, what: string): number | Invalid {
  const sc = scalar(node);
  let n: number | undefined;
  if (sc && typeof sc.value === 'number' && Number.isSafeInteger(sc.value)) n = sc.value;
  else if (sc && sc.fromText && typeof sc.value === 'string' && /^-?[0-9]+$/.test(sc.value)) n = Number(sc.value);
  if (n === undefined || !Number.isSafeInteger(n)) return fail(ctx, 'CFG_BAD_VALUE', node.pos, path, `expected ${what}, found ${found(node)}`);
  return n;
}

function integer(opts?: FieldOptions<number> & { readonly min?: number; readonly max?: number }): Field<number> {
  const min = opts?.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts?.max ?? Number.MAX_SAFE_INTEGER;
  return field<number>('integer', opts, { min: opts?.min, max: opts?.max }, (node, ctx, path) => {
    const n = readInteger(node, ctx, path, 'an integer');
    if (isInvalid(n)) return n;
    if (n < min || n > max) {
      const range = opts?.min !== undefined && opts.max !== undefined ? `${min}..${max}` : opts?.min !== undefined ? `>= ${min}` : `<= ${max}`;
      return fail(ctx, 'CFG_BAD_VALUE', node.pos, path, `${n} is out of range (${range})`);
    }
    return n;
  });
}

function boolean(opts?: FieldOptions<boolean>): Field<boolean> {
  return field<boolean>('boolean', opts, {}, (node, ctx, path) => {
    const sc = scalar(node);
    if (sc && typeof sc.value === 'boolean') return sc.value;
    if (sc && sc.fromText && typeof sc.value === 'string') {
      const w = sc.value.toLowerCase();
      if (TRUE_WORDS.has(w)) return true;
      if (FALSE_WORDS.has(w)) return false;
    }
    return fail(ctx, 'CFG_BAD_VALUE', node.pos, path, `expected true or false, found ${found(node)}`);
  });
}

function duration(opts?: FieldOptions<number> & { readonly min?: number }): Field<number> {
  return field<number>('duration', opts, { unit: 'seconds' }, (node, ctx, path) => {
    const sc = scalar(node);
    let secs: number;
    if (sc && typeof sc.value === 'number' && Number.isSafeInteger(sc.value) && sc.value >= 0) secs = sc.value;
    else if (sc && typeof sc.value === 'string') {
      try {
        secs = parseDuration(sc.value, { pos: node.pos, key: path });
      } catch (e) {
        if (e instanceof ConfigError) ctx.errors.push(e);
        else throw e;
        return INVALID;
      }
    } else return fail(ctx, 'CFG_BAD_DURATION', node.pos, path, `expected a duration such as 90s, 10m, 48h, 7d, found ${found(node)}`);
    if (opts?.min !== undefined && secs < opts.min) return fail(ctx, 'CFG_BAD_VALUE', node.pos, path, `duration of ${secs}s is shorter than the minimum ${opts.min}s`);
    return secs;
  });
}

function enumOf<const N extends string>(names: readonly N[], opts?: FieldOptions<N>): Field<N> {
  const valid = new Set<string>(names);
  return field<N>('enum', opts, { names: Object.freeze([...names]) }, (node, ctx, path) => {
    const sc = scalar(node);
    if (sc && typeof sc.value === 'string' && valid.has(sc.value)) return sc.value as N;
    const what = sc && typeof sc.value === 'string' ? `unknown name ${JSON.stringify(sc.value)}` : `expected a name, found ${found(node)}`;
    return fail(ctx, 'CFG_UNKNOWN_NAME', node.pos, path, `${what}; valid: ${names.join(', ')}`);
  });
}

function path(opts?: FieldOptions<string> & { readonly absolute?: boolean }): Field<string> {
  return field<string>('path', opts, { absolute: opts?.absolute === true }, (node, ctx, p) => {
    const sc = scalar(node);
    if (!sc || typeof sc.value !== 'string' || sc.value === '') return fail(ctx, 'CFG_BAD_VALUE', node.pos, p, `expected a file path, found ${found(node)}`);
    if (sc.value.includes('\0')) return fail(ctx, 'CFG_BAD_VALUE', node.pos, p, 'a path cannot contain a NUL byte');
    if (opts?.absolute && !sc.value.startsWith('/')) return fail(ctx, 'CFG_BAD_VALUE', node.pos, p, `${JSON.stringify(sc.value)} must be an absolute path (starting with /)`);
    return sc.value;
  });
}

function port(opts?: FieldOptions<number> & { readonly allowZero?: boolean }): Field<number> {
  const min = opts?.allowZero ? 0 : 1;
  return field<number>('port', opts, { min, max: 65535 }, (node, ctx, p) => {
    const n = readInteger(node, ctx, p, 'a port number');
    if (isInvalid(n)) return n;
    if (n < min || n > 65535) return fail(ctx, 'CFG_BAD_VALUE', node.pos, p, `port ${n} is out of range (${min}..65535)`);
    return n;
  });
}

function portList(opts?: FieldOptions<readonly PortRange[]>): Field<readonly PortRange[]> {
  const o = opts && 'default' in opts && opts.default !== undefined ? { ...opts, default: mergeRanges(opts.default) } : opts;
  return field<readonly PortRange[]>('portList', o, {}, (node, ctx, p) => {
    // A string "1-1024, 6000", a single number, or a list of numbers and "a-b" strings.
    const items: Array<{ text: string; pos: SourcePos }> = [];
    const add = (n: ConfigNode): boolean => {
      const sc = scalar(n);
      if (sc && (typeof sc.value === 'string' || (typeof sc.value === 'number' && Number.isInteger(sc.value)))) {
        items.push({ text: String(sc.value), pos: n.pos });
        return true;
      }
      fail(ctx, 'CFG_BAD_VALUE', n.pos, p, `expected ports such as "1-1024, 6000", found ${found(n)}`);
      return false;
    };
    let ok = true;
    if (node.kind === 'list') for (const it of node.items) ok = add(it) && ok;
    else ok = add(node);
    if (!ok) return INVALID;
    const ranges: PortRange[] = [];
    for (const it of items) {
      const r = parsePortListText(it.text);
      if (typeof r === 'string') {
        fail(ctx, 'CFG_BAD_VALUE', it.pos, p, r);
        ok = false;
      } else ranges.push(...r);
    }
    return ok ? mergeRanges(ranges) : INVALID;
  });
}

function addressList(opts?: { readonly doc?: string; readonly default?: readonly string[] }): Field<ReadonlyAddressSet> {
  const dflt = opts?.default !== undefined ? AddressSet.from(opts.default).freeze() : undefined;
  const o: FieldOptions<ReadonlyAddressSet> | undefined = opts === undefined ? undefined : dflt === undefined ? { doc: opts.doc } : { doc: opts.doc, default: dflt };
  return field<ReadonlyAddressSet>('addressList', o, {}, (node, ctx, p) => {
    const items: ConfigNode[] = node.kind === 'list' ? [...node.items] : node.kind === 'scalar' && typeof node.value === 'string' ? textItems(node, splitText) : [];
    if (node.kind === 'map' || (node.kind === 'scalar' && typeof node.value !== 'string')) {
      return fail(ctx, 'CFG_BAD_VALUE', node.pos, p, `expected a list of addresses or CIDR prefixes, found ${found(node)}`);
    }
    const set = new AddressSet();
    let ok = true;
    items.forEach((it, i) => {
      const itemPath = node.kind === 'list' ? `${p}[${i}]` : p;
      const sc = scalar(it);
      const prefix = sc && typeof sc.value === 'string' ? tryParsePrefix(sc.value.trim()) : undefined;
      if (prefix === undefined) {
        fail(ctx, 'CFG_BAD_ADDRESS', it.pos, itemPath, `not an IPv4/IPv6 address or CIDR prefix: ${found(it)}`);
        ok = false;
      } else set.add(prefix);
    });
    return ok ? set.freeze() : INVALID;
  });
}

function list<T>(item: Field<T>, opts?: FieldOptions<readonly T[]> & { readonly minItems?: number }): Field<readonly T[]> {
  return field<readonly T[]>('list', opts, { item, minItems: opts?.minItems }, (node, ctx, p) => {
    let items: readonly ConfigNode[];
    if (node.kind === 'list') items = node.items;
    else if (node.kind === 'scalar' && node.fromText && typeof node.value === 'string') items = textItems(node, (t) => t.split(',').map((x) => x.trim()).filter((x) => x !== ''));
    else return fail(ctx, 'CFG_BAD_VALUE', node.pos, p, `expected a list, found ${found(node)}`);
    if (opts?.minItems !== undefined && items.length < opts.minItems) return fail(ctx, 'CFG_BAD_VALUE', node.pos, p, `needs at least ${opts.minItems} item(s)`);
    const out: T[] = [];
    let ok = true;
    items.forEach((it, i) => {
      const v = item.read(it, ctx, node.kind === 'list' ? `${p}[${i}]` : p);
      if (isInvalid(v)) ok = false;
      else out.push(v);
    });
    return ok ? Object.freeze(out) : INVALID;
  });
}

/** Makes a field optional: when the key is absent the value is `undefined`. */
function optional<T>(f: Field<T>): Field<T | undefined> {
  return Object.freeze({ ...f, hasDefault: true, defaultValue: undefined, meta: Object.freeze({ ...f.meta, optional: true }), read: f.read as Field<T | undefined>['read'] });
}

/**
 * The schema builders.
 * - `object(shape)`: a mapping with exactly these keys (unknown keys: CFG_UNKNOWN_KEY with "did you
 *   mean"); an absent section is read as empty, so its fields' defaults apply.
 * - `string`, `integer({min,max})`, `boolean`, `duration` (seconds; "10m", or an integer of seconds),
 *   `enumOf(names)` (CFG_UNKNOWN_NAME listing the valid names), `path({absolute})`, `port`,
 *   `portList` ("1-1024, 6000" or a list; sorted merged ranges), `addressList` (list or "a, b" of
 *   addresses/prefixes; a frozen ReadonlyAddressSet), `list(item)`, `optional(field)`.
 * Every builder takes `{doc, default}`; without a default (or `optional`) the key is required.
 * Values from flags are text and read by the same field: "yes"/"no" for booleans, "a,b" for lists.
 */
export const s = Object.freeze({ object, string, integer, boolean, duration, enumOf, path, port, portList, addressList, list, optional });

/**
 * Reads a whole tree with a schema. Returns the deep-frozen value, or undefined when errors were
 * pushed to `ctx` (then every error found is there, not only the first).
 */
export function readWithSchema<F extends Field<unknown>>(schema: F, node: ConfigNode, ctx: ParseContext): Infer<F> | undefined {
  const v = schema.read(node, ctx, '');
  return isInvalid(v) || ctx.errors.length > 0 ? undefined : (v as Infer<F>);
}
