/**
 * The request's one model budget: the `model-timeout` setting, shortened by the client when it
 * says so — `X-Robbie-Timeout` (a duration such as `5s` or `1500ms`) or `X-Stainless-Timeout`
 * (seconds: what the official OpenAI SDKs send with their own timeout). A budget is never longer
 * than the setting.
 */
import { parseDuration } from '../config/units.ts';
import { type Problem, problem } from './errors.ts';

export function budgetOf(
  headers: { robbie: string | undefined; stainless: string | undefined },
  settingMs: number,
): { ms: number } | { problem: Problem } {
  let ms = settingMs;
  if (headers.robbie !== undefined) {
    const asked = parseDuration(headers.robbie);
    if (asked === undefined || asked <= 0) {
      return {
        problem: problem(400, 'bad_request', 'X-Robbie-Timeout must be a duration such as 5s or 1500ms'),
      };
    }
    ms = Math.min(ms, asked);
  }
  const seconds = headers.stainless === undefined ? Number.NaN : Number(headers.stainless);
  if (Number.isFinite(seconds) && seconds > 0) ms = Math.min(ms, seconds * 1000);
  return { ms: Math.max(1, Math.round(ms)) };
}
