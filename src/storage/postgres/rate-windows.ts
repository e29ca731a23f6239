/**
 * The shared rate-limit windows in PostgreSQL: one statement per request that reads the previous
 * window, and counts the request in the current one only when the rule of `admits()`
 * (api/pipeline/rate-window.ts) holds —
 * decided under the row lock of the upsert, so concurrent instances never admit more than the
 * rule allows.
 */
import { batchVerdict, type RateBatch, windowAt } from '../rate-window.ts';
import type { Sql } from './connect.ts';

interface HitRow {
  admitted: number | null;
  previous: number;
  current: number;
}

/**
 * `n` requests of one key in one statement (the limiter batches a key's concurrent requests): as
 * many are counted as `admittedOf()` allows, decided under the row lock of the upsert, and the
 * `added` column returns how many that was (RETURNING sees only the new row).
 */
export async function rateHitPostgres(
  sql: Sql,
  key: string,
  max: number,
  windowMs: number,
  n: number,
): Promise<RateBatch> {
  const at = windowAt(Date.now(), windowMs);
  // `max − ceil(previous × weight) − current`, within 0…n: the same expression as admittedOf().
  const [row] = await sql<HitRow[]>`
    with prev as (
      select coalesce(
        (select count from rate_windows where key = ${key} and window_start = ${at.start - windowMs}::bigint), 0
      ) as n
    ), room as (
      select ${max}::int - ceil(prev.n * ${at.weight}::float8)::int as free from prev
    ), hit as (
      insert into rate_windows as r (key, window_start, count, added)
      select ${key}, ${at.start}::bigint, least(${n}::int, room.free), least(${n}::int, room.free) from room
        where room.free > 0
      on conflict (key, window_start) do update
        set count = r.count + least(${n}::int, (select free from room) - r.count),
            added = least(${n}::int, (select free from room) - r.count)
        where (select free from room) - r.count > 0
      returning r.added
    )
    select (select added from hit) as admitted, (select n from prev) as previous,
      coalesce((select count from rate_windows where key = ${key} and window_start = ${at.start}::bigint), 0)
        as current`;
  if (!row) throw new Error('no answer from the rate-limit windows');
  // `current` is read from the snapshot before this statement's own count.
  return batchVerdict(row.previous, row.current, row.admitted ?? 0, n, at, max, windowMs);
}

export async function rateGiveBackPostgres(
  sql: Sql,
  key: string,
  windowStart: number,
  n: number,
): Promise<void> {
  await sql`update rate_windows set count = greatest(0, count - ${n}::int)
    where key = ${key} and window_start = ${windowStart}::bigint`;
}

export async function pruneRateWindows(sql: Sql, before: number): Promise<void> {
  await sql`delete from rate_windows where window_start < ${before}::bigint`;
}
