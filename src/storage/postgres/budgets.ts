/**
 * Budget holds in PostgreSQL: decided in one transaction under an advisory lock per key, so
 * instances racing at a budget's edge never both take its last share. Holds lapse by the
 * database's clock, which every instance agrees on.
 */
import { holdable } from '../spend.ts';
import type { BudgetHold, HoldResult } from '../types.ts';
import type { Sql } from './connect.ts';

const BUDGET_LOCK = 727_274_002;

export async function holdBudgetPostgres(sql: Sql, h: BudgetHold): Promise<HoldResult> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${BUDGET_LOCK}, hashtext(${h.keyId}))`;
    // One statement, one snapshot: a record committing between two reads (its spend added, its
    // hold deleted) would be counted by neither.
    const [row] = await tx<
      {
        spent_tokens: number;
        spent_cost: number;
        held_tokens: number;
        held_cost: number;
        held_count: number;
      }[]
    >`
      select
        (select coalesce(sum(tokens), 0)::float8 from key_spend where key_id = ${h.keyId} and day >= ${h.sinceDay}) as spent_tokens,
        (select coalesce(sum(cost), 0)::float8 from key_spend where key_id = ${h.keyId} and day >= ${h.sinceDay}) as spent_cost,
        (select coalesce(sum(tokens), 0)::float8 from budget_holds where key_id = ${h.keyId} and expires_at > now()) as held_tokens,
        (select coalesce(sum(cost), 0)::float8 from budget_holds where key_id = ${h.keyId} and expires_at > now()) as held_cost,
        (select count(*)::int from budget_holds where key_id = ${h.keyId} and expires_at > now()) as held_count`;
    const s = { tokens: Number(row?.spent_tokens ?? 0), cost: Number(row?.spent_cost ?? 0) };
    const held = {
      tokens: Number(row?.held_tokens ?? 0),
      cost: Number(row?.held_cost ?? 0),
      count: Number(row?.held_count ?? 0),
    };
    const take = holdable(h, s, held);
    if (!take) return { ok: false, spentTokens: s.tokens, spentCost: s.cost } satisfies HoldResult;
    await tx`delete from budget_holds where key_id = ${h.keyId} and expires_at <= now()`;
    await tx`insert into budget_holds (id, key_id, tokens, cost, expires_at)
      values (${h.id}, ${h.keyId}, ${take.tokens}, ${take.cost}, now() + ${`${Math.ceil(h.leaseMs)} milliseconds`}::interval)`;
    return { ok: true } satisfies HoldResult;
  }) as Promise<HoldResult>;
}
