/**
 * The shared rate-limit windows in PostgreSQL: one statement per request that reads the previous
 * window, and counts in the current one what the rule of `countedOf()` (storage/rate-window.ts)
 * allows, decided under the row lock of the upsert, so concurrent instances never admit more than
 * the rule allows.
 */
import { batchVerdict, LEASE_ROOM, type RateBatch, windowAt } from '../rate-window.ts';
import type { Sql } from './connect.ts';

interface HitRow {
  admitted: number | null;
  previous: number;
  current: number;
}

/**
 * `n` requests of one key in one statement (the limiter batches a key's concurrent requests), and
 * `ahead` more to lease: as many are counted as `countedOf()` allows, decided under the row lock of
 * the upsert, and the `added` column returns how many that was (RETURNING sees only the new row).
 */
export async function rateHitPostgres(
  sql: Sql,
  key: string,
  max: number,
  windowMs: number,
  n: number,
  ahead: number,
): Promise<RateBatch> {
  const at = windowAt(Date.now(), windowMs);
  // countedOf() in SQL, given the window's count before this one: all n + ahead while the room
  // (`free` less that count) holds LEASE_ROOM × (n + ahead), else least(n, room).
  const take = (current: ReturnType<Sql>) => sql`(case
    when ${ahead}::int > 0 and (select free from room) - ${current} >= ${LEASE_ROOM * (n + ahead)}::int
      then ${n + ahead}::int
    else least(${n}::int, (select free from room) - ${current}) end)`;
  const [row] = await sql<HitRow[]>`
    with prev as (
      select coalesce(
        (select count from rate_windows where key = ${key} and window_start = ${at.start - windowMs}::bigint), 0
      ) as n
    ), room as (
      select ${max}::int - ceil(prev.n * ${at.weight}::float8)::int as free from prev
    ), hit as (
      insert into rate_windows as r (key, window_start, count, added)
      select ${key}, ${at.start}::bigint, ${take(sql`0`)}, ${take(sql`0`)} from room where free > 0
      on conflict (key, window_start) do update
        set count = r.count + ${take(sql`r.count`)}, added = ${take(sql`r.count`)}
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
