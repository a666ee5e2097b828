// A fixed-window failure counter per key, in process memory. It slows password
// guessing against one server process; with N processes an attacker gets N
// times the budget, which the per-email limit keeps small.
export class RateLimiter {
  private readonly hits = new Map<string, { count: number; resetAt: number }>();
  private readonly limit: number;
  private readonly windowMs: number;

  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Seconds to wait before `key` may try again; 0 when it may now. */
  wait(key: string, now = Date.now()): number {
    const entry = this.hits.get(key);
    if (!entry || entry.resetAt <= now || entry.count < this.limit) return 0;
    return Math.ceil((entry.resetAt - now) / 1000);
  }

  /** Counts one call against `key` unless it is over the limit: the seconds to wait, or 0 when counted. */
  take(key: string, now = Date.now()): number {
    const wait = this.wait(key, now);
    if (wait === 0) this.fail(key, now);
    return wait;
  }

  /** Counts one failure against `key`. */
  fail(key: string, now = Date.now()) {
    if (this.hits.size > 10_000) this.sweep(now);
    const entry = this.hits.get(key);
    if (!entry || entry.resetAt <= now) this.hits.set(key, { count: 1, resetAt: now + this.windowMs });
    else entry.count++;
  }

  /** Takes back one counted failure (the attempt succeeded). */
  undo(key: string) {
    const entry = this.hits.get(key);
    if (entry && entry.count > 0) entry.count--;
  }

  reset(key: string) {
    this.hits.delete(key);
  }

  private sweep(now: number) {
    for (const [k, v] of this.hits) if (v.resetAt <= now) this.hits.delete(k);
  }
}
