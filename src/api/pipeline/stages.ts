/**
 * The pipeline's checks before the model, in order: killswitch (fail closed), rate limit,
 * gatekeeper. Each returns the outcome that ends the request, or undefined to go on.
 */
import type { ApiConfig } from '../../config/api-config.ts';
import type { Logger } from '../../logger/logger.ts';
import { killswitchChange } from '../../storage/killswitch.ts';
import { type BlockRecord, StorageUnavailableError, type Store } from '../../storage/types.ts';
import { problem } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { Gatekeeper } from './gatekeeper.ts';
import type { GatewayRequest, Outcome, Review } from './outcome.ts';
import type { RateLimit } from './rate-limiter.ts';

export interface StageDeps {
  store: Store;
  gatekeeper: Gatekeeper;
  limiter: RateLimit;
  metrics: Metrics;
  config: ApiConfig;
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

/** One block row and log line per limited user, source and window. */
export class RefusalReports {
  readonly #last = new Map<string, number>();

  first(key: string, windowMs: number): boolean {
    const now = Date.now();
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

/**
 * Rate limit per user and source. A refused request is counted, not stored: a row per 429 would
 * let a client fill the disk at the limiter's own speed. The first refusal of a burst (per user,
 * source and window) is recorded as a gatekeeper block and logged.
 */
export async function rateLimitStage(
  req: GatewayRequest,
  { store, limiter, config }: StageDeps,
  log: Logger,
  reports: RefusalReports,
): Promise<Outcome | undefined> {
  const key = `${req.userId}\u0000${req.source}`;
  const wait = await limiter.check(key);
  if (wait <= 0) return undefined;
  const review: Review = {
    approved: false,
    confidence: 1.0,
    reasoning: `rate limit: at most ${config.rateLimit.max} requests per ${Math.round(config.rateLimit.windowMs / 1000)} s for this user and source`,
    warnings: [`retry after ${wait} s`],
  };
  if (reports.first(key, config.rateLimit.windowMs)) {
    log.warn('rate limit reached: refusing until the window moves', {
      user_id: req.userId,
      source: req.source,
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
    problem: problem(429, 'rate_limited', review.reasoning, { retryAfterS: wait }),
    review,
    recorded: false,
  };
}

/** Gatekeeper pre-flight: a rejection is recorded as a block, and a critical one may trip the killswitch. */
export async function gatekeeperStage(
  req: GatewayRequest,
  { store, gatekeeper, config }: StageDeps,
  log: Logger,
): Promise<{ outcome?: Outcome; confidence: number; reasoning: string }> {
  const verdict = gatekeeper.review(req.input);
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
