/**
 * The rate limits: each key's (and, inside it, each end user's and each key's token limit).
 *
 * `RateLimit` holds it across every instance sharing the store: each request is counted in the
 * store's shared windows (the rule: rate-window.ts). A key's requests that arrive while its last
 * count is on its way are counted together in one round trip (as group commit does for writes).
 * A busy key — counted twice in a row within BUSY_GAP_MS of the count before, or whose lease ran
 * out before its time — also leases admissions ahead: its next count asks for a few more than are
 * waiting, counted in the store at once (so every instance sees them as used), and its requests in
 * the next LEASE_MS are admitted from the lease without a round trip. The lease doubles while it
 * is used up in time (up to an eighth of the limit per instance), halves when it is not. The
 * store counts it only while the window has room for several counts of its size (`countedOf()`,
 * under the store's lock), so near the limit every request is counted one by one, exactly as
 * without leases; and a limit under MIN_LEASE_LIMIT per instance never leases: there a count per
 * request costs little, and one admission held in a lease is a share of the limit a user would
 * notice. What a lease leaves unused is given back to the store when it expires, when the window
 * moves and when the process stops; a process that dies with a lease leaves it counted, so the
 * limit errs on the safe side until the window moves.
 *
 * When the shared windows cannot be reached (PostgreSQL down, SQLite busy past its timeout) it
 * keeps a local share — the limit divided by the instances on this machine — and says so in
 * /health (`checks.rate_limit`), until the store answers again. `--rate-limit-scope local` keeps
 * that share always, with no round trip.
 */
import { hash } from 'node:crypto';
import type { CheckResult } from '../../checks.ts';
import type { Rate } from '../../config/kinds.ts';
import { type RateBatch, windowAt } from '../../storage/rate-window.ts';

export interface RateStore {
  rateHit(key: string, max: number, windowMs: number, n: number, ahead?: number): Promise<RateBatch>;
  rateGiveBack(key: string, windowStart: number, n: number): Promise<void>;
  pruneRateWindows(before: number): Promise<void>;
}

interface Waiting {
  /** The limit they are counted under (a key's requests share one). */
  rate: Rate;
  n: number;
  settle: ((retryAfterS: number) => void)[];
  fail: ((err: unknown) => void)[];
}

/** Admissions a key counted ahead, and what its next count asks for beyond the waiting requests. */
interface Lease {
  /** The window they are counted in. */
  windowStart: number;
  left: number;
  /** Usable until then (ms since the epoch). */
  until: number;
  /** How many the last count leased beyond the requests waiting. */
  ahead: number;
  /** When the last count was made, and how many counts in a row came within BUSY_GAP_MS. */
  countedAt: number;
  quick: number;
}

/** Every this many shared checks, windows no request reads any more are deleted. */
const PRUNE_EVERY = 1000;
/** How long leased admissions stay usable. */
export const LEASE_MS = 1000;
/**
 * A key is busy — worth leasing for — when it was counted twice in a row within this long of
 * its previous count. A user sending a request a second (a thousand such users) almost never is:
 * leasing for it would cost a give-back per lease instead of saving a count.
 */
const BUSY_GAP_MS = 100;
/** A limit under this many per instance is counted request by request, never leased. */
const MIN_LEASE_LIMIT = 32;

