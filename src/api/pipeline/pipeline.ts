/**
 * The request pipeline every route shares, in order: idempotency (a repeated id gets the stored
 * answer, and waits for one still in flight), killswitch (fail closed), rate limit, gatekeeper,
 * answer cache, model call along the provider chain (whole or streamed), post-flight redaction —
 * each a stage that may end the request with an outcome, and one responder that records every
 * outcome before it is answered.
 */
import { hash } from 'node:crypto';
import type { Logger } from '../../logger/logger.ts';
import type { Store } from '../../storage/types.ts';
import { SpanKind } from '../../telemetry/span-data.ts';
import type { Span } from '../../telemetry/tracer.ts';
import { scopedId } from '../../tenancy/principal.ts';
import { problem } from '../errors.ts';
import {
  type ModelRouter,
  type ModelStream,
  ModelUnavailableError,
  modelOf,
} from '../providers/model-router.ts';
import {
  type ChatDelta,
  type Logprobs,
  ProviderError,
  type TokenUsage,
  type ToolCall,
  totalOf,
} from '../providers/types.ts';
import type { AnswerCache } from './answer-cache.ts';
import { redactAnswer } from './answer-redaction.ts';
import {
  type Answer,
  type AnswerFormat,
  type GatewayRequest,
  type Outcome,
  problemReply,
  type Reply,
  type Review,
} from './outcome.ts';
import { type RequestDeadline, requestDeadline } from './request-deadline.ts';
import { Responder } from './responder.ts';
import {
  accessStage,
  budgetStage,
  gatekeeperStage,
  killswitchStage,
  RefusalReports,
  rateLimitStage,
  type StageDeps,
  spendTokens,
} from './stages.ts';
import { StreamRedactor } from './stream-redaction.ts';
import { redactToolCalls, StreamedToolCalls } from './tool-calls.ts';

export interface PipelineDeps extends StageDeps {
  router: ModelRouter;
  cache: AnswerCache;
}

/** A piece of a streamed answer as the client gets it: text, or fragments of tool calls. */
export type StreamPiece = string | { refusal: string } | { toolCalls: ToolCall[] };

/** A streamed answer: redacted pieces as they come, and the reply as recorded once it ends. */
export interface AnswerStream {
  provider: string;
  model: string;
  pieces: AsyncIterable<StreamPiece>;
  /** Settles after the end (complete, cut by the client, or broken off) is recorded. */
  recorded: Promise<Reply>;
}

export type PipelineReply = { kind: 'whole'; reply: Reply } | { kind: 'stream'; stream: AnswerStream };

/** How often an attempt waiting on another instance's claim looks for its answer. */
const CLAIM_POLL_MS = 25;
/** A claim not renewed for this long belongs to an attempt that died with its process. */
const CLAIM_LEASE_MS = 10_000;
const CLAIM_RENEW_MS = 3_000;

const whole = (reply: Reply): PipelineReply => ({ kind: 'whole', reply });

/** When the reply is final: a whole reply at once, a stream once its end is recorded. */
function settled(r: PipelineReply): Promise<Reply> {
  return r.kind === 'whole' ? Promise.resolve(r.reply) : r.stream.recorded;
}

