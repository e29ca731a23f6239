/**
 * The shared rate-limit windows in PostgreSQL: one statement per request that reads the previous
 * window, and counts the request in the current one only when the rule of `admits()`
 * (api/pipeline/rate-window.ts) holds —
 * decided under the row lock of the upsert, so concurrent instances never admit more than the
 * rule allows.
 */
import { type RateVerdict, verdict, windowAt } from '../../api/pipeline/rate-window.ts';
import type { Sql } from './connect.ts';

interface HitRow {
  counted: number | null;
  previous: number;
  current: number;
}

export async function rateHitPostgres(
  sql: Sql,
  key: string,
  max: number,
  windowMs: number,
): Promise<RateVerdict> {
  const at = windowAt(Date.now(), windowMs);
  // `floor(previous × weight) + current < max`: the same expression as admits().
  const [row] = await sql<HitRow[]>`
    with prev as (
      select coalesce(
        (select count from rate_windows where key = ${key} and window_start = ${at.start - windowMs}::bigint), 0
      ) as n
    ), hit as (
      insert into rate_windows as r (key, window_start, count)
      select ${key}, ${at.start}::bigint, 1 from prev
        where floor(prev.n * ${at.weight}::float8) + 0 < ${max}::int
      on conflict (key, window_start) do update set count = r.count + 1
        where floor((select n from prev) * ${at.weight}::float8) + r.count < ${max}::int
      returning r.count
    )
    select (select count from hit) as counted, (select n from prev) as previous,
      coalesce((select count from rate_windows where key = ${key} and window_start = ${at.start}::bigint), 0)
        as current`;
  if (!row) throw new Error('no answer from the rate-limit windows');
  if (row.counted !== null) return { allowed: true, retryAfterS: 0 };
  const v = verdict(row.previous, row.current, at, max, windowMs);
  // Refused under the lock; counts read a moment apart may say otherwise — the database's word stands.
  return v.allowed ? { allowed: false, retryAfterS: 1 } : v;
}

export async function pruneRateWindows(sql: Sql, before: number): Promise<void> {
  await sql`delete from rate_windows where window_start < ${before}::bigint`;
}
