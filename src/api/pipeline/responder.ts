/**
 * The one place an outcome becomes an answer: it is shaped by the route's format, recorded through
 * the store (database or outbox) and only then sent — nothing is acknowledged that could not be
 * recorded (503 instead). Used by every route, whole or streamed.
 */
import type { Logger } from '../../logger/logger.ts';
import { type RequestRecord, StorageUnavailableError, type Store } from '../../storage/types.ts';
import { SpanKind } from '../../telemetry/span-data.ts';
import type { Prices } from '../../tenancy/prices.ts';
import { problem } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { summarize, summarizeRedacted } from './answer-redaction.ts';
import {
  type AnswerFormat,
  type GatewayRequest,
  type Outcome,
  problemReply,
  type Reply,
  spokenText,
} from './outcome.ts';

export class Responder {
  readonly #store: Store;
  readonly #metrics: Metrics;
  readonly #prices: Prices;

  constructor(store: Store, metrics: Metrics, prices: Prices) {
    this.#store = store;
    this.#metrics = metrics;
    this.#prices = prices;
  }

  async respond(
    req: GatewayRequest,
    outcome: Outcome,
    format: AnswerFormat,
    started: number,
    log: Logger,
  ): Promise<Reply> {
    const elapsed = Math.round(performance.now() - started);
    const reply = format.reply(req, outcome, elapsed);
    const answered = outcome.kind === 'answered' ? outcome.answer : undefined;
    // What the answer cost: nothing when the cache answered it.
    const usage = answered && !answered.cache ? (answered.usage ?? null) : null;
    const tokens = answered && !answered.cache ? answered.tokens : null;
    const cost = usage && answered ? this.#prices.cost(answered.provider, answered.model, usage) : null;
    req.spentTokens = tokens ?? 0;
    Object.assign(req.note, {
      key: req.principal.name,
      outcome: outcome.status,
      service: req.route.service,
      ...(answered
        ? {
            provider: answered.provider,
            model: answered.model,
            model_ms: Math.round(answered.latencyMs),
            tokens,
            ...(answered.cache ? { cache: answered.cache } : {}),
            ...(answered.stream ? { stream: answered.stream, first_token_ms: answered.firstTokenMs } : {}),
          }
        : {}),
    });
    // A stream ends after its access-log line: its end gets a line of its own.
    if (answered?.stream) log.info('stream ended', req.note);
    this.#metrics.universal(outcome.status, req.route.service, req.source);
    this.#metrics.keyRequest(req.principal.name, outcome.status, usage, cost);
    this.#metrics.traffic.usage(req.principal.name, req.source, tokens ?? 0);
    if (outcome.kind === 'answered') this.#metrics.answered(outcome.answer);
    if (outcome.kind === 'failed' && !outcome.recorded) return reply;
    const answer = outcome.kind === 'answered' ? outcome.answer : undefined;
    const review = outcome.kind === 'failed' ? outcome.review : outcome.review;
    const vectors = answer?.embeddings;
    const output = vectors
      ? `${vectors.length === 1 ? 'embedding' : `${vectors.length} embeddings`} of ${vectors[0]?.length ?? 0} dimensions`
      : answer && spokenText(answer);
    const data: RequestRecord = {
      request_id: req.id,
      timestamp: new Date().toISOString(),
      source: req.source,
      source_metadata: req.sourceMetadata,
      ai_service: req.route.service,
      ai_model: answer?.model ?? (outcome.kind === 'failed' ? (outcome.model ?? null) : null),
      provider: answer?.provider ?? null,
      input_summary: summarize(req.input),
      // The answer was redacted on its way out (whole, streamed or cached).
      output_summary: output === undefined ? null : summarizeRedacted(output),
      gatekeeper_status: outcome.status,
      gatekeeper_confidence: review?.confidence ?? null,
      gatekeeper_reasoning: review?.reasoning ?? null,
      processing_time_ms: elapsed,
      tokens_used: tokens,
      prompt_tokens: usage?.prompt ?? null,
      completion_tokens: usage?.completion ?? null,
      cost,
      key_id: req.principal.id,
      key_name: req.principal.id === '' ? null : req.principal.name,
      first_token_ms: answer?.firstTokenMs === undefined ? null : Math.round(answer.firstTokenMs),
      cache: answer?.cache ?? null,
      stream: answer?.stream ?? null,
      user_id: req.userId,
      // A stream cut by its client (499) or broken off by its provider (502) is no answer to
      // replay: the client had part of it, and a retry of its id runs again.
      http_status: answer?.stream === 'cut' ? 499 : answer?.stream === 'broken' ? 502 : reply.status,
      response: reply.body,
      request_fingerprint: req.fingerprint || null,
      budget_hold: req.budgetHold ?? null,
    };
    const span = req.span.child('store write', SpanKind.internal);
    try {
      const where = await this.#store.write({ kind: 'request', data });
      span.set('robbie.store.where', where).end();
      // The write released the budget hold (or carries its release into the outbox).
      req.budgetHold = undefined;
      if (where === 'outbox') log.debug('recorded in the outbox (database unreachable)');
      return reply;
    } catch (err) {
      span.fail(err instanceof StorageUnavailableError ? 'storage_unavailable' : 'internal').end();
      if (!(err instanceof StorageUnavailableError)) throw err;
      log.error('cannot record the request: answering 503', { reason: err.message });
      // Never acknowledge what could not be recorded.
      return problemReply(req, problem(503, 'storage_unavailable', err.message, { retryAfterS: 5 }), format);
    }
  }
}
