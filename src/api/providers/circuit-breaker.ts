/**
 * A circuit breaker per provider: after `threshold` failures in a row it opens and calls fail at
 * once (503 with Retry-After) for `openMs`; then one trial call is let through (half-open) and its
 * outcome closes or reopens the circuit. Its times are the monotonic clock's: a step of the wall
 * clock neither holds it open nor closes it early.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly #threshold: number;
  readonly #openMs: number;
  #failures = 0;
  #openedAt = 0;
  #state: CircuitState = 'closed';
  #trialInFlight = false;

  constructor(threshold = 5, openMs = 30_000) {
    this.#threshold = threshold;
    this.#openMs = openMs;
  }

  get state(): CircuitState {
    if (this.#state === 'open' && performance.now() - this.#openedAt >= this.#openMs)
      this.#state = 'half-open';
    return this.#state;
  }

  /** Milliseconds until a call may be tried, 0 when one may go now. */
  retryAfterMs(): number {
    const s = this.state;
    if (s === 'closed') return 0;
    if (s === 'half-open') return this.#trialInFlight ? 1000 : 0;
    return Math.max(0, this.#openMs - (performance.now() - this.#openedAt));
  }

  /** True when this call may go ahead (and, half-open, it is the trial). */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'half-open' && !this.#trialInFlight) {
      this.#trialInFlight = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.#failures = 0;
    this.#trialInFlight = false;
    this.#state = 'closed';
  }

  /** A call that ended saying nothing about the provider (the client left, a 429). */
  release(): void {
    this.#trialInFlight = false;
  }

  failure(): void {
    this.#trialInFlight = false;
    this.#failures++;
    if (this.#state === 'half-open' || this.#failures >= this.#threshold) {
      this.#state = 'open';
      this.#openedAt = performance.now();
    }
  }
}
