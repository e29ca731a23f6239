/**
 * A key's spend: what a recorded request adds to its key's budget (both stores write it in the
 * same transaction as the record, so spend is exactly as durable as the records, outbox included).
 */
import type { BudgetHold, RequestRecord } from './types.ts';

const DAY_MS = 86_400_000;

/** Days since the epoch (UTC): the unit a key's spend is kept in. */
export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** The first day of the budget period that contains `ms`: today, or the first of this month (UTC). */
export function periodStartDay(period: 'day' | 'month', ms: number): number {
  if (period === 'day') return dayOf(ms);
  const d = new Date(ms);
  return dayOf(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

/** When the period that contains `ms` ends (ms since the epoch). */
export function periodEnd(period: 'day' | 'month', ms: number): number {
  if (period === 'day') return (dayOf(ms) + 1) * DAY_MS;
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** What a record adds to its key's spend; undefined for a request of no key (no keys configured). */
export function spendOf(r: RequestRecord): { keyId: string; tokens: number; cost: number } | undefined {
  if (!r.key_id) return undefined;
  return { keyId: r.key_id, tokens: r.tokens_used ?? 0, cost: r.cost ?? 0 };
}

/**
 * The one budget rule, for both stores: a request is admitted when its estimate fits in what its
 * key's recorded spend and its requests in flight leave, and holds it. One that does not fit is
 * admitted only alone — with no other request of the key in flight — holding what is left, so a
 * budget's last tokens still serve a request. Requests racing at the edge therefore never together
 * hold more than the budget, and the spend passes it only by what one lone request uses beyond its
 * hold. (Capping every hold at what was left let a racing request slip into the 1-token gap another
 * one's smaller spend had freed, and spend 9: 11 admitted of 10.) Undefined: refused.
 */
export function holdable(
  h: BudgetHold,
  spent: { tokens: number; cost: number },
  held: { tokens: number; cost: number; count: number },
): { tokens: number; cost: number } | undefined {
  const left = (limit: number | null, used: number) =>
    limit === null ? Number.POSITIVE_INFINITY : limit - used;
  const tokensLeft = left(h.limit.tokens, spent.tokens + held.tokens);
  const costLeft = left(h.limit.cost, spent.cost + held.cost);
  if (tokensLeft <= 0 || costLeft <= 0) return undefined;
  const fits = h.tokens <= tokensLeft && h.cost <= costLeft;
  if (!fits && held.count > 0) return undefined;
  return { tokens: Math.min(h.tokens, tokensLeft), cost: Math.min(h.cost, costLeft) };
}