export class Pipeline {
  readonly #deps: PipelineDeps;
  readonly #responder: Responder;
  readonly #reports = new RefusalReports();
  readonly #inFlight = new Map<string, { fingerprint: string; done: Promise<Reply> }>();

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
    this.#responder = new Responder(deps.store, deps.metrics, deps.prices);
  }

  /**
   * One model call per client-given id, whatever the concurrency and the instance: concurrent
   * duplicates in this process share one attempt (looked up and registered with no await in
   * between), and across processes sharing the store the attempt that claims the id runs while the
   * others wait for its recorded answer. A reused id with a different request is refused (409). A
   * request without an id of the client's skips all of this: nothing could repeat it.
   */
  async handle(req: GatewayRequest, format: AnswerFormat, log: Logger): Promise<PipelineReply> {
    if (!req.idempotent) return this.#process(req, format, log, false);
    // The killswitch covers replays too: during a lockdown no stored answer goes out either. Read
    // once: #process asks again only after a wait for another attempt.
    const lockdown = await killswitchStage(this.#deps, log);
    if (lockdown) return whole(await this.#responder.respond(req, lockdown, format, performance.now(), log));
    // The same id from two keys is two requests: every id is kept under its key.
    const scope = scopedId(req.principal, req.id);
    const running = this.#inFlight.get(scope);
    if (running) {
      if (running.fingerprint !== req.fingerprint) return whole(conflict(req, format));
      // Waiting behind the first attempt is bounded by this request's own deadline.
      const answer = await withinMs(running.done, req.budgetMs);
      return whole(answer ? replay(answer) : busy(req, format));
    }
    let finish: (r: Reply) => void = () => undefined;
    const done = new Promise<Reply>((resolve) => {
      finish = resolve;
    });
    this.#inFlight.set(scope, { fingerprint: req.fingerprint, done });
    let result: PipelineReply | undefined;
    try {
      result = await this.#claimed(req, scope, format, log);
      return result;
    } finally {
      const r = result;
      const end = r ? settled(r) : Promise.resolve(format.reply(req, internalError(), 0));
      void end
        .then(finish, () => finish(format.reply(req, internalError(), 0)))
        .finally(() => this.#inFlight.delete(scope));
    }
  }

  async #claimed(
    req: GatewayRequest,
    scope: string,
    format: AnswerFormat,
    log: Logger,
  ): Promise<PipelineReply> {
    const { store } = this.#deps;
    // A claim is a lease its attempt renews: one whose process died (SIGKILL, a lost machine) is
    // taken over within CLAIM_LEASE_MS, while a live attempt keeps it however long the model takes.
    // Waiting for another attempt's answer is bounded by this request's own deadline.
    const deadline = performance.now() + req.budgetMs;
    const stored = () => storedReply(store, req, format);
    for (let i = 0; i < 100_000 && (i === 0 || performance.now() < deadline); i++) {
      // A first attempt claims at once: a won claim looks for a stored answer anyway (below), so a
      // look before it would cost every new request a round trip to spare a replay one. Waiting
      // for another attempt, each poll looks first.
      if (i > 0) {
        const before = await stored();
        if (before) return whole(before);
      }
      const claim = await store.claim(scope, req.fingerprint, CLAIM_LEASE_MS);
      if (claim === 'conflict') return whole(conflict(req, format));
      if (claim === 'won') {
        const renewal = setInterval(() => void store.renewClaim(scope), CLAIM_RENEW_MS);
        let result: PipelineReply | undefined;
        try {
          // The holder before us stores its answer, then releases: a claim won just after that
          // release must find the answer, not call the model a second time.
          const known = await stored();
          // Read just before the claim, unless it waited for another attempt first.
          result = known ? whole(known) : await this.#process(req, format, log, i === 0);
          return result;
        } finally {
          const end = result ? settled(result) : Promise.resolve(undefined);
          void end
            .catch(() => undefined)
            .finally(() => {
              clearInterval(renewal);
              void store.release(scope);
            });
        }
      }
      if (i === 0) log.debug('request id in flight elsewhere: waiting for its answer');
      await new Promise((r) => setTimeout(r, CLAIM_POLL_MS));
    }
    return whole(busy(req, format));
  }

  /**
   * The input tokens a conversation would take (Anthropic's count_tokens), behind the checks that
   * refuse any request — killswitch, the key's limits and access (a refusal recorded as any is) —
   * and nothing a model answer needs: no claim, budget or gatekeeper (no model reads it), and a
   * count is no answer to record.
   */
  async count(req: GatewayRequest, format: AnswerFormat, log: Logger): Promise<Reply> {
    const deps = this.#deps;
    const ended = await this.#refusal(req, log, false);
    if (ended) return this.#responder.respond(req, ended, format, performance.now(), log);
    const deadline = requestDeadline(req.signal, req.budgetMs);
    try {
      const ctx = { signal: deadline.signal, deadline: deadline.at, span: req.span };
      const out = await deps.router.countTokens(req.route, req.model, ctx);
      Object.assign(req.note, { key: req.principal.name, provider: out.provider, model: out.model });
      return { status: 200, body: { input_tokens: out.tokens } };
    } catch (err) {
      if (!(err instanceof ModelUnavailableError)) throw err;
      const p =
        err.kind === 'rejected'
          ? problem(err.status ?? 400, 'upstream_rejected', redactAnswer(err.reason).text)
          : problem(503, 'model_unavailable', err.reason, { retryAfterS: err.retryAfterS });
      return problemReply(req, p, format);
    } finally {
      deadline.release();
    }
  }

  /** The killswitch (unless read already), the key's limits and its access: the refusal, if any. */
  async #refusal(req: GatewayRequest, log: Logger, killswitchRead: boolean): Promise<Outcome | undefined> {
    const deps = this.#deps;
    return (
      (killswitchRead ? undefined : await killswitchStage(deps, log)) ??
      (await rateLimitStage(req, deps, log, this.#reports)) ??
      accessStage(req)
    );
  }

  /**
   * The checks that may refuse the request before anything is spent — killswitch, the key's access
   * and limits, its budget (a hold released once the request's spend is recorded) — then the rest.
   */
  async #process(
    req: GatewayRequest,
    format: AnswerFormat,
    log: Logger,
    killswitchRead: boolean,
  ): Promise<PipelineReply> {
    const started = performance.now();
    const deps = this.#deps;
    const respond = (o: Outcome) => this.#responder.respond(req, o, format, started, log);
    const ended = await this.#refusal(req, log, killswitchRead);
    if (ended) return whole(await respond(ended));
    const budget = await budgetStage(req, deps, log);
    if ('outcome' in budget) return whole(await respond(budget.outcome));
    // What the key holds or counts while the request runs, settled once its outcome is recorded.
    if (!budget.release && !req.principal.tokenLimit) return this.#admitted(req, respond, started, log);
    let result: PipelineReply | undefined;
    try {
      result = await this.#admitted(req, respond, started, log);
      return result;
    } finally {
      const end = result ? settled(result) : Promise.resolve(undefined);
      void end
        .catch(() => undefined)
        .finally(() => {
          budget.release?.();
          spendTokens(req, deps);
        });
    }
  }

  async #admitted(
    req: GatewayRequest,
    respond: (o: Outcome) => Promise<Reply>,
    started: number,
    log: Logger,
  ): Promise<PipelineReply> {
    const deps = this.#deps;
    const review = await gatekeeperStage(req, deps, log);
    if (review.outcome) return whole(await respond(review.outcome));
    const approved = (): Review => ({
      approved: true,
      confidence: review.confidence,
      reasoning: review.reasoning,
      warnings: [],
    });

    const cacheKey = deps.cache.keyOf(req);
    const hit = cacheKey ? await lookUp(req.span, () => deps.cache.fresh(cacheKey)) : undefined;
    if (hit)
      return whole(await respond({ kind: 'answered', status: 'approved', review: approved(), answer: hit }));

    // One deadline for the whole model work, and the client going away, for every attempt;
    // released when the answer is in (a stream: when it ends).
    const deadline = requestDeadline(req.signal, req.budgetMs);
    const ctx = {
      signal: deadline.signal,
      deadline: deadline.at,
      span: req.span,
    };
    const unavailable = async (err: ModelUnavailableError): Promise<PipelineReply> => {
      const stale =
        cacheKey && err.kind !== 'cancelled' && err.kind !== 'rejected'
          ? await deps.cache.stale(cacheKey)
          : undefined;
      if (stale) {
        log.warn('every model provider failed: answering from the cache (stale)', { reason: err.reason });
        const r = approved();
        r.warnings = ['every model provider is failing: this is an earlier answer to the same request'];
        return whole(await respond({ kind: 'answered', status: 'approved', review: r, answer: stale }));
      }
      if (err.kind === 'rejected') {
        log.info('the provider refused the request', { status: err.status });
        return whole(
          await respond({
            kind: 'failed',
            status: 'error',
            problem: problem(err.status ?? 400, 'upstream_rejected', redactAnswer(err.reason).text),
            model: modelOf(req.route),
            recorded: true,
          }),
        );
      }
      log.warn('model unavailable', { reason: err.reason, kind: err.kind });
      if (err.kind === 'too_large') {
        return whole(
          await respond({
            kind: 'failed',
            status: 'unavailable',
            problem: problem(502, 'upstream_too_large', err.reason),
            model: modelOf(req.route),
            recorded: true,
          }),
        );
      }
      const gone = err.kind === 'cancelled';
      return whole(
        await respond({
          kind: 'failed',
          status: gone ? 'error' : 'unavailable',
          problem: gone
            ? problem(499, 'bad_request', 'the client closed the request before the answer')
            : problem(503, 'model_unavailable', err.reason, { retryAfterS: err.retryAfterS }),
          model: modelOf(req.route),
          recorded: true,
        }),
      );
    };

    const service = req.route.service;
    if (req.stream && service !== 'embedding') {
      try {
        const upstream = await deps.router.stream(req.route, req.model, ctx);
        return { kind: 'stream', stream: streamed(req, upstream, approved(), respond, started, deadline) };
      } catch (err) {
        deadline.release();
        if (err instanceof ModelUnavailableError) return unavailable(err);
        throw err;
      }
    }
    let answer: Answer;
    try {
      const out = await deps.router.call(req.route, req.model, ctx);
      answer = {
        provider: out.provider,
        model: out.model,
        tokens: totalOf(out.usage),
        usage: out.usage,
        latencyMs: out.latencyMs,
      };
      if (out.kind === 'embedding') answer.embeddings = out.embeddings;
      else {
        answer.text = out.text;
        if (out.toolCalls) answer.toolCalls = out.toolCalls;
        if (out.finishReason) answer.finishReason = out.finishReason;
        if (out.refusal) answer.refusal = out.refusal;
        if (out.logprobs) answer.logprobs = out.logprobs;
      }
    } catch (err) {
      if (err instanceof ModelUnavailableError) return unavailable(err);
      throw err;
    } finally {
      deadline.release();
    }
    // Post-flight: secrets are taken out of the answer itself.
    const r = approved();
    let status: 'approved' | 'revised' = 'approved';
    let redactions = 0;
    if (answer.text !== undefined) {
      const cleaned = redactAnswer(answer.text);
      answer.text = cleaned.text;
      redactions += cleaned.redactions;
    }
    if (answer.refusal !== undefined) {
      const cleaned = redactAnswer(answer.refusal);
      answer.refusal = cleaned.text;
      redactions += cleaned.redactions;
    }
    if (answer.toolCalls) {
      const cleaned = redactToolCalls(answer.toolCalls);
      answer.toolCalls = cleaned.calls;
      redactions += cleaned.redactions;
    }
    if (redactions > 0) {
      status = revise(r, redactions);
      // The tokens' log probabilities spell out what was taken out.
      delete answer.logprobs;
    }
    captureContent(req, answer);
    const reply = await respond({ kind: 'answered', status, review: r, answer });
    // The cache keeps text and embeddings: an answer that calls tools is not kept.
    if (cacheKey && reply.status < 300 && !answer.toolCalls) deps.cache.put(cacheKey, service, answer);
    return whole(reply);
  }
}

