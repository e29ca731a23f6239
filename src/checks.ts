/**
 * What a dependency check reports under `/health`'s `checks` (the stores, the rate limit, the model
 * providers): `down` makes the service `degraded`, never unlive.
 */
export interface CheckResult {
  status: 'up' | 'down';
  [detail: string]: unknown;
}
