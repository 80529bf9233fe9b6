/**
 * Decide: what to do about a detection, as data (STYLE.md §2). Pure: time comes from the detection,
 * the current blocks are passed in, nothing is executed here.
 *
 * In order:
 *  1. BLOCK_TCP / BLOCK_UDP = 0: alert only (1.2's "Ignoring TCP response per configuration file
 *     setting." line);
 *  2. a source already blocked is not blocked again (logged once as already blocked);
 *  3. the rate limit on new blocks (BLOCK_RATE per minute, a token bucket): when it bites the
 *     detection is still logged, the block is skipped, and the first skip of a streak says so; this is
 *     what keeps a flood of spoofed sources from making the host block the world;
 *  4. otherwise block, for BLOCK_DURATION (0 = until unblocked, 1.2's behaviour), multiplied by
 *     BLOCK_ESCALATION for each earlier block of the same address, up to BLOCK_DURATION_MAX.
 * Dry-run (DRY_RUN="1") is carried on the decision: the caller logs it and executes nothing.
 */

/** 0 = log only, 1 = every configured response, 2 = only KILL_RUN_CMD. */
export type Level = 0 | 1 | 2;

/** The policy, from the config. */
export interface DecidePolicy {
  readonly levelTcp: Level;
  readonly levelUdp: Level;
  /** ms; 0 = until unblocked. */
  readonly durationMs: number;
  /** Factor per earlier block of the same address (1 = none). */
  readonly escalation: number;
  /** ms; cap of an escalated duration (0 = no cap). */
  readonly maxDurationMs: number;
  /** New blocks per minute at most (0 = no limit). */
  readonly ratePerMinute: number;
  readonly dryRun: boolean;
}

/** What decide needs to know about a detection. */
export interface DecideInput {
  /** Canonical address text. */
  readonly address: string;
  readonly proto: 'tcp' | 'udp';
  readonly time: number;
}

/** What decide needs to know about the address's past. */
export interface AddressHistory {
  /** Currently blocked. */
  readonly blocked: boolean;
  /** Blocks of this address so far (expired or lifted ones included). */
  readonly offences: number;
}

/** A decision (see the module comment). */
export type Decision =
  | { readonly action: 'block'; readonly level: 1 | 2; readonly expiresAt: number | null; readonly offence: number; readonly dryRun: boolean }
  | { readonly action: 'alert-only' }
  | { readonly action: 'already-blocked' }
  | { readonly action: 'rate-limited'; readonly firstOfStreak: boolean };

/** The decide step with its one piece of state, the rate limiter's bucket. */
export class Decider {
  private tokens: number;
  private last: number | undefined;
  private limiting = false;
  private skippedCount = 0;

  constructor(private policy: DecidePolicy) {
    this.tokens = policy.ratePerMinute;
  }

  /** Swaps the policy (reload); the bucket keeps its level, capped to the new size. */
  setPolicy(p: DecidePolicy): void {
    this.policy = p;
    this.tokens = Math.min(this.tokens, p.ratePerMinute);
  }

  /** Blocks skipped by the rate limit since the last call (and resets the count). */
  takeSkipped(): number {
    const n = this.skippedCount;
    this.skippedCount = 0;
    return n;
  }

  /** True while the rate limit is biting. */
  get isLimiting(): boolean {
    return this.limiting;
  }

  decide(d: DecideInput, past: AddressHistory): Decision {
    const p = this.policy;
    const level = d.proto === 'tcp' ? p.levelTcp : p.levelUdp;
    if (level === 0) return { action: 'alert-only' };
    if (past.blocked) return { action: 'already-blocked' };
    if (p.ratePerMinute > 0) {
      this.refill(d.time);
      if (this.tokens < 1) {
        const first = !this.limiting;
        this.limiting = true;
        this.skippedCount++;
        return { action: 'rate-limited', firstOfStreak: first };
      }
      this.tokens -= 1;
      this.limiting = false;
    }
    const offence = past.offences + 1;
    return { action: 'block', level, expiresAt: expiry(p, d.time, offence), offence, dryRun: p.dryRun };
  }

  private refill(now: number): void {
    const cap = this.policy.ratePerMinute;
    if (this.last !== undefined && now > this.last) this.tokens = Math.min(cap, this.tokens + ((now - this.last) * cap) / 60_000);
    if (this.last === undefined || now > this.last) this.last = now;
  }
}

/** When a block made at `now` as the `offence`-th of its address ends (null = never). */
export function expiry(p: Pick<DecidePolicy, 'durationMs' | 'escalation' | 'maxDurationMs'>, now: number, offence: number): number | null {
  if (p.durationMs <= 0) return null;
  let ms = p.durationMs * Math.pow(Math.max(1, p.escalation), Math.max(0, offence - 1));
  if (p.maxDurationMs > 0) ms = Math.min(ms, p.maxDurationMs);
  return now + Math.round(ms);
}
