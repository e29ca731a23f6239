/**
 * A sliding-window rate limit per user and source (the original's was dead code, defect 12):
 * at most `max` requests in any `windowMs`. In memory and per process: with several instances each
 * enforces its own share.
 */
export class RateLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #hits = new Map<string, number[]>();
  #sweeps = 0;

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** 0 when allowed (and counted), else the seconds until the next request may go. */
  check(key: string, now = Date.now()): number {
    const cutoff = now - this.#windowMs;
    let hits = this.#hits.get(key);
    if (!hits) {
      hits = [];
      this.#hits.set(key, hits);
    }
    while (hits.length > 0 && (hits[0] as number) <= cutoff) hits.shift();
    if (++this.#sweeps % 10_000 === 0) this.#sweep(cutoff);
    if (hits.length >= this.#max)
      return Math.max(1, Math.ceil(((hits[0] as number) + this.#windowMs - now) / 1000));
    hits.push(now);
    return 0;
  }

  /** Forgets idle keys, so memory follows the active users, not all users ever seen. */
  #sweep(cutoff: number): void {
    for (const [k, hits] of this.#hits) if ((hits[hits.length - 1] ?? 0) <= cutoff) this.#hits.delete(k);
  }
}
