/**
 * Time as the supervisor sees it: `now()` and one-shot timers. Injected so that restart decisions,
 * backoff, cool-downs and probes can be driven by a fake clock in unit tests.
 */
export type Cancel = () => void;

export interface Clock {
  now(): number;
  /** Runs `fn` once after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): Cancel;
}

/** Node's timers hold at most 2^31-1 ms (~24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  /** Due by the monotonic clock: a step of the wall clock neither delays nor hastens it. */
  after(ms, fn) {
    let timer: NodeJS.Timeout;
    const due = performance.now() + ms;
    const arm = (left: number) => {
      timer = setTimeout(
        () => {
          const rest = due - performance.now();
          if (rest > 0) arm(rest);
          else fn();
        },
        Math.min(Math.max(0, left), MAX_TIMER_MS),
      );
    };
    arm(ms);
    return () => clearTimeout(timer);
  },
};
