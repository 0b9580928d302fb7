/** One token bucket: `perSecond` tokens a second up to `burst`; 0 per second: no limit. */
export class TokenBucket {
  private tokens: number;
  private at = performance.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(now = performance.now()): boolean {
    if (this.perSecond <= 0) return true;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Per-key rate limit (the key: a terminal id, or a peer address): a token bucket per terminal id (DE41). A terminal over its rate
 * gets 58 without its message reaching the cache or the ledger, so one misbehaving terminal
 * cannot take the others' share of the database.
 */
export class TerminalRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** `perSecond` 0 disables the limit. */
  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxTerminals = 1_000_000,
  ) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** True when the terminal may send one more message now. */
  take(terminalId: string, now = performance.now()): boolean {
    if (this.perSecond <= 0) return true;
    let b = this.buckets.get(terminalId);
    if (b === undefined) {
      if (this.buckets.size >= this.maxTerminals) this.prune(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(terminalId, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forgets terminals whose bucket is full again (they lose nothing by it). */
  prune(now = performance.now()): void {
    for (const [id, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(id);
    }
  }
}
