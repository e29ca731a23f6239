/**
 * The Universal Input API's request pipeline, in order: idempotency (a repeated request id gets the
 * stored answer, and waits for one still in flight), killswitch (fail closed), rate limit,
 * gatekeeper, model call, post-flight redaction — and every outcome recorded through the store
 * before it is answered.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ApiConfig } from '../../config/api-config.ts';
import type { Logger } from '../../logger/logger.ts';
import {
  type BlockRecord,
  type RequestRecord,
  type RequestStatus,
  StorageUnavailableError,
  type Store,
} from '../../storage/types.ts';
import type { Metrics } from '../metrics.ts';
import { type ModelOutcome, type ModelRouter, ModelUnavailableError } from '../providers/model-router.ts';
import { redactAnswer, summarize } from './answer-redaction.ts';
import type { Gatekeeper } from './gatekeeper.ts';
import type { RateLimit } from './rate-limiter.ts';
import type { UniversalRequest } from './request-schema.ts';

export interface PipelineResult {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface Review {
  approved: boolean;
  confidence: number;
  reasoning: string;
  warnings: string[];
}

export interface PipelineDeps {
  store: Store;
  router: ModelRouter;
  gatekeeper: Gatekeeper;
  limiter: RateLimit;
  metrics: Metrics;
  config: ApiConfig;
}

/** How often an attempt waiting on another instance's claim looks for its answer. */
const CLAIM_POLL_MS = 25;
/** A claim not renewed for this long belongs to an attempt that died with its process. */
const CLAIM_LEASE_MS = 10_000;
const CLAIM_RENEW_MS = 3_000;

export class UniversalPipeline {
  readonly #deps: PipelineDeps;
  readonly #inFlight = new Map<string, { fingerprint: string; work: Promise<PipelineResult> }>();

