/**
 * The scan-trigger state engine: counts probes per source and says when a source crosses
 * SCAN_TRIGGER. Pure: time comes from the caller (the packet or connection), never from a clock.
 *
 * 1.2 kept one 50-slot ring shared by every host, so a busy scanner could push a slow one out and a
 * flood of spoofed sources wiped everybody's count. Here each source has its own counter within a
 * window, and memory is bounded by `maxSources`: when full, the source seen least recently is evicted
 * (LRU). A real scanner keeps probing and so stays at the recent end; a spoofed address that sent a
 * single probe is the first to go. Lookups and updates are O(1) (a Map kept in recency order).
 */

/** Options of {@link TriggerEngine}. */
export interface TriggerOptions {
  /** 1.2's SCAN_TRIGGER: 0 and 1 mean the first probe triggers; N means the Nth. */
  readonly trigger: number;
  /** Probes older than this (ms) no longer count. */
  readonly windowMs: number;
  /** At most this many sources are tracked. */
  readonly maxSources: number;
}

interface SourceCount {
  count: number;
  first: number;
  last: number;
}

/** What one probe did to its source's count. */
export interface TriggerResult {
  /** True when this probe brings the source to (or keeps it at or above) the trigger. */
  readonly triggered: boolean;
  /** Probes from the source within the window, this one included. */
  readonly count: number;
}

/** Per-source probe counter; see the module comment. */
export class TriggerEngine {
  private readonly sources = new Map<string, SourceCount>();
  private evictedCount = 0;

  constructor(private readonly opts: TriggerOptions) {}

  /** Records one probe from `source` (a canonical address string) at time `now` (ms). */
  observe(source: string, now: number): TriggerResult {
    const need = Math.max(1, this.opts.trigger);
    let s = this.sources.get(source);
    if (s && now - s.first > this.opts.windowMs) s = undefined; // window over: start counting again
    if (s) {
      this.sources.delete(source); // re-insert to move it to the recent end
      s.count++;
      s.last = now;
    } else {
      s = { count: 1, first: now, last: now };
      if (this.sources.size >= this.opts.maxSources) {
        const oldest = this.sources.keys().next();
        if (!oldest.done) {
          this.sources.delete(oldest.value);
          this.evictedCount++;
        }
      }
    }
    this.sources.set(source, s);
    return { triggered: s.count >= need, count: s.count };
  }

  /** Forgets a source (after an unblock, for example). */
  forget(source: string): void {
    this.sources.delete(source);
  }

  /** Sources tracked now, and how many were evicted to keep within `maxSources`. */
  stats(): { readonly tracked: number; readonly evicted: number } {
    return { tracked: this.sources.size, evicted: this.evictedCount };
  }
}
