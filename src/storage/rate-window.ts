/**
 * The shared rate limit's one rule: a sliding-window counter (the scheme Cloudflare describes for
 * its rate limiting). Each key counts requests in fixed windows of the configured length; a request is
 * admitted when the current window's count plus the previous window's, weighted by how much of it
 * still overlaps the sliding window and rounded up, stays under the limit. Two integers per key and
 * window, so every instance can share them through the store; for traffic spread over the window
 * it matches an exact sliding log within a few per cent (measured in tests/unit/rate-limit.test.ts).
 * Rounded up, the weighted count errs on the side of refusing: rounded down, 3 requests at a
 * window's end left room for a 4th just after it under a limit of 3.
 *
 * A count may also lease admissions ahead (api/pipeline/rate-limiter.ts): those are decided here
 * too, against the window as the store holds it under its lock — not as the instance last saw it,
 * since another instance may have used the room since.
 *
 * PostgreSQL decides it in SQL (storage/postgres/rate-windows.ts), with the same expression.
 */
export interface WindowPosition {
  /** Start of the current fixed window (ms since the epoch, a multiple of the window). */
  start: number;
  /** How much of the previous window still lies inside the sliding window (1 → 0). */
  weight: number;
  /** Milliseconds since `start`. */
  elapsed: number;
}

export interface RateVerdict {
  allowed: boolean;
  /** When refused: seconds until a request would be admitted (at least 1). */
  retryAfterS: number;
}

/**
 * `n` requests of one key counted at once: the first `admitted` go (with any admissions leased
 * ahead beyond `n`), the rest wait `retryAfterS`.
 */
export interface RateBatch {
  admitted: number;
  retryAfterS: number;
  /** The window they were counted in (its start, ms since the epoch). */
  windowStart: number;
}

/**
 * A lease is counted only while the window has room for this many counts of its size (the waiting
 * requests and the lease): near the limit every request is counted one by one, so no admission
 * sits unused in one instance's lease while another's requests are refused.
 */
export const LEASE_ROOM = 4;

export function windowAt(now: number, windowMs: number): WindowPosition {
  const start = Math.floor(now / windowMs) * windowMs;
  const elapsed = now - start;
  return { start, weight: 1 - elapsed / windowMs, elapsed };
}

/** The admission rule, shared by every store: `ceil(previous × weight) + current < max`. */
export function admits(previous: number, current: number, weight: number, max: number): boolean {
  return Math.ceil(previous * weight) + current < max;
}

/** How many of `n` requests the rule admits one after another: `max − ceil(previous × weight) − current`, within 0…n. */
export function admittedOf(
  previous: number,
  current: number,
  weight: number,
  max: number,
  n: number,
): number {
  return Math.max(0, Math.min(n, max - Math.ceil(previous * weight) - current));
}

/**
 * How many one count takes for `n` waiting requests and `ahead` admissions to lease: all of them
 * while the window has room for LEASE_ROOM counts of that size; else the waiting as admittedOf()
 * admits them, and no lease.
 */
export function countedOf(
  previous: number,
  current: number,
  weight: number,
  max: number,
  n: number,
  ahead: number,
): number {
  const room = admittedOf(previous, current, weight, max, Number.MAX_SAFE_INTEGER);
  return ahead > 0 && room >= LEASE_ROOM * (n + ahead) ? n + ahead : Math.min(n, room);
}

/** The outcome for `n` waiting requests once `admitted` were counted on top of `current`. */
export function batchVerdict(
  previous: number,
  current: number,
  admitted: number,
  n: number,
  at: WindowPosition,
  max: number,
  windowMs: number,
): RateBatch {
  if (admitted >= n) return { admitted, retryAfterS: 0, windowStart: at.start };
  const v = verdict(previous, current + admitted, at, max, windowMs);
  // Refused under the lock; counts read a moment apart may say otherwise — the store's word stands.
  return { admitted, retryAfterS: v.allowed ? 1 : v.retryAfterS, windowStart: at.start };
}

/** The verdict for a request seen with these counts (before it was counted). */
export function verdict(
  previous: number,
  current: number,
  at: WindowPosition,
  max: number,
  windowMs: number,
): RateVerdict {
  if (admits(previous, current, at.weight, max)) return { allowed: true, retryAfterS: 0 };
  let waitMs: number;
  // ceil(x) + c < max ⇔ x ≤ max − c − 1: admitted once the previous window's share has faded to it.
  if (current >= max) {
    // Only the next window can admit it, once this window's count has faded enough.
    waitMs = windowMs - at.elapsed + windowMs * (1 - (max - 1) / current);
  } else {
    const weight = (max - current - 1) / previous;
    waitMs = windowMs * (1 - weight) - at.elapsed;
  }
  // Rounded up to whole seconds, and a millisecond past the moment for the clock's sake.
  return { allowed: false, retryAfterS: Math.max(1, Math.ceil((waitMs + 1) / 1000)) };
}
