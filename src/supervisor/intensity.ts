/**
 * The restart-intensity limit: more than `max` restarts within `windowMs` trips a cool-down
 * (OTP's intensity/period, systemd's StartLimitBurst/IntervalSec) — but robbie then tries again
 * instead of giving up for good.
 */
export class RestartWindow {
  readonly #max: number;
  readonly #windowMs: number;
  #times: number[] = [];
  #total = 0;

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Records a restart at `now`; true when this one exceeds the limit. */
  record(now: number): boolean {
    this.#total++;
    this.#times.push(now);
    this.#prune(now);
    return this.#times.length > this.#max;
  }

  inWindow(now: number): number {
    this.#prune(now);
    return this.#times.length;
  }

  get total(): number {
    return this.#total;
  }

  /** After a cool-down the count starts afresh. */
  clear(): void {
    this.#times = [];
  }

  #prune(now: number): void {
    const cutoff = now - this.#windowMs;
    while (this.#times.length > 0 && (this.#times[0] as number) <= cutoff) this.#times.shift();
  }
}
