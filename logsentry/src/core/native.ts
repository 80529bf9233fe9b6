/**
 * The optional native batch matcher (logsentry/native/re2batch.cc, built by `npm run build` against
 * the system's libre2): one call runs an RE2 set over a block of lines in one buffer and writes the
 * answers into a flat array, where node-re2 takes one call and leaves one JS array per line. It
 * gives the same answers (the same RE2 automaton over the same UTF-8 bytes); without it (not built,
 * or LOGSENTRY_NATIVE=0) the rules run through node-re2 alone, slower.
 */
import { createRequire } from 'node:module';

/** A compiled set (opaque). */
export type NativeSetHandle = { readonly __native: unique symbol };

export interface NativeBatch {
  /** Compiles `patterns` (RE2 syntax, UTF-8) into one set; throws naming the first bad pattern's index ("pattern N: ..."). */
  compile(patterns: readonly string[], maxMem: number): NativeSetHandle;
  /**
   * Matches lines [from, to) (line k is bytes[offs[k], offs[k + 1] - 1)); the j-th line's pattern
   * indexes, ascending, go to out[starts[j], starts[j + 1]). Returns how many lines it did (fewer
   * when `out` filled up).
   */
  match(set: NativeSetHandle, bytes: Uint8Array, offs: Uint32Array, from: number, to: number, starts: Uint32Array, out: Int32Array): number;
}

let loaded: NativeBatch | null | undefined;
let why = '';

/** The native matcher, or undefined (see {@link nativeStatus} for why). */
export function nativeBatch(): NativeBatch | undefined {
  if (loaded === undefined) {
    if (process.env['LOGSENTRY_NATIVE'] === '0') {
      loaded = null;
      why = 'disabled by LOGSENTRY_NATIVE=0';
    } else {
      try {
        // dist/src/core/native.js -> logsentry/native/build/Release/re2batch.node
        loaded = createRequire(import.meta.url)('../../../native/build/Release/re2batch.node') as NativeBatch;
        why = 'loaded';
      } catch (e) {
        loaded = null;
        why = `not built (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); run npm run build with libre2-dev installed`;
      }
    }
  }
  return loaded ?? undefined;
}

/** Whether the native matcher is in use, and if not, why. */
export function nativeStatus(): string {
  nativeBatch();
  return why;
}
