/**
 * The pipeline's checks before the model, in order: killswitch (fail closed), rate limit,
 * gatekeeper. Each returns the outcome that ends the request, or undefined to go on.
 */
import type { Rate } from '../../config/kinds.ts';
import { formatDuration } from '../../config/units.ts';
import type { Logger } from '../../logger/logger.ts';
import { newId } from '../../storage/ids.ts';
import { killswitchChange } from '../../storage/killswitch.ts';
import { periodEnd, periodStartDay } from '../../storage/spend.ts';
import {
  type BlockRecord,
  BudgetUndecidedError,
  type HoldResult,
  StorageUnavailableError,
  type Store,
} from '../../storage/types.ts';
import type { Prices } from '../../tenancy/prices.ts';
import type { Budget } from '../../tenancy/principal.ts';
import type { ApiConfig } from '../config.ts';
import { problem } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { ModelRouter } from '../providers/model-router.ts';
import { modelOf } from '../providers/model-router.ts';
import type { Gatekeeper } from './gatekeeper.ts';
import type { GatewayRequest, Outcome } from './outcome.ts';
import type { RateLimit } from './rate-limiter.ts';

export interface StageDeps {
  store: Store;
  gatekeeper: Gatekeeper;
  limiter: RateLimit;
  metrics: Metrics;
  config: ApiConfig;
  prices: Prices;
  router: ModelRouter;
}

export function storageProblem(err: StorageUnavailableError): Outcome {
  return {
    kind: 'failed',
    status: 'error',
    problem: problem(503, 'storage_unavailable', err.message, { retryAfterS: 5 }),
    recorded: false,
  };
}

async function writeBlock(
  store: Store,
  req: GatewayRequest,
  b: Omit<BlockRecord, 'request_id' | 'timestamp' | 'source' | 'user_id'>,
): Promise<void> {
  await store.write({
    kind: 'block',
    data: {
      ...b,
      request_id: req.id,
      timestamp: new Date().toISOString(),
      source: req.source,
      user_id: req.userId,
      key_id: req.principal.id,
    },
  });
}

/** Killswitch: when its state cannot be read, nothing goes through (fail closed). */
export async function killswitchStage({ store }: StageDeps, log: Logger): Promise<Outcome | undefined> {
  let state: Awaited<ReturnType<Store['killswitch']>>;
  try {
    state = await store.killswitch();
  } catch (err) {
    log.error('killswitch state unknown: refusing the request', { reason: (err as Error).message });
    return {
      kind: 'failed',
      status: 'error',
      problem: problem(
        503,
        'killswitch_unknown',
        'the killswitch state cannot be read, so requests are refused until it can',
        { retryAfterS: 5 },
      ),
      recorded: true,
    };
  }
  if (!state.is_active) return undefined;
  return {
    kind: 'refused',
    status: 'blocked',
    review: {
      approved: false,
      confidence: 1.0,
      reasoning: `killswitch active: ${state.reason ?? 'lockdown'}`,
      warnings: [
        `killswitch activated${state.activated_by ? ` by ${state.activated_by}` : ''} at ${state.activated_at}`,
      ],
    },
  };
}

/** One block row and log line per limited key (or end user) and window. */
export class RefusalReports {
  readonly #last = new Map<string, number>();

