/**
 * Dependency checks that `/health` reports under `checks`. Later parts register theirs (database,
 * outbox, model provider); a check that is down makes the service `degraded`, never unlive.
 */
export interface CheckResult {
  status: 'up' | 'down';
  [detail: string]: unknown;
}

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