export class RateLimit {
  /** Undefined with `--rate-limit-scope local`: each process keeps its share by choice. */
  readonly #store: RateStore | undefined;
  readonly #instances: number;
  /** The configured default, for /health. */
  readonly #default: Rate;
  readonly #local = new RateLimiter();
  readonly #onChange: (shared: boolean, error?: string) => void;
  readonly #now: () => number;
  #error: string | undefined;
  #since: string | undefined;
  #checks = 0;
  #longestWindowMs = 0;
  /** Per key digest: requests waiting for the next count, and whether a count is on its way. */
  readonly #waiting = new Map<string, Waiting>();
  readonly #counting = new Set<string>();
  readonly #leases = new Map<string, Lease>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(
    store: RateStore | undefined,
    opts: { max: number; windowMs: number; instances: number; now?: () => number },
    onChange: (shared: boolean, error?: string) => void = () => {},
  ) {
    this.#store = store;
    this.#default = { max: opts.max, windowMs: opts.windowMs };
    this.#instances = Math.max(1, opts.instances);
    this.#onChange = onChange;
    this.#now = opts.now ?? Date.now;
  }

  /** What one process admits alone: the limit divided by the instances on this machine. */
  #share(rate: Rate): number {
    return Math.max(1, Math.ceil(rate.max / this.#instances));
  }

  /**
   * 0 when allowed (and counted) under `rate` (the configured default when none is given), else
   * the seconds until the next request may go.
   */
  async check(key: string, rate: Rate = this.#default): Promise<number> {
    if (!this.#store) return this.#local.check(key, this.#share(rate), rate.windowMs, this.#now());
    // The store keeps a digest: fixed length, no NUL (PostgreSQL text cannot hold one), no user id.
    const digest = hash('sha256', key, 'base64url');
    if (this.#fromLease(digest, rate)) return 0;
    try {
      const wait = await this.#counted(digest, rate);
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
      return this.#local.check(key, this.#share(rate), rate.windowMs, this.#now());
    }
  }

  /** Counts `n` more against `key` without asking whether they fit (tokens an answer used). */
  async add(key: string, rate: Rate, n: number): Promise<void> {
    if (!this.#store) {
      this.#local.add(key, Math.min(n, rate.max), rate.windowMs, this.#now());
      return;
    }
    const digest = hash('sha256', key, 'base64url');
    await this.#store.rateHit(digest, 2 ** 31 - 1, rate.windowMs, n).catch(() => {
      this.#local.add(key, Math.min(n, rate.max), rate.windowMs, this.#now());
    });
  }

  /** Gives back every lease's unused admissions (the process is stopping). */
  async close(): Promise<void> {
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = undefined;
    await Promise.all([...this.#leases].map(([digest, lease]) => this.#giveBack(digest, lease)));
    this.#leases.clear();
  }

  /** Takes one admission from the key's lease, if it holds one that is still good. */
  #fromLease(digest: string, rate: Rate): boolean {
    const lease = this.#leases.get(digest);
    if (!lease || lease.left === 0) return false;
    const now = this.#now();
    if (now < lease.until && windowAt(now, rate.windowMs).start === lease.windowStart) {
      lease.left--;
      return true;
    }
    void this.#giveBack(digest, lease);
    return false;
  }

  /** Uncounts what a lease left unused (expired, or its window moved on), and leases less next time. */
  #giveBack(digest: string, lease: Lease): Promise<void> {
    const n = lease.left;
    if (n === 0 || !this.#store) return Promise.resolve();
    lease.left = 0;
    lease.ahead = Math.floor(lease.ahead / 2);
    return this.#store.rateGiveBack(digest, lease.windowStart, n).catch(() => undefined);
  }

  /** Joins the key's next count; one count per key is on its way at a time. */
  #counted(digest: string, rate: Rate): Promise<number> {
    return new Promise((settle, fail) => {
      let w = this.#waiting.get(digest);
      if (!w) {
        w = { n: 0, settle: [], fail: [], rate };
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
    const now = this.#now();
    const last = this.#leases.get(digest);
    // Busy: a key with a lease that ran out before its time, or without one, counted twice in a
    // row within BUSY_GAP_MS. A busy key asks to lease twice as many as the last time (one, the
    // first time); another keeps what it had (halved by a give-back). The store decides whether
    // the window has room for it.
    const quick = last !== undefined && now - last.countedAt < BUSY_GAP_MS ? last.quick + 1 : 0;
    const busy = last !== undefined && (last.ahead > 0 ? now < last.until : quick >= 2);
    // The most one instance leases ahead for one key.
    const perInstance = w.rate.max / this.#instances;
    const cap = perInstance < MIN_LEASE_LIMIT ? 0 : Math.floor(perInstance / 8);
    const ahead = Math.min(cap, busy ? Math.max(1, last.ahead * 2) : (last?.ahead ?? 0));
    try {
      const batch = await store.rateHit(digest, w.rate.max, w.rate.windowMs, w.n, ahead);
      const used = Math.min(batch.admitted, w.n);
      // First come, first admitted.
      w.settle.forEach((settle, i) => {
        settle(i < used ? 0 : batch.retryAfterS);
      });
      if (last && last.left > 0) void this.#giveBack(digest, last);
      this.#leases.set(digest, {
        windowStart: batch.windowStart,
        left: batch.admitted - used,
        until: now + LEASE_MS,
        ahead: batch.admitted - used,
        countedAt: now,
        quick,
      });
      this.#sweepLater();
    } catch (err) {
      for (const fail of w.fail) fail(err);
    } finally {
      this.#counting.delete(digest);
      // Those who came while this count was on its way take what the lease holds, and go next,
      // together.
      const next = this.#waiting.get(digest);
      if (next) {
        while (next.n > 0 && this.#fromLease(digest, next.rate)) {
          next.n--;
          next.fail.shift();
          (next.settle.shift() as (retryAfterS: number) => void)(0);
        }
        if (next.n === 0) this.#waiting.delete(digest);
        else void this.#count(digest);
      }
    }
    // Windows older than the previous one are never read again.
    this.#checks += w.n;
    this.#longestWindowMs = Math.max(this.#longestWindowMs, w.rate.windowMs);
    if (this.#checks >= PRUNE_EVERY) {
      this.#checks = 0;
      // Only windows older than the longest window in use and the one before it.
      const windowMs = this.#longestWindowMs;
      void store.pruneRateWindows(windowAt(this.#now(), windowMs).start - windowMs);
    }
  }

  /** Expired leases are given back and forgotten, also for keys that stopped asking. */
  #sweepLater(): void {
    if (this.#sweep) return;
    this.#sweep = setInterval(() => {
      const now = this.#now();
      for (const [digest, lease] of this.#leases) {
        if (now < lease.until) continue;
        void this.#giveBack(digest, lease);
        this.#leases.delete(digest);
      }
      if (this.#leases.size === 0 && this.#sweep) {
        clearInterval(this.#sweep);
        this.#sweep = undefined;
      }
    }, LEASE_MS);
    this.#sweep.unref();
  }

  /** For /health: `up` while shared; `down` (the API still limits, by a local share) otherwise. */
  health(): CheckResult {
    const share = this.#share(this.#default);
    if (!this.#store) return { status: 'up', scope: 'local', limit: share, configured: 'local' };
    if (this.#error === undefined) return { status: 'up', scope: 'shared', limit: this.#default.max };
    return {
      status: 'down',
      scope: 'local',
      limit: share,
      since: this.#since,
      error: `shared rate-limit windows unreachable (${this.#error}): this process allows ${share} per window alone (its share of each key's limit)`,
    };
  }
}

/**
 * A sliding-log limit in this process's memory: at most `max` requests in any `windowMs`. The
 * fallback share of `RateLimit`.
 */
export class RateLimiter {
  readonly #hits = new Map<string, number[]>();
  #sweeps = 0;
  #longestWindowMs = 0;

  /** 0 when allowed (and counted), else the seconds until the next request may go. */
  check(key: string, max: number, windowMs: number, now = Date.now()): number {
    const hits = this.#live(key, windowMs, now);
    if (hits.length >= max) return Math.max(1, Math.ceil(((hits[0] as number) + windowMs - now) / 1000));
    hits.push(now);
    return 0;
  }

  /** Counts `n` more at `now`, admitted or not. */
  add(key: string, n: number, windowMs: number, now = Date.now()): void {
    const hits = this.#live(key, windowMs, now);
    for (let i = 0; i < n; i++) hits.push(now);
  }

  /** The key's hits still inside the window. */
  #live(key: string, windowMs: number, now: number): number[] {
    const cutoff = now - windowMs;
    this.#longestWindowMs = Math.max(this.#longestWindowMs, windowMs);
    let hits = this.#hits.get(key);
    if (!hits) {
      hits = [];
      this.#hits.set(key, hits);
    }
    let drop = 0;
    while (drop < hits.length && (hits[drop] as number) <= cutoff) drop++;
    if (drop > 0) hits.splice(0, drop);
    if (++this.#sweeps % 10_000 === 0) this.#sweep(now - this.#longestWindowMs);
    return hits;
  }

  /** Forgets idle keys, so memory follows the active callers, not all callers ever seen. */
  #sweep(cutoff: number): void {
    for (const [k, hits] of this.#hits) if ((hits[hits.length - 1] ?? 0) <= cutoff) this.#hits.delete(k);
  }
}
