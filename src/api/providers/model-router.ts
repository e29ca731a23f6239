/**
 * Routes a request to its model along the provider chain, all under the request's one deadline.
 * A request names its model as a service (`chat`, `code`, `analysis`, `embedding`: the primary's
 * model for it, then each fallback's), as `provider/model`, or as the upstream does (`gpt-4.1`:
 * every provider that serves it, in chain order). Each provider has its own circuit breaker and honours the
 * `Retry-After` of a 429; a connection refused before any answer is retried once on the same
 * provider. The answer says which provider served it.
 */

import { SpanKind } from '../../telemetry/span-data.ts';
import type { Span } from '../../telemetry/tracer.ts';
import type { ApiConfig, Service } from '../config.ts';
import { Catalog } from './catalog.ts';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.ts';
import { UpstreamHttp } from './http.ts';
import type { ProviderConfig } from './providers-config.ts';
import { providerFor } from './registry.ts';
import {
  type ChatDelta,
  type ChatMessage,
  type ChatResult,
  type Provider,
  ProviderError,
  type ProviderErrorKind,
  type TokenUsage,
} from './types.ts';

export { SERVICES } from '../../config/settings.ts';
export type { Service } from '../config.ts';

interface Served {
  provider: string;
  model: string;
  latencyMs: number;
}

export type ModelOutcome =
  | ({ kind: 'text' } & ChatResult & Served)
  | ({ kind: 'embedding'; embeddings: number[][]; usage: TokenUsage } & Served);

/**
 * Where a request's model name leads: the service it is for, and the providers to try in order,
 * each with the model it is asked for.
 */
export interface ModelRoute {
  /** The name as the request gave it. */
  name: string;
  service: Service;
  targets: { link: number; provider: string; model: string }[];
}

/** The model a route asks of its first provider (what a failed request is recorded against). */
export function modelOf(route: ModelRoute): string {
  return route.targets[0]?.model ?? route.name;
}

/** A streamed answer from the provider that sent its first piece (the chain is settled then). */
export interface ModelStream {
  provider: string;
  model: string;
  /** The answer's deltas, its first among them. A reader that stops early closes them (`return()`). */
  deltas: AsyncIterator<ChatDelta>;
  /** What reading the deltas threw, as the error to report (the client gone, the deadline passed). */
  failure(err: unknown): ProviderError;
  /**
   * Said once, by the reader, when the stream is over: read to its end, stopped early, or failed
   * (its `failure`), with the usage and reason its deltas gave. The provider's circuit and the
   * attempt's span (open as long as the stream) take it.
   */
  end(how: 'complete' | 'cut' | ProviderError, usage: TokenUsage, finishReason?: string): void;
}

/** No provider answered: 503 with Retry-After and this reason (or, `rejected`, the provider refused the request: a 4xx). */
export class ModelUnavailableError extends Error {
  override name = 'ModelUnavailableError';
  readonly retryAfterS: number;
  readonly reason: string;
  /** The last failure's kind: `timeout` when the deadline ran out, `cancelled` when the client left. */
  readonly kind: ProviderErrorKind | 'circuit_open';
  /** The provider's status when it refused the request itself (`rejected`). */
  readonly status: number | undefined;
  constructor(
    reason: string,
    retryAfterS: number,
    kind: ProviderErrorKind | 'circuit_open',
    status?: number,
  ) {
    super(reason);
    this.reason = reason;
    this.retryAfterS = retryAfterS;
    this.kind = kind;
    this.status = status;
  }
}

export interface ModelMetrics {
  observe(provider: string, service: Service, seconds: number, outcome: 'ok' | 'error'): void;
  failure(provider: string, reason: string): void;
}

const SYSTEM_PROMPTS: Record<Exclude<Service, 'embedding'>, string> = {
  chat: 'You are Robbie, a helpful assistant. Answer the request clearly and briefly.',
  code: 'You are Robbie, an expert programmer. Answer with working code and a short explanation.',
  analysis: 'You are Robbie, an analyst. Give a structured, factual analysis of the request.',
};