  /** When each limited user and source was last reported (one block and log line per window). */
  readonly #refusals = new Map<string, number>();

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
  }

  #firstRefusal(key: string, windowMs: number): boolean {
    const now = Date.now();
    const last = this.#refusals.get(key);
    if (last !== undefined && now - last < windowMs) return false;
    if (this.#refusals.size >= 10_000) {
      for (const [k, t] of this.#refusals) if (now - t >= windowMs) this.#refusals.delete(k);
      if (this.#refusals.size >= 10_000) this.#refusals.clear();
    }
    this.#refusals.set(key, now);
    return true;
  }

  /**
   * One model call per request id, whatever the concurrency and the instance: concurrent
   * duplicates in this process share one attempt (registered before anything is awaited), and
   * across processes sharing the store the attempt that claims the id runs while the others wait
   * for its recorded answer. A reused id with a different request is refused (409).
   */
  async handle(req: UniversalRequest, log: Logger, traceparent: string): Promise<PipelineResult> {
    const id = req.request_id;
    const fp = requestFingerprint(req);
    const running = this.#inFlight.get(id);
    if (running) return running.fingerprint === fp ? replay(await running.work) : conflict(id);
    const work = this.#claimed(req, fp, log, traceparent);
    this.#inFlight.set(id, { fingerprint: fp, work });
    try {
      return await work;
    } finally {
      this.#inFlight.delete(id);
    }
  }

  async #claimed(
    req: UniversalRequest,
    fp: string,
    log: Logger,
    traceparent: string,
  ): Promise<PipelineResult> {
    const { store, config } = this.#deps;
    const id = req.request_id;
    // A claim is a lease its attempt renews: one whose process died (SIGKILL, a lost machine) is
    // taken over within CLAIM_LEASE_MS, while a live attempt keeps it however long the model takes.
    const staleMs = CLAIM_LEASE_MS;
    const deadline = Date.now() + config.modelTimeoutMs + CLAIM_LEASE_MS + 5000;
    // The store answers from the database or, during an outage, from the outbox.
    const stored = async (): Promise<PipelineResult | undefined> => {
      const known = await store.findResponse(id);
      if (!known) return undefined;
      if (known.fingerprint && known.fingerprint !== fp) return conflict(id);
      return replay({ status: known.http_status, body: known.response });
    };
    for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
      const before = await stored();
      if (before) return before;
      const claim = await store.claim(id, fp, staleMs);
      if (claim === 'conflict') return conflict(id);
      if (claim === 'won') {
        const renewal = setInterval(() => void store.renewClaim(id), CLAIM_RENEW_MS);
        try {
          // The holder before us stores its answer, then releases: a claim won just after that
          // release must find the answer, not call the model a second time.
          return (await stored()) ?? (await this.#process(req, fp, log, traceparent));
        } finally {
          clearInterval(renewal);
          await store.release(id);
        }
      }
      if (i === 0) log.debug('request id in flight elsewhere: waiting for its answer');
      await new Promise((r) => setTimeout(r, CLAIM_POLL_MS));
    }
    return {
      status: 503,
      body: problemBody('busy', 'the same request is still being answered; retry later', id),
      headers: { 'Retry-After': '5' },
    };
  }

  async #process(
    req: UniversalRequest,
    fp: string,
    log: Logger,
    traceparent: string,
  ): Promise<PipelineResult> {
    const started = performance.now();
    const { store, router, gatekeeper, limiter, metrics, config } = this.#deps;
    const elapsed = () => Math.round(performance.now() - started);
    const answer = (status: RequestStatus, review: Review, robbieResponse: unknown) => ({
      request_id: req.request_id,
      status,
      robbie_response: robbieResponse,
      gatekeeper_review: review,
      processing_time_ms: elapsed(),
      timestamp: new Date().toISOString(),
    });
    const record = async (
      status: RequestStatus,
      httpStatus: number,
      body: unknown,
      review: Review | null,
      extra: { model?: string; tokens?: number | null; output?: string } = {},
    ): Promise<PipelineResult | undefined> => {
      const data: RequestRecord = {
        request_id: req.request_id,
        timestamp: new Date().toISOString(),
        source: req.source,
        source_metadata: req.source_metadata,
        ai_service: req.ai_service,
        ai_model: extra.model ?? null,
        input_summary: summarize(req.payload.input),
        output_summary: extra.output === undefined ? null : summarize(extra.output),
        gatekeeper_status: status,
        gatekeeper_confidence: review?.confidence ?? null,
        gatekeeper_reasoning: review?.reasoning ?? null,
        processing_time_ms: elapsed(),
        tokens_used: extra.tokens ?? null,
        user_id: req.user_id,
        http_status: httpStatus,
        response: body,
        request_fingerprint: fp,
      };
      metrics.universal(status, req.ai_service, req.source);
      try {
        const where = await store.write({ kind: 'request', data });
        if (where === 'outbox') log.debug('recorded in the outbox (database unreachable)');
        return undefined;
      } catch (err) {
        if (!(err instanceof StorageUnavailableError)) throw err;
        log.error('cannot record the request: answering 503', { reason: err.message });
        // Never acknowledge what could not be recorded.
        return {
          status: 503,
          body: { error: 'storage_unavailable', reason: err.message, request_id: req.request_id },
          headers: { 'Retry-After': '5' },
        };
      }
    };
    const block = async (b: Omit<BlockRecord, 'request_id' | 'timestamp' | 'source' | 'user_id'>) => {
      await store.write({
        kind: 'block',
        data: {
          ...b,
          request_id: req.request_id,
          timestamp: new Date().toISOString(),
          source: req.source,
          user_id: req.user_id,
        },
      });
    };

    // Killswitch: when its state cannot be read, nothing goes through (fail closed).
    let killswitch: Awaited<ReturnType<Store['killswitch']>>;
    try {
      killswitch = await store.killswitch();
    } catch (err) {
      log.error('killswitch state unknown: refusing the request', { reason: (err as Error).message });
      const body = {
        error: 'killswitch_unknown',
        reason: 'the killswitch state cannot be read, so requests are refused until it can',
        request_id: req.request_id,
      };
      return (
        (await record('error', 503, body, null)) ?? { status: 503, body, headers: { 'Retry-After': '5' } }
      );
    }
    if (killswitch.is_active) {
      const review: Review = {
        approved: false,
        confidence: 1.0,
        reasoning: `killswitch active: ${killswitch.reason ?? 'lockdown'}`,
        warnings: [
          `killswitch activated${killswitch.activated_by ? ` by ${killswitch.activated_by}` : ''} at ${killswitch.activated_at}`,
        ],
      };
      const body = answer('blocked', review, null);
      return (await record('blocked', 200, body, review)) ?? { status: 200, body };
    }

    // Rate limit per user and source. A refused request is counted, not stored: a row per 429
    // would let a client fill the disk at the limiter's own speed. The first refusal of a burst
    // (per user and source and window) is recorded as a gatekeeper block and logged.
    const limitKey = `${req.user_id}\u0000${req.source}`;
    const wait = await limiter.check(limitKey);
    if (wait > 0) {
      const review: Review = {
        approved: false,
        confidence: 1.0,
        reasoning: `rate limit: at most ${config.rateLimit.max} requests per ${Math.round(config.rateLimit.windowMs / 1000)} s for this user and source`,
        warnings: [`retry after ${wait} s`],
      };
      const body = { ...answer('rejected', review, null), error: 'rate_limited', retry_after_s: wait };
      metrics.universal('rejected', req.ai_service, req.source);
      if (this.#firstRefusal(limitKey, config.rateLimit.windowMs)) {
        log.warn('rate limit reached: refusing until the window moves', {
          user_id: req.user_id,
          source: req.source,
          retry_after_s: wait,
        });
        await block({
          block_reason: 'rate limit exceeded',
          block_category: 'rate_limit',
          severity: 'low',
          input_pattern: null,
          triggered_killswitch: false,
        }).catch(() => undefined);
      }
      return { status: 429, body, headers: { 'Retry-After': String(wait) } };
    }

    // Gatekeeper pre-flight.
    const verdict = gatekeeper.review(req.payload.input);
    if (!verdict.approved) {
      const worst = verdict.findings[0];
      const trip = verdict.severity === 'critical' && config.tripKillswitch;
      const review: Review = {
        approved: false,
        confidence: verdict.confidence,
        reasoning: verdict.reasoning,
        warnings: verdict.warnings,
      };
      const body = answer('rejected', review, null);
      log.warn('gatekeeper rejected a request', {
        severity: verdict.severity,
        findings: verdict.findings.length,
      });
      try {
        await block({
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
            data: {
              change_id: randomUUID(),
              is_active: true,
              at: new Date().toISOString(),
              by: 'gatekeeper',
              reason: `critical gatekeeper finding in request ${req.request_id}`,
              auto_trigger: 'gatekeeper',
            },
          });
          log.error('gatekeeper activated the killswitch', { severity: verdict.severity });
        }
      } catch (err) {
        if (err instanceof StorageUnavailableError) {
          return {
            status: 503,
            body: { error: 'storage_unavailable', reason: err.message, request_id: req.request_id },
          };
        }
        throw err;
      }
      return (await record('rejected', 200, body, review)) ?? { status: 200, body };
    }

    // The model.
    let outcome: ModelOutcome;
    try {
      outcome = await router.call(
        req.ai_service,
        {
          input: req.payload.input,
          context: req.payload.context.map((c) => c.content),
          source: req.source,
          temperature: req.payload.parameters.temperature,
          topP: req.payload.parameters.top_p,
          maxTokens: req.payload.parameters.max_tokens,
        },
        traceparent,
      );
    } catch (err) {
      if (!(err instanceof ModelUnavailableError)) throw err;
      log.warn('model unavailable', { reason: err.reason, provider: router.provider.name });
      const body = {
        error: 'model_unavailable',
        reason: err.reason,
        retry_after_s: err.retryAfterS,
        request_id: req.request_id,
      };
      const headers = { 'Retry-After': String(err.retryAfterS) };
      return (
        (await record('unavailable', 503, body, null, { model: router.modelFor(req.ai_service) })) ?? {
          status: 503,
          body,
          headers,
        }
      );
    }

    // Post-flight: secrets are taken out of the answer itself.
    let status: RequestStatus = 'approved';
    const review: Review = {
      approved: true,
      confidence: verdict.confidence,
      reasoning: verdict.reasoning,
      warnings: [],
    };
    let robbieResponse: Record<string, unknown>;
    let output: string;
    const base = { mood: config.mood, sticky_notes: [], personality_changes: {}, actions: [] };
    if (outcome.kind === 'embedding') {
      robbieResponse = {
        message: '',
        ...base,
        embedding: outcome.embedding,
        dimensions: outcome.embedding.length,
      };
      output = `embedding of ${outcome.embedding.length} dimensions`;
    } else {
      const cleaned = redactAnswer(outcome.text);
      if (cleaned.redactions > 0) {
        status = 'revised';
        review.approved = false;
        review.reasoning = 'secrets were removed from the answer';
        review.warnings = [
          `${cleaned.redactions} secret${cleaned.redactions > 1 ? 's' : ''} redacted from the answer`,
        ];
      }
      robbieResponse = { message: cleaned.text, ...base };
      output = cleaned.text;
    }
    const body = answer(status, review, robbieResponse);
    log.info('universal request answered', {
      status,
      service: req.ai_service,
      model: outcome.model,
      model_ms: Math.round(outcome.latencyMs),
      tokens: outcome.tokens,
    });
    return (
      (await record(status, 200, body, review, { model: outcome.model, tokens: outcome.tokens, output })) ?? {
        status: 200,
        body,
      }
    );
  }
}

function problemBody(error: string, reason: string, requestId: string) {
  return { error, reason, request_id: requestId };
}

function conflict(requestId: string): PipelineResult {
  return {
    status: 409,
    body: problemBody(
      'idempotency_conflict',
      'this request_id was already used for a different request; send a new request_id',
      requestId,
    ),
  };
}

/** Sorted keys at every level: the same request digests the same whatever its key order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
  );
}

/** What identifies a request's content (everything but its id). */
export function requestFingerprint(req: UniversalRequest): string {
  const { request_id: _id, ...content } = req;
  return createHash('sha256')
    .update(JSON.stringify(canonical(content)))
    .digest('hex')
    .slice(0, 32);
}

function replay(r: PipelineResult): PipelineResult {
  return { ...r, headers: { ...(r.headers ?? {}), 'Idempotent-Replayed': 'true' } };
}
