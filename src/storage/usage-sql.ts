/** The usage report's one query shape, for both dialects: what each grouping groups by. */
import type { UsageQuery, UsageRow } from './types.ts';

/** The SQL expression a usage row is grouped by, in this dialect. */
export function usageGroup(by: UsageQuery['by'], dialect: 'sqlite' | 'postgres'): string {
  if (by === 'model') return "coalesce(ai_model, '-')";
  if (by === 'key') return "coalesce(key_name, case when key_id = '' then 'anonymous' else key_id end)";
  if (by === 'source') return 'source';
  return dialect === 'sqlite'
    ? "strftime('%Y-%m-%d', created_at / 1000, 'unixepoch')"
    : "to_char(created_at at time zone 'UTC', 'YYYY-MM-DD')";
}

/** The sums of a usage row (the same in both dialects). */
export const USAGE_SUMS = `count(*) as requests,
  coalesce(sum(prompt_tokens), 0) as prompt_tokens,
  coalesce(sum(completion_tokens), 0) as completion_tokens,
  coalesce(sum(tokens_used), 0) as tokens,
  coalesce(sum(cost), 0) as cost,
  coalesce(sum(case when cost is null and coalesce(tokens_used, 0) > 0 then 1 else 0 end), 0) as cost_unknown`;

/** A usage row with its sums as numbers (drivers return bigint sums as strings or bigints). */
export function numericUsage(r: UsageRow): UsageRow {
  return {
    group: String(r.group),
    requests: Number(r.requests),
    prompt_tokens: Number(r.prompt_tokens),
    completion_tokens: Number(r.completion_tokens),
    tokens: Number(r.tokens),
    cost: Number(r.cost),
    cost_unknown: Number(r.cost_unknown),
  };
}