export interface ModelInput {
  input: string;
  /** The client's own conversation (the OpenAI routes); else robbie's prompt, context and input. */
  messages?: ChatMessage[] | undefined;
  context: string[];
  source: string;
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
  /** Embeddings: every input, in order (else `input` alone). */
  inputs?: string[] | undefined;
  /** Request fields for the provider as sent (tools, response_format, …). */
  extra?: Record<string, unknown> | undefined;
}

/** What of a request each provider is asked along with the model and messages. */
function sampling(input: ModelInput) {
  return { temperature: input.temperature, topP: input.topP, maxTokens: input.maxTokens, extra: input.extra };
}

export interface RouteContext {
  /** The request's one deadline and its client's going away, for every attempt. */
  signal: AbortSignal;
  /** When the deadline passes, by the monotonic clock (`performance.now()`). */
  deadline: number;
  /** The request's span: each attempt is a CLIENT span under it, whose traceparent goes to the provider. */
  span: Span;
}

/** OpenTelemetry's `gen_ai.operation.name` of each kind of model call. */
type Operation = 'chat' | 'embeddings' | 'count_tokens';

/** One attempt's call: its signal, and its span (ended by the attempt once it has the answer). */
interface Attempt {
  signal: AbortSignal;
  span: Span;
  /** Lifts the attempt's share of the deadline (a stream that has begun). */
  settle(): void;
}

/** What the answer says on its attempt's span (GenAI conventions), which then ends. */
function served(span: Span, model: string, usage: TokenUsage, finishReason?: string): void {
  span
    .set('gen_ai.response.model', model)
    .set('gen_ai.usage.input_tokens', usage.prompt)
    .set('gen_ai.usage.output_tokens', usage.completion)
    .set('gen_ai.response.finish_reasons', finishReason ? [finishReason] : undefined)
    .end();
}

/**
 * One attempt's signal: the request's, and its share of the time left — an equal share with each
 * provider still to try — so a slow provider leaves the next one time to answer within the same
 * deadline. The last provider to try has all of it: the request's own signal, no timer of its own
 * (two timers for one instant would race to say which deadline passed). `settle()` lifts the
 * share (a stream that has begun keeps only the request's deadline).
 */
function attemptSignal(
  request: AbortSignal,
  shareMs: number | undefined,
): { signal: AbortSignal; settle(): void } {
  if (shareMs === undefined) return { signal: request, settle: () => undefined };
  const controller = new AbortController();
  const onAbort = () => controller.abort(request.reason);
  if (request.aborted) onAbort();
  else request.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new ProviderError('timeout', 'no answer within its share of the deadline')),
    Math.max(1, shareMs),
  );
  return {
    signal: controller.signal,
    // The request's abort still reaches the attempt after this (a begun stream is cut by it).
    settle: () => clearTimeout(timer),
  };
}

/** The shorter of two optional spans of time. */
function shortest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/** A provider of the chain with its own breaker, 429 pause, catalog and timeout. */
class Link {
  readonly provider: Provider;
  /** The provider's kind: `gen_ai.provider.name`. */
  readonly kind: string;
  readonly models: Record<Service, string>;
  readonly catalog: Catalog;
  /** How long an attempt may wait for its answer (a stream: its first piece) before the next is tried. */
  readonly timeoutMs: number | undefined;
  readonly breaker = new CircuitBreaker();
  /** Paused for a 429 until then (the monotonic clock). */
  pausedUntil = 0;
  constructor(provider: Provider, p: ProviderConfig) {
    this.provider = provider;
    this.kind = p.kind;
    this.models = p.models;
    this.timeoutMs = p.timeoutMs;
    const list = provider.listModels?.bind(provider);
    this.catalog = new Catalog(p.serves, Object.values(p.models), list);
  }

  /** Milliseconds before this provider may be called, 0 when now. */
  waitMs(): number {
    return Math.max(this.pausedUntil - performance.now(), this.breaker.retryAfterMs());
  }
}

/** What ended an attempt: the signal's own reason when it was aborted (the client left, a share ran out), else the error. */
function asProviderError(err: unknown, signal: AbortSignal): ProviderError {
  if (signal.aborted && signal.reason instanceof ProviderError) return signal.reason;
  if (err instanceof ProviderError) return err;
  if (signal.aborted) return new ProviderError('timeout', 'no answer before the deadline');
  return new ProviderError('bad_answer', 'the model call failed');
}

