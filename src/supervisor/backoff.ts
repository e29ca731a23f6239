/**
 * Restart delays for consecutive crashes: the first restart is immediate, then the delay grows
 * exponentially with ±20 % jitter up to a cap. Unlike PM2 and supervisord, the step does not reset
 * because a child lived past some grace time — only after it stayed healthy for `resetAfterMs`, so a
 * child that crashes every few seconds never restarts in a tight loop.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** Healthy time after which the step goes back to "restart at once". */
  resetAfterMs: number;
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 250,
  maxMs: 30_000,
  factor: 2,
  resetAfterMs: 30_000,
  jitter: 0.2,
};

export class Backoff {
  readonly #opts: BackoffOptions;
  readonly #random: () => number;
  /** Consecutive failures since the last stable period. */
  #failures = 0;

  constructor(opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random) {
    this.#opts = opts;
    this.#random = random;
  }

  get failures(): number {
    return this.#failures;
  }

  /** Records a failure and returns how long to wait before the next start. */
  next(): number {
    const n = this.#failures++;
    if (n === 0) return 0;
    const base = Math.min(this.#opts.maxMs, this.#opts.initialMs * this.#opts.factor ** (n - 1));
    const spread = base * this.#opts.jitter;
    return Math.max(0, Math.round(base - spread + this.#random() * 2 * spread));
  }

  /** The child has been healthy for long enough: the next failure restarts at once again. */
  reset(): void {
    this.#failures = 0;
  }

  get resetAfterMs(): number {
    return this.#opts.resetAfterMs;
  }
}
