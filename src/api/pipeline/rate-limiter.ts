/**
 * The per-user-and-source rate limit (the original's was dead code, defect 12).
 *
 * `RateLimit` holds it across every instance sharing the store: each request is counted in the
 * store's shared windows (the rule: rate-window.ts), one round trip per request. When the shared
 * windows cannot be reached (PostgreSQL down, SQLite busy past its timeout) it keeps a local share
 * — the limit divided by the instances on this machine — and says so in /health
 * (`checks.rate_limit`), until the store answers again. `--rate-limit-scope local` keeps that share
 * always, with no round trip.
 */
import { createHash } from 'node:crypto';
import type { CheckResult } from '../health-checks.ts';
import { type RateVerdict, windowAt } from './rate-window.ts';

export interface RateStore {
  rateHit(key: string, max: number, windowMs: number): Promise<RateVerdict>;
  pruneRateWindows(before: number): Promise<void>;
}

/** Every this many shared checks, windows no request reads any more are deleted. */
const PRUNE_EVERY = 1000;

export class RateLimit {
  /** Undefined with `--rate-limit-scope local`: each process keeps its share by choice. */
  readonly #store: RateStore | undefined;
  readonly #max: number;
  readonly #windowMs: number;
  readonly #share: number;
  readonly #local: RateLimiter;
  readonly #onChange: (shared: boolean, error?: string) => void;
  #error: string | undefined;
  #since: string | undefined;
  #checks = 0;

  constructor(
    store: RateStore | undefined,
    opts: { max: number; windowMs: number; instances: number },
    onChange: (shared: boolean, error?: string) => void = () => {},
  ) {
    this.#store = store;
    this.#max = opts.max;
    this.#windowMs = opts.windowMs;
    this.#share = Math.max(1, Math.ceil(opts.max / Math.max(1, opts.instances)));
    this.#local = new RateLimiter(this.#share, opts.windowMs);
    this.#onChange = onChange;
  }

  /** 0 when allowed (and counted), else the seconds until the next request may go. */
  async check(key: string): Promise<number> {
    if (!this.#store) return this.#local.check(key);
    try {
      // The store keeps a digest: fixed length, no NUL (PostgreSQL text cannot hold one), no user id.
      const digest = createHash('sha256').update(key).digest('base64url');
      const v = await this.#store.rateHit(digest, this.#max, this.#windowMs);
      // Windows older than the previous one are never read again.
      if (++this.#checks % PRUNE_EVERY === 0) {
        void this.#store.pruneRateWindows(windowAt(Date.now(), this.#windowMs).start - this.#windowMs);
      }
      if (this.#error !== undefined) {
        this.#error = undefined;
        this.#since = undefined;
        this.#onChange(true);
      }
      return v.allowed ? 0 : v.retryAfterS;
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      if (this.#error === undefined) {
        this.#since = new Date().toISOString();
        this.#onChange(false, error);
      }
      this.#error = error;
      return this.#local.check(key);
    }
  }

  /** For /health: `up` while shared; `down` (the API still limits, by a local share) otherwise. */
  health(): CheckResult {
    if (!this.#store) return { status: 'up', scope: 'local', limit: this.#share, configured: 'local' };
    if (this.#error === undefined) return { status: 'up', scope: 'shared', limit: this.#max };
    return {
      status: 'down',
      scope: 'local',
      limit: this.#share,
      since: this.#since,
      error: `shared rate-limit windows unreachable (${this.#error}): this process allows ${this.#share} per window alone`,
    };
  }
}

/**
 * A sliding-log limit in this process's memory: at most `max` requests in any `windowMs`. The
 * fallback share of `RateLimit`.
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
