/**
 * The per-user-and-source rate limit (the original's was dead code, defect 12).
 *
 * `RateLimit` holds it across every instance sharing the store: each request is counted in the
 * store's shared windows (the rule: rate-window.ts). A key's requests that arrive while its last
 * count is on its way are counted together in one round trip (as group commit does for writes),
 * so a busy user costs the store one statement per round trip, not one per request. When the shared
 * windows cannot be reached (PostgreSQL down, SQLite busy past its timeout) it keeps a local share
 * — the limit divided by the instances on this machine — and says so in /health
 * (`checks.rate_limit`), until the store answers again. `--rate-limit-scope local` keeps that share
 * always, with no round trip.
 */
import { createHash } from 'node:crypto';
import type { CheckResult } from '../health-checks.ts';
import { type RateBatch, windowAt } from './rate-window.ts';

export interface RateStore {
  rateHit(key: string, max: number, windowMs: number, n: number): Promise<RateBatch>;
  pruneRateWindows(before: number): Promise<void>;
}

interface Waiting {
  n: number;
  settle: ((retryAfterS: number) => void)[];
  fail: ((err: unknown) => void)[];
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
  /** Per key digest: requests waiting for the next count, and whether a count is on its way. */
  readonly #waiting = new Map<string, Waiting>();
  readonly #counting = new Set<string>();

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
      const wait = await this.#counted(createHash('sha256').update(key).digest('base64url'));
      if (this.#error !== undefined) {
        this.#error = undefined;
        this.#since = undefined;
        this.#onChange(true);
      }
      return wait;
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

  /** Joins the key's next count; one count per key is on its way at a time. */
  #counted(digest: string): Promise<number> {
    return new Promise((settle, fail) => {
      let w = this.#waiting.get(digest);
      if (!w) {
        w = { n: 0, settle: [], fail: [] };
        this.#waiting.set(digest, w);
        // Requests read in the same turn of the event loop join this count.
        if (!this.#counting.has(digest)) setImmediate(() => void this.#count(digest));
      }
      w.n++;
      w.settle.push(settle);
      w.fail.push(fail);
    });
  }

  async #count(digest: string): Promise<void> {
    const w = this.#waiting.get(digest);
    const store = this.#store;
    if (!w || !store) return;
    this.#waiting.delete(digest);
    this.#counting.add(digest);
    try {
      const batch = await store.rateHit(digest, this.#max, this.#windowMs, w.n);
      // First come, first admitted.
      w.settle.forEach((settle, i) => {
        settle(i < batch.admitted ? 0 : batch.retryAfterS);
      });
    } catch (err) {
      for (const fail of w.fail) fail(err);
    } finally {
      this.#counting.delete(digest);
      // Those who came while this count was on its way go next, together.
      if (this.#waiting.has(digest)) void this.#count(digest);
    }
    // Windows older than the previous one are never read again.
    this.#checks += w.n;
    if (this.#checks >= PRUNE_EVERY) {
      this.#checks = 0;
      void store.pruneRateWindows(windowAt(Date.now(), this.#windowMs).start - this.#windowMs);
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
