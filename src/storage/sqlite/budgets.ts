/**
 * Budget holds in the SQLite store: decided inside one write transaction (SQLite's one writer at a
 * time is the lock), so processes sharing the file never both take the last of a budget.
 */
import type { DatabaseSync } from 'node:sqlite';
import { holdable } from '../spend.ts';
import type { BudgetHold, HoldResult } from '../types.ts';
import { stmt, transaction } from './open.ts';

export function holdBudgetSqlite(db: DatabaseSync, h: BudgetHold, now: number): HoldResult {
  return transaction(db, () => {
    const spent = stmt(
      db,
      'select coalesce(sum(tokens), 0) as tokens, coalesce(sum(cost), 0) as cost from key_spend where key_id = ? and day >= ?',
    ).get(h.keyId, h.sinceDay) as { tokens: number; cost: number };
    const held = stmt(
      db,
      'select coalesce(sum(tokens), 0) as tokens, coalesce(sum(cost), 0) as cost, count(*) as n from budget_holds where key_id = ? and expires_at > ?',
    ).get(h.keyId, now) as { tokens: number; cost: number; n: number };
    const s = { tokens: Number(spent.tokens), cost: Number(spent.cost) };
    const take = holdable(h, s, {
      tokens: Number(held.tokens),
      cost: Number(held.cost),
      count: Number(held.n),
    });
    if (!take) return { ok: false, spentTokens: s.tokens, spentCost: s.cost };
    stmt(db, 'delete from budget_holds where key_id = ? and expires_at <= ?').run(h.keyId, now);
    stmt(db, 'insert into budget_holds (id, key_id, tokens, cost, expires_at) values (?, ?, ?, ?, ?)').run(
      h.id,
      h.keyId,
      take.tokens,
      take.cost,
      now + h.leaseMs,
    );
    return { ok: true };
  });
}
