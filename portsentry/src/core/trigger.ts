/**
 * The scan-trigger state engine: counts probes per source and says when a source crosses
 * SCAN_TRIGGER. Pure: time comes from the caller (the packet or connection), never from a clock.
 *
 * 1.2 kept one 50-slot ring shared by every host, so a busy scanner could push a slow one out and a
 * flood of spoofed sources wiped everybody's count. Here each source has its own count over a sliding
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
  /** Times of the most recent probes, oldest first, at most `trigger` of them. */
  times: number[];
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

  /**
   * Records one probe from `source` (a canonical address string) at time `now` (ms). The count is
   * over a sliding window: the probes of the last `windowMs`, this one included, so three probes
   * within a minute trigger SCAN_TRIGGER=3 whenever they come. Only the newest `trigger` times are
   * kept per source, which is all the decision needs.
   */
  observe(source: string, now: number): TriggerResult {
    const need = Math.max(1, this.opts.trigger);
    let s = this.sources.get(source);
    if (s) {
      this.sources.delete(source); // re-insert to move it to the recent end
    } else {
      s = { times: [] };
      if (this.sources.size >= this.opts.maxSources) {
        const oldest = this.sources.keys().next();
        if (!oldest.done) {
          this.sources.delete(oldest.value);
          this.evictedCount++;
        }
      }
    }
    const t = s.times;
    t.push(now);
    while (t.length > 0 && now - t[0]! > this.opts.windowMs) t.shift();
    if (t.length > need) t.shift();
    this.sources.set(source, s);
    return { triggered: t.length >= need, count: t.length };
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

/**
 * "Report once per key per window": true the first time a key is seen, then false until `windowMs`
 * has passed since that report. Bounded like TriggerEngine (least recently seen forgotten first).
 * Used for lines a spoofed flood could otherwise repeat without end (broken IP headers, fragments).
 */
export class OncePerWindow {
  private readonly last = new Map<string, number>();

  constructor(private readonly windowMs: number, private readonly maxKeys: number) {}

  /** Whether to report `key` at time `now`. */
  shouldReport(key: string, now: number): boolean {
    const t = this.last.get(key);
    if (t !== undefined && now - t <= this.windowMs) {
      return false;
    }
    this.last.delete(key);
    this.last.set(key, now);
    if (this.last.size > this.maxKeys) {
      const oldest = this.last.keys().next();
      if (oldest.done !== true) this.last.delete(oldest.value);
    }
    return true;
  }
}
