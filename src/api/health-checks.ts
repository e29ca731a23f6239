/**
 * Dependency checks that `/health` reports under `checks`. Later parts register theirs (database,
 * outbox, model provider); a check that is down makes the service `degraded`, never unlive.
 */
import type { CheckResult } from '../checks.ts';

export type { CheckResult };

export type HealthCheck = () => Promise<CheckResult> | CheckResult;

export type HealthChecks = Record<string, HealthCheck>;

const CHECK_TIMEOUT_MS = 1000;

/** Runs every check at once, each bounded in time; a check that throws or hangs counts as down. */
export async function runChecks(checks: HealthChecks): Promise<Record<string, CheckResult>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckResult]> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<CheckResult>((resolve) => {
          timer = setTimeout(() => resolve({ status: 'down', error: 'check timed out' }), CHECK_TIMEOUT_MS);
        });
        return [name, await Promise.race([Promise.resolve(check()), timeout])];
      } catch {
        return [name, { status: 'down', error: 'check failed' }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return Object.fromEntries(entries);
}

/** How long /health answers from the checks' last results before running them again. */
const HELD_MS = 500;
/**
 * The oldest results /health answers from: the supervisor's default probe period. Older results
 * (after a quiet spell, or while a run hangs) are not an answer: the call waits for a run.
 */
const FRESH_MS = 1000;

/**
 * The checks' last results, held for /health: a call answers from them, and when they are older
 * than HELD_MS it runs the checks again in the background (one run at a time, whatever the load)
 * while answering from what it holds — so /health costs a lookup, not a round of checks, and a
 * change shows within about half a second. A result's age counts from when its run began.
 */
export class HeldChecks {
  readonly #checks: HealthChecks;
  #results: Record<string, CheckResult> | undefined;
  #at = 0;
  #running: Promise<Record<string, CheckResult>> | undefined;

  constructor(checks: HealthChecks) {
    this.#checks = checks;
  }

  #refresh(): Promise<Record<string, CheckResult>> {
    if (this.#running) return this.#running;
    const began = performance.now();
    this.#running = runChecks(this.#checks).then((results) => {
      this.#results = results;
      this.#at = began;
      this.#running = undefined;
      return results;
    });
    return this.#running;
  }

  async current(): Promise<Record<string, CheckResult>> {
    const age = performance.now() - this.#at;
    if (this.#results === undefined || age > FRESH_MS) return this.#refresh();
    if (age > HELD_MS) void this.#refresh();
    return this.#results;
  }
}