export class ModelRouter {
  readonly #links: Link[];
  readonly #metrics: ModelMetrics | undefined;
  readonly #aliases: ReadonlyMap<string, readonly string[]>;

  /** `providers` replaces the configured ones (tests). */
  constructor(config: ApiConfig, metrics?: ModelMetrics, providers?: Provider[]) {
    // One HTTP client for every provider of the chain.
    const http = new UpstreamHttp(config.upstream);
    this.#links = config.providers.map((p, i) => new Link(providers?.[i] ?? providerFor(p, http), p));
    this.#metrics = metrics;
    this.#aliases = config.aliases ?? new Map();
  }

  /** Reads each provider's model list (the models it serves) now, then every `everyMs`, in the background. */
  discover(everyMs: number, onError: (provider: string, error: string) => void): void {
    for (const l of this.#links) l.catalog.start(everyMs, (error) => onError(l.provider.name, error));
  }

  /** Stops the background listings. */
  stop(): void {
    for (const l of this.#links) l.catalog.stop();
  }

  /**
   * Where `name` leads for a request of one of `services` (the first is a plain model's service):
   * a service; `provider/model` (that provider, if it serves the model); or a model name (every
   * provider that serves it, in chain order). Undefined when no provider serves it.
   */
  route(name: string, services: readonly Service[]): ModelRoute | undefined {
    if ((services as readonly string[]).includes(name)) {
      const service = name as Service;
      // A provider with no model for the service (Anthropic has no embeddings) is left out.
      const targets = this.#links.flatMap((l, link) =>
        l.models[service] ? [this.#target(link, l.models[service])] : [],
      );
      return targets.length === 0 ? undefined : { name, service, targets };
    }
    const alias = this.#aliases.get(name);
    if (alias) {
      // Each model in the alias's order, each where it is served; a target listed twice, once.
      const seen = new Set<string>();
      const targets = alias
        .flatMap((m) => this.#model(m, services)?.targets ?? [])
        .filter((t) => {
          const key = `${t.link}\0${t.model}`;
          if (seen.has(key)) return false;
          seen.add(key);
          return true;
        });
      return targets.length === 0 ? undefined : { name, service: services[0] as Service, targets };
    }
    return this.#model(name, services);
  }

  /** Where a model name (not a service, not an alias) leads: `provider/model`, or every provider serving it. */
  #model(name: string, services: readonly Service[]): ModelRoute | undefined {
    const service = services[0] as Service;
    // A model some provider names for one of these services is that service's (`gpt-4o-mini` set
    // as the code model is asked with the code service's system prompt on the universal route).
    const configured = this.#links.flatMap((l) => services.filter((s) => l.models[s] === name)).at(0);
    const slash = name.indexOf('/');
    if (slash > 0) {
      const link = this.#links.findIndex((l) => l.provider.name === name.slice(0, slash));
      const model = name.slice(slash + 1);
      if (link !== -1 && model !== '') {
        if (!(this.#links[link] as Link).catalog.serves(model)) return undefined;
        return { name, service: configured ?? service, targets: [this.#target(link, model)] };
      }
    }
    const targets = this.#links.flatMap((l, link) =>
      l.catalog.serves(name) ? [this.#target(link, name)] : [],
    );
    return targets.length === 0 ? undefined : { name, service: configured ?? service, targets };
  }

  #target(link: number, model: string): ModelRoute['targets'][number] {
    return { link, provider: (this.#links[link] as Link).provider.name, model };
  }

  /** The primary provider. */
  get provider(): Provider {
    return (this.#links[0] as Link).provider;
  }

  /** Each provider of the chain and its circuit, in order. */
  get chain(): { provider: Provider; circuit: CircuitState }[] {
    return this.#links.map((l) => ({ provider: l.provider, circuit: l.breaker.state }));
  }

  /** Open when no provider of the chain may be called, closed when the primary may. */
  get circuit(): CircuitState {
    const states = this.#links.map((l) => l.breaker.state);
    if (states[0] === 'closed') return 'closed';
    return states.every((s) => s === 'open') ? 'open' : 'half-open';
  }

  /** Every model name the chain is known to serve, with the provider, then the aliases (for /v1/models). */
  models(): { model: string; provider: string }[] {
    return [
      ...this.#links.flatMap((l) => l.catalog.known().map((model) => ({ model, provider: l.provider.name }))),
      ...[...this.#aliases.keys()].map((model) => ({ model, provider: 'robbie' })),
    ];
  }

  #messages(service: Exclude<Service, 'embedding'>, input: ModelInput): ChatMessage[] {
    if (input.messages) return input.messages;
    return [
      { role: 'system', content: `${SYSTEM_PROMPTS[service]} The request came through ${input.source}.` },
      ...input.context.map((c) => ({ role: 'system' as const, content: `Context: ${c}` })),
      { role: 'user', content: input.input },
    ];
  }

  /**
   * Tries each provider in order until one answers, `attempt` doing the call: a provider that is
   * paused (open circuit, 429) is skipped, a failure moves on to the next, and the deadline or the
   * client going away ends the chain at once.
   */
  async #along<T>(
    route: ModelRoute,
    ctx: RouteContext,
    operation: Operation,
    attempt: (link: Link, model: string, call: Attempt) => Promise<T>,
  ): Promise<T & Served> {
    const signal = ctx.signal;
    const service = route.service;
    const links = route.targets.map((t) => ({ link: this.#links[t.link] as Link, model: t.model }));
    let last: ProviderError | undefined;
    let skipped = 0;
    for (const [index, { link, model }] of links.entries()) {
      const name = link.provider.name;
      if (performance.now() < link.pausedUntil || !link.breaker.tryAcquire()) {
        skipped++;
        this.#metrics?.failure(name, 'circuit_open');
        continue;
      }
      const started = performance.now();
      const after = links.slice(index + 1).filter((l) => l.link.waitMs() === 0).length;
      const share = attemptSignal(
        signal,
        shortest(after === 0 ? undefined : (ctx.deadline - performance.now()) / (after + 1), link.timeoutMs),
      );
      for (let tries = 0; ; tries++) {
        // Every try is an attempt of its own in the trace: retries and fallbacks show.
        const span = ctx.span.child(`${operation} ${model}`, SpanKind.client);
        span
          .set('gen_ai.operation.name', operation)
          .set('gen_ai.provider.name', link.kind)
          .set('gen_ai.request.model', model)
          .set('robbie.provider', name);
        try {
          const out = await attempt(link, model, { signal: share.signal, span, settle: share.settle });
          share.settle();
          const latencyMs = performance.now() - started;
          this.#metrics?.observe(name, service, latencyMs / 1000, 'ok');
          return { ...out, provider: name, model, latencyMs };
        } catch (err) {
          const pe = asProviderError(err, share.signal);
          span.fail(pe.kind, pe.reason).end();
          if (pe.retryable && tries === 0 && !share.signal.aborted) continue;
          share.settle();
          last = pe;
          this.#metrics?.observe(name, service, (performance.now() - started) / 1000, 'error');
          this.#metrics?.failure(name, pe.kind);
          if (pe.kind === 'rate_limited') link.pausedUntil = performance.now() + (pe.retryAfterMs ?? 1000);
          if (pe.isFailure) link.breaker.failure();
          else link.breaker.release();
          // The request itself was refused: no other provider is asked, the client hears why.
          if (pe.kind === 'rejected') throw new ModelUnavailableError(pe.reason, 0, 'rejected', pe.status);
          break;
        }
      }
      if (signal.aborted) break;
    }
    const waitMs = Math.min(...links.map((l) => l.link.waitMs()));
    const retryAfterS = Math.max(1, Math.ceil(waitMs / 1000));
    if (!last) {
      throw new ModelUnavailableError(
        `every model provider is failing (${skipped} paused); calls are paused`,
        retryAfterS,
        'circuit_open',
      );
    }
    const reason = links.length > 1 ? `no provider answered; last: ${last.reason}` : last.reason;
    throw new ModelUnavailableError(reason, retryAfterS, last.kind);
  }

  async call(route: ModelRoute, input: ModelInput, ctx: RouteContext): Promise<ModelOutcome> {
    const service = route.service;
    if (service === 'embedding') {
      return this.#along(route, ctx, 'embeddings', async (link, model, { signal, span }) => {
        const inputs = input.inputs ?? [input.input];
        const out = await link.provider.embed(model, inputs, { signal, traceparent: span.traceparent });
        link.breaker.success();
        served(span, model, out.usage);
        return { kind: 'embedding' as const, embeddings: out.embeddings, usage: out.usage };
      });
    }
    const messages = this.#messages(service, input);
    return this.#along(route, ctx, 'chat', async (link, model, { signal, span }) => {
      const out = await link.provider.chat(
        { model, messages, ...sampling(input) },
        { signal, traceparent: span.traceparent },
      );
      link.breaker.success();
      served(span, model, out.usage, out.finishReason);
      return { kind: 'text' as const, ...out };
    });
  }

  /**
   * The input tokens a conversation takes, counted by the first provider of the route that can
   * count (Anthropic's count_tokens); a route where none can is the client's 400.
   */
  async countTokens(
    route: ModelRoute,
    input: ModelInput,
    ctx: RouteContext,
  ): Promise<{ tokens: number } & Served> {
    const targets = route.targets.filter((t) => this.#links[t.link]?.provider.countTokens !== undefined);
    if (targets.length === 0) {
      throw new ModelUnavailableError(
        `the providers of '${route.name.slice(0, 100)}' cannot count tokens`,
        0,
        'rejected',
        400,
      );
    }
    const service = route.service === 'embedding' ? 'chat' : route.service;
    const messages = this.#messages(service, input);
    return this.#along({ ...route, targets }, ctx, 'count_tokens', async (link, model, { signal, span }) => {
      const provider = link.provider;
      // Never so: the targets are those that can count.
      if (!provider.countTokens) throw new ProviderError('rejected', 'the provider cannot count tokens');
      const tokens = await provider.countTokens(
        { model, messages, ...sampling(input) },
        { signal, traceparent: span.traceparent },
      );
      link.breaker.success();
      served(span, model, { prompt: tokens, completion: null });
      return { tokens };
    });
  }

  /**
   * A streamed chat answer. The chain is walked until a provider sends its first piece; after
   * that the answer is that provider's (a stream cut later ends the answer, it is not retried
   * elsewhere: the client already has part of it).
   */
  async stream(route: ModelRoute, input: ModelInput, ctx: RouteContext): Promise<ModelStream> {
    const service = route.service === 'embedding' ? 'chat' : route.service;
    const messages = this.#messages(service, input);
    const out = await this.#along(route, ctx, 'chat', async (link, model, { signal, span, settle }) => {
      const iterator = link.provider
        .chatStream({ model, messages, ...sampling(input) }, { signal, traceparent: span.traceparent })
        [Symbol.asyncIterator]();
      const first = await iterator.next();
      // Begun: from here the stream has the request's deadline, not the attempt's share.
      settle();
      return { link, first, iterator, span };
    });
    const { link, first, iterator, span } = out;
    const model = out.model;
    const signal = ctx.signal;
    return {
      provider: out.provider,
      model,
      // The provider's own iterator, its first result put back: a wrapping generator would cost
      // every piece a turn of its own.
      deltas: withFirst(first, iterator),
      failure: (err) => asProviderError(err, signal),
      end: (how, usage, finishReason) => {
        if (how === 'complete') link.breaker.success();
        else if (how === 'cut') {
          link.breaker.release();
          span.fail('cancelled', 'the client stopped reading');
        } else {
          span.fail(how.kind, how.reason);
          if (how.isFailure && how.kind !== 'timeout') link.breaker.failure();
          else link.breaker.release();
        }
        served(span, model, usage, finishReason);
      },
    };
  }
}

/** `rest` with `first`, a result already taken from it, put back in front. */
function withFirst<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncIterator<T> {
  let head: IteratorResult<T> | undefined = first;
  return {
    next: () => {
      if (head === undefined) return rest.next();
      const taken = head;
      head = undefined;
      return Promise.resolve(taken);
    },
    return: (value?: unknown) => {
      head = undefined;
      return rest.return ? rest.return(value) : Promise.resolve({ done: true, value: undefined });
    },
  };
}