/**
 * The pieces of a streamed answer, redacted as they pass; its end recorded however it comes. Each
 * piece from the model restarts the deadline: a stream is cut by silence, not by its length.
 */
function streamed(
  req: GatewayRequest,
  upstream: ModelStream,
  review: Review,
  respond: (o: Outcome) => Promise<Reply>,
  started: number,
  deadline: RequestDeadline,
): AnswerStream {
  let settle: (r: Reply) => void = () => undefined;
  let fail: (e: unknown) => void = () => undefined;
  const recorded = new Promise<Reply>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const redactor = new StreamRedactor();
  const refusal = new StreamRedactor();
  const calls = new StreamedToolCalls();
  // Held to the end: sent (in the closing frame) only if nothing was redacted.
  const logprobs: Logprobs = { content: null, refusal: null };
  async function* pieces(): AsyncGenerator<StreamPiece> {
    let end: 'complete' | 'cut' | 'broken' = 'cut';
    /** How the model's stream ended, for its provider's circuit (the client's end is `end`). */
    let upstreamEnd: 'complete' | 'cut' | ProviderError = 'cut';
    let usage: TokenUsage = { prompt: null, completion: null };
    let finishReason: string | undefined;
    let firstTokenMs: number | undefined;
    const out = <T extends StreamPiece>(piece: T): T => {
      firstTokenMs ??= performance.now() - started;
      return piece;
    };
    const deltas = upstream.deltas;
    try {
      for (;;) {
        let next: IteratorResult<ChatDelta>;
        try {
          next = await deltas.next();
        } catch (err) {
          upstreamEnd = upstream.failure(err);
          throw upstreamEnd;
        }
        if (next.done) break;
        const d = next.value;
        deadline.progress();
        if ('done' in d) {
          usage = d.usage;
          finishReason = d.finishReason;
          continue;
        }
        if ('toolCalls' in d) {
          yield out({ toolCalls: calls.push(d.toolCalls) });
          continue;
        }
        if ('logprobs' in d) {
          addLogprobs(logprobs, d.logprobs);
          continue;
        }
        if ('refusal' in d) {
          const ready = refusal.push(d.refusal);
          if (ready) yield out({ refusal: ready });
          continue;
        }
        const ready = redactor.push(d.text);
        if (ready) yield out(ready);
      }
      upstreamEnd = 'complete';
      const rest = redactor.end();
      if (rest) yield out(rest);
      const refused = refusal.end();
      if (refused) yield out({ refusal: refused });
      const held = calls.end();
      if (held.length > 0) yield out({ toolCalls: held });
      end = 'complete';
    } catch (err) {
      end = err instanceof ProviderError && err.kind === 'cancelled' ? 'cut' : 'broken';
      throw err;
    } finally {
      // Stopped early (the client gone, or a piece that could not be handled): the model's
      // request is closed.
      if (upstreamEnd === 'cut') await deltas.return?.().catch(() => undefined);
      upstream.end(upstreamEnd, usage, finishReason);
      deadline.release();
      const redactions = redactor.redactions + refusal.redactions + calls.redactions;
      const status = redactions > 0 ? revise(review, redactions) : 'approved';
      const kept = redactions === 0 && (logprobs.content || logprobs.refusal) ? logprobs : undefined;
      const toolCalls = calls.whole();
      const answer: Answer = {
        provider: upstream.provider,
        model: upstream.model,
        tokens: totalOf(usage),
        usage,
        latencyMs: performance.now() - started,
        text: redactor.text,
        stream: end,
        ...(toolCalls ? { toolCalls } : {}),
        ...(finishReason ? { finishReason } : {}),
        ...(refusal.text ? { refusal: refusal.text } : {}),
        ...(kept ? { logprobs: kept } : {}),
        ...(firstTokenMs === undefined ? {} : { firstTokenMs }),
      };
      captureContent(req, answer);
      respond({ kind: 'answered', status, review, answer }).then(settle, fail);
    }
  }
  // A client that left stops reading before the end: nobody may await the record then.
  recorded.catch(() => undefined);
  return { provider: upstream.provider, model: upstream.model, pieces: pieces(), recorded };
}