  first(key: string, windowMs: number): boolean {
    const now = performance.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last < windowMs) return false;
    if (this.#last.size >= 10_000) {
      for (const [k, t] of this.#last) if (now - t >= windowMs) this.#last.delete(k);
      if (this.#last.size >= 10_000) this.#last.clear();
    }
    this.#last.set(key, now);
    return true;
  }
}

/** The key may use this service and model (a key with no lists may use every one). */
export function accessStage(req: GatewayRequest): Outcome | undefined {
  const p = req.principal;
  const service = p.services === null || p.services.includes(req.route.service);
  const model = p.models === null || p.models.includes(req.route.name);
  if (service && model) return undefined;
  const what = service ? `the model '${req.route.name.slice(0, 100)}'` : `the ${req.route.service} service`;
  return {
    kind: 'failed',
    status: 'rejected',
    problem: problem(403, 'permission_denied', `the key ${p.name} may not use ${what}`),
    recorded: true,
  };
}

/**
 * The key's rate limit (its own, or the configured default), and inside it, when configured, one per
 * end user (`user` / `user_id`): a client's fields can narrow what its key may send, never widen it.
 * Then the key's token limit, while its window has room. A refused request is counted, not stored: a
 * row per 429 would let a client fill the disk at the limiter's own speed. The first refusal of a
 * burst (per key and window) is recorded as a gatekeeper block and logged.
 */
export async function rateLimitStage(
  req: GatewayRequest,
  { store, limiter, config }: StageDeps,
  log: Logger,
  reports: RefusalReports,
): Promise<Outcome | undefined> {
  const p = req.principal;
  const checks: { key: string; rate: Rate; what: string }[] = [
    { key: `k\u0000${p.id}`, rate: p.rateLimit ?? config.rateLimit, what: `requests for the key ${p.name}` },
  ];
  if (config.rateLimitUser) {
    checks.push({
      key: `u\u0000${p.id}\u0000${req.userId}`,
      rate: config.rateLimitUser,
      what: 'requests for this user',
    });
  }
  if (p.tokenLimit)
    checks.push({ key: tokenKey(p.id), rate: p.tokenLimit, what: `tokens for the key ${p.name}` });
  for (const check of checks) {
    const wait = await limiter.check(check.key, check.rate);
    if (wait <= 0) continue;
    const reasoning = `rate limit: at most ${check.rate.max} ${check.what} per ${formatDuration(check.rate.windowMs)}`;
    if (reports.first(check.key, check.rate.windowMs)) {
      log.warn('rate limit reached: refusing until the window moves', {
        key: p.name,
        limit: check.what,
        retry_after_s: wait,
      });
      await writeBlock(store, req, {
        block_reason: 'rate limit exceeded',
        block_category: 'rate_limit',
        severity: 'low',
        input_pattern: null,
        triggered_killswitch: false,
      }).catch(() => undefined);
    }
    return {
      kind: 'failed',
      status: 'rejected',
      problem: problem(429, 'rate_limited', reasoning, { retryAfterS: wait }),
      review: { approved: false, confidence: 1.0, reasoning, warnings: [`retry after ${wait} s`] },
      recorded: false,
    };
  }
  return undefined;
}

function tokenKey(keyId: string): string {
  return `t\u0000${keyId}`;
}

/** Counts the tokens an answer used in its key's token-limit window (one was counted at admission). */
export function spendTokens(req: GatewayRequest, { limiter }: StageDeps): void {
  const limit = req.principal.tokenLimit;
  const n = (req.spentTokens ?? 0) - 1;
  if (limit && n > 0) void limiter.add(tokenKey(req.principal.id), limit, n);
}

/** Held from the key's budget while its request runs: the tokens it may use, and their price. */
function estimate(req: GatewayRequest, deps: StageDeps): { tokens: number; cost: number } {
  const prompt = Math.ceil((req.reviewed ?? req.input).length / 4);
  const completion = req.model.maxTokens ?? deps.config.budgetReserve;
  const cost = deps.prices.cost(req.route.targets[0]?.provider, modelOf(req.route), { prompt, completion });
  return { tokens: prompt + completion, cost: cost ?? 0 };
}

/**
 * A key with a budget holds its request's estimate against it, decided atomically in the store for
 * every instance: a request is admitted only while the key's recorded spend and what its requests in
 * flight hold leave room for it. Refused: 429 `budget_exceeded`, with when the budget resets. When
 * the store cannot decide (PostgreSQL down) the request goes on, and its spend is still recorded.
 */
export async function budgetStage(
  req: GatewayRequest,
  deps: StageDeps,
  log: Logger,
): Promise<{ outcome: Outcome } | { release?: () => void }> {
  const p = req.principal;
  const none = {};
  if (!p.budget) return none;
  const now = Date.now();
  const est = estimate(req, deps);
  const id = newId();
  let held: HoldResult;
  try {
    held = await deps.store.holdBudget({
      id,
      keyId: p.id,
      sinceDay: periodStartDay(p.budget.period, now),
      tokens: est.tokens,
      cost: est.cost,
      leaseMs: req.budgetMs + BUDGET_HOLD_SLACK_MS,
      limit: { tokens: p.budget.tokens, cost: p.budget.cost },
    });
  } catch (err) {
    if (err instanceof BudgetUndecidedError) {
      log.warn('budget cannot be decided now: refused, retry', { key: p.name, reason: err.message });
      return {
        outcome: {
          kind: 'failed',
          status: 'error',
          problem: problem(503, 'busy', 'the budget of this key cannot be checked now; retry', {
            retryAfterS: 1,
          }),
          recorded: false,
        },
      };
    }
    if (!(err instanceof StorageUnavailableError)) throw err;
    log.warn('budget cannot be checked now: the request goes on, its spend is recorded', { key: p.name });
    return none;
  }
  if (!held.ok) return refusedByBudget(p.name, p.budget, held, now);
  // Its record releases the hold with the spend that replaces it (and clears req.budgetHold); this
  // is for an outcome not recorded.
  req.budgetHold = id;
  return {
    release: () => {
      if (req.budgetHold) void deps.store.releaseBudget(id);
    },
  };
}

/** 429 `budget_exceeded`, with when the budget resets. */
function refusedByBudget(
  name: string,
  budget: Budget,
  held: Extract<HoldResult, { ok: false }>,
  now: number,
): { outcome: Outcome } {
  const resets = periodEnd(budget.period, now);
  const reasoning = `the key ${name} has used its budget for the ${budget.period} (${describeBudget(budget, held)}); it resets at ${new Date(resets).toISOString()}`;
  return {
    outcome: {
      kind: 'failed',
      status: 'rejected',
      problem: problem(429, 'budget_exceeded', reasoning, {
        retryAfterS: Math.max(1, Math.ceil((resets - now) / 1000)),
        extra: { resets_at: new Date(resets).toISOString() },
      }),
      review: { approved: false, confidence: 1.0, reasoning, warnings: [] },
      recorded: false,
    },
  };
}

/** A budget hold outlives its request's deadline by this much before it lapses (its process died). */
const BUDGET_HOLD_SLACK_MS = 60_000;

function describeBudget(b: Budget, h: Extract<HoldResult, { ok: false }>): string {
  const parts: string[] = [];
  if (b.tokens !== null) parts.push(`${h.spentTokens} of ${b.tokens} tokens`);
  if (b.cost !== null) parts.push(`${Math.round(h.spentCost * 10_000) / 10_000} of ${b.cost} in cost`);
  return parts.join(', ');
}

/** Gatekeeper pre-flight: a rejection is recorded as a block, and a critical one may trip the killswitch. */
export async function gatekeeperStage(
  req: GatewayRequest,
  { store, gatekeeper, config }: StageDeps,
  log: Logger,
): Promise<{ outcome?: Outcome; confidence: number; reasoning: string }> {
  const verdict = gatekeeper.review(req.reviewed ?? req.input);
  if (verdict.approved) return { confidence: verdict.confidence, reasoning: verdict.reasoning };
  const worst = verdict.findings[0];
  const trip = verdict.severity === 'critical' && config.tripKillswitch;
  log.warn('gatekeeper rejected a request', {
    severity: verdict.severity,
    findings: verdict.findings.length,
  });
  try {
    await writeBlock(store, req, {
      block_reason: verdict.reasoning.slice(0, 255),
      block_category: worst?.category ?? 'other',
      severity: verdict.severity ?? 'medium',
      input_pattern: verdict.findings
        .map((f) => f.match)
        .join(' | ')
        .slice(0, 1000),
      triggered_killswitch: trip,
    });
    if (trip) {
      await store.write({
        kind: 'killswitch',
        data: killswitchChange(
          true,
          'gatekeeper',
          `critical gatekeeper finding in request ${req.id}`,
          'gatekeeper',
        ),
      });
      log.error('gatekeeper activated the killswitch', { severity: verdict.severity });
    }
  } catch (err) {
    if (err instanceof StorageUnavailableError) return { outcome: storageProblem(err), ...verdict };
    throw err;
  }
  return {
    outcome: {
      kind: 'refused',
      status: 'rejected',
      review: {
        approved: false,
        confidence: verdict.confidence,
        reasoning: verdict.reasoning,
        warnings: verdict.warnings,
      },
    },
    confidence: verdict.confidence,
    reasoning: verdict.reasoning,
  };
}
