/**
 * A set of IPv4 and IPv6 prefixes with a fast membership test, for ignore lists and block lists.
 *
 * Why a binary trie in typed arrays rather than one hash table per prefix length: a lookup walks at
 * most 32 or 128 bits straight out of the address bytes, reading three flat arrays, so it allocates
 * nothing and costs O(address bits) whatever the number of prefixes. Hash tables per length would need
 * a key (a string or bigint) built per length probed, which allocates on every query.
 */
import { IpAddress, formatPrefix, parsePrefix, unmapPrefix } from './ip.js';
import type { IpPrefix } from './ip.js';

/** The read-only face of an {@link AddressSet}: what config objects hand out. */
export interface ReadonlyAddressSet extends Iterable<IpPrefix> {
  /** Number of distinct prefixes added (a prefix inside another still counts). */
  readonly size: number;
  /** True when `addr` lies in any prefix; IPv4-mapped IPv6 addresses match IPv4 prefixes. */
  has(addr: IpAddress): boolean;
  /** Like `has`, from 4 or 16 raw network-order bytes (e.g. a subarray of a frame); other lengths are never members. */
  hasBytes(bytes: Uint8Array): boolean;
  /** The prefixes in the order they were first added (IPv4-mapped ones as their IPv4 prefix). */
  entries(): IterableIterator<IpPrefix>;
}

const V4_ROOT = 0;
const V6_ROOT = 1;

/** A mutable prefix set; `freeze()` turns it read-only. */
export class AddressSet implements ReadonlyAddressSet {
  // Node i has children zero[i] / one[i] (0 = none: no node points back at a root) and term[i] = 1
  // when a prefix ends there.
  #zero = new Int32Array(1024);
  #one = new Int32Array(1024);
  #term = new Uint8Array(1024);
  #nodes = 2;
  #list: IpPrefix[] = [];
  #frozen = false;

  /** Builds a set from prefixes or prefix strings (see parsePrefix; throws AddressError on a bad one). */
  static from(items: Iterable<IpPrefix | string>): AddressSet {
    const s = new AddressSet();
    for (const it of items) s.add(it);
    return s;
  }

  /** See {@link ReadonlyAddressSet.size}. */
  get size(): number {
    return this.#list.length;
  }

  /**
   * Adds a prefix (or a string parsed with parsePrefix). Returns false when that exact prefix was
   * already present. Throws TypeError after `freeze()`.
   */
  add(item: IpPrefix | string): boolean {
    if (this.#frozen) throw new TypeError('AddressSet is frozen');
    const p = unmapPrefix(typeof item === 'string' ? parsePrefix(item) : item);
    const bytes = p.address.bytes;
    let node = p.address.family === 4 ? V4_ROOT : V6_ROOT;
    for (let i = 0; i < p.length; i++) {
      const bit = ((bytes[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
      const arr = bit ? this.#one : this.#zero;
      let next = arr[node] ?? 0;
      if (next === 0) {
        next = this.#newNode();
        // #newNode may have replaced the arrays: write through the current ones
        (bit ? this.#one : this.#zero)[node] = next;
      }
      node = next;
    }
    if (this.#term[node] === 1) return false;
    this.#term[node] = 1;
    this.#list.push(p);
    return true;
  }

  #newNode(): number {
    if (this.#nodes === this.#term.length) {
      const cap = this.#term.length * 2;
      const grow = <T extends Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a);
        return b;
      };
      this.#zero = grow(this.#zero, (n) => new Int32Array(n));
      this.#one = grow(this.#one, (n) => new Int32Array(n));
      this.#term = grow(this.#term, (n) => new Uint8Array(n));
    }
    return this.#nodes++;
  }

  /** See {@link ReadonlyAddressSet.has}. */
  has(addr: IpAddress): boolean {
    return this.hasBytes(addr.bytes);
  }

  /** See {@link ReadonlyAddressSet.hasBytes}. */
  hasBytes(bytes: Uint8Array): boolean {
    let start: number;
    let bits: number;
    let node: number;
    if (bytes.length === 4) {
      start = 0;
      bits = 32;
      node = V4_ROOT;
    } else if (bytes.length === 16) {
      let mapped = bytes[10] === 0xff && bytes[11] === 0xff;
      for (let i = 0; mapped && i < 10; i++) if (bytes[i] !== 0) mapped = false;
      start = mapped ? 12 : 0;
      bits = mapped ? 32 : 128;
      node = mapped ? V4_ROOT : V6_ROOT;
    } else {
      return false;
    }
    const zero = this.#zero;
    const one = this.#one;
    const term = this.#term;
    if (term[node] === 1) return true;
    for (let i = 0; i < bits; i++) {
      const bit = ((bytes[start + (i >> 3)] ?? 0) >> (7 - (i & 7))) & 1;
      node = (bit ? one[node] : zero[node]) ?? 0;
      if (node === 0) return false;
      if (term[node] === 1) return true;
    }
    return false;
  }

  /** See {@link ReadonlyAddressSet.entries}. */
  entries(): IterableIterator<IpPrefix> {
    return this.#list.values();
  }

  /** Same as entries(). */
  [Symbol.iterator](): IterableIterator<IpPrefix> {
    return this.entries();
  }

  /** Makes the set read-only (later `add` throws) and returns it, typed as read-only. */
  freeze(): ReadonlyAddressSet {
    this.#frozen = true;
    return this;
  }

  /** True after freeze(). */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** The prefixes, comma-separated, for diagnostics. */
  toString(): string {
    return this.#list.map(formatPrefix).join(', ');
  }
}