/** The cache's answer, if it has one, looked up in a span of its own. */
async function lookUp(parent: Span, fresh: () => Promise<Answer | undefined>): Promise<Answer | undefined> {
  const span = parent.child('cache lookup', SpanKind.internal);
  try {
    const hit = await fresh();
    span.set('robbie.cache.hit', hit !== undefined);
    return hit;
  } catch (err) {
    span.fail('cache_unavailable');
    throw err;
  } finally {
    span.end();
  }
}

/**
 * What the model read and answered, on the request's span, when the user opted in (OpenTelemetry's
 * GenAI message shape); the answer as the client gets it, secrets taken out.
 */
function captureContent(req: GatewayRequest, answer: Answer): void {
  const span = req.span;
  if (!span.captureContent || !span.recorded) return;
  const input = req.model.messages ?? [{ role: 'user', content: req.input }];
  span.set(
    'gen_ai.input.messages',
    JSON.stringify(input.map((m) => ({ role: m.role, parts: [{ type: 'text', content: m.content }] }))),
  );
  if (answer.text !== undefined) {
    span.set(
      'gen_ai.output.messages',
      JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: answer.text }] }]),
    );
  }
}

/** A chunk's log probabilities added to what the stream has so far. */
function addLogprobs(into: Logprobs, more: Logprobs): void {
  for (const field of ['content', 'refusal'] as const) {
    const entries = more[field];
    if (!entries) continue;
    const all = into[field] ?? [];
    for (const e of entries) all.push(e);
    into[field] = all;
  }
}

