/**
 * Restart delays for consecutive start failures: the first restart is immediate, then the delay
 * grows exponentially (250 ms, 500 ms, 1 s, …) with ±20 % jitter up to a cap. Only start failures
 * back off (see restart-decision.ts); the count of them belongs to whoever owns the child.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 30_000, factor: 2, jitter: 0.2 };

/** The delay before the start that follows the `failures`-th failure in a row (1: none). */
export function backoffDelay(failures: number, opts: BackoffOptions, random: number): number {
  if (failures <= 1) return 0;
  const base = Math.min(opts.maxMs, opts.initialMs * opts.factor ** (failures - 2));
  const spread = base * opts.jitter;
  return Math.max(0, Math.round(base - spread + random * 2 * spread));
}