function revise(review: Review, redactions: number): 'revised' {
  review.approved = false;
  review.reasoning = 'secrets were removed from the answer';
  review.warnings = [`${redactions} secret${redactions > 1 ? 's' : ''} redacted from the answer`];
  return 'revised';
}

function internalError(): Outcome {
  return { kind: 'failed', status: 'error', problem: problem(500, 'internal_error'), recorded: false };
}

/** The same request is still being answered elsewhere past this one's deadline: 503, retry later. */
function busy(req: GatewayRequest, format: AnswerFormat): Reply {
  const p = problem(503, 'busy', 'the same request is still being answered; retry later', { retryAfterS: 5 });
  return format.reply(req, { kind: 'failed', status: 'error', problem: p, recorded: false }, 0);
}

/** `p`'s value, or undefined when it takes longer than `ms`. */
async function withinMs<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function conflict(req: GatewayRequest, format: AnswerFormat): Reply {
  const p = problem(
    409,
    'idempotency_conflict',
    'this request id was already used for a different request; send a new one',
  );
  return format.reply(req, { kind: 'failed', status: 'error', problem: p, recorded: false }, 0);
}

/** The store answers from the database or, during an outage, from the outbox. */
async function storedReply(
  store: Store,
  req: GatewayRequest,
  format: AnswerFormat,
): Promise<Reply | undefined> {
  const known = await store.findResponse(req.principal.id, req.id);
  if (!known) return undefined;
  if (known.fingerprint && known.fingerprint !== req.fingerprint) return conflict(req, format);
  return replay({ status: known.http_status, body: known.response });
}

function replay(r: Reply): Reply {
  return { ...r, headers: { ...(r.headers ?? {}), 'Idempotent-Replayed': 'true' } };
}

/** Sorted keys at every level: the same content digests the same whatever its key order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
  );
}

/**
 * What identifies a request's content: everything the client sent but the id, and its route
 * family (a universal fingerprint is the plain digest, as recorded before there were others).
 */
export function fingerprintOf(format: AnswerFormat['name'], content: unknown): string {
  const text = JSON.stringify(canonical(content));
  return hash('sha256', format === 'universal' ? text : `${format}\u0000${text}`, 'hex').slice(0, 32);
}
