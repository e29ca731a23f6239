/**
 * Routes a request to its model by `ai_service` (chat, code and analysis to chat models, embedding to
 * an embedding model), with a deadline on every call, one retry when the connection failed before
 * any answer, and a circuit breaker per provider.
 */
import type { ApiConfig } from '../../config/api-config.ts';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.ts';
import { EchoProvider } from './echo.ts';
import { OllamaProvider } from './ollama.ts';
import { OpenAiProvider } from './openai.ts';
import { type Provider, ProviderError } from './types.ts';

export type Service = 'chat' | 'code' | 'analysis' | 'embedding';
export const SERVICES: readonly Service[] = ['chat', 'code', 'analysis', 'embedding'];

export type ModelOutcome =
  | { kind: 'text'; text: string; tokens: number | null; model: string; latencyMs: number }
  | { kind: 'embedding'; embedding: number[]; tokens: number | null; model: string; latencyMs: number };

/** No model answer: 503 with Retry-After and this reason. */
export class ModelUnavailableError extends Error {
  override name = 'ModelUnavailableError';
  readonly retryAfterS: number;
  readonly reason: string;
  constructor(reason: string, retryAfterS: number) {
    super(reason);
    this.reason = reason;
    this.retryAfterS = retryAfterS;
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
  context: string[];
  source: string;
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
}

function providerFor(config: ApiConfig): Provider {
  if (config.provider === 'echo') return new EchoProvider();
  if (config.provider === 'openai') {
    return new OpenAiProvider(config.openaiBaseUrl ?? 'https://api.openai.com/v1', config.openaiApiKey);
  }
  return new OllamaProvider(config.ollamaUrl);
}

export class ModelRouter {
  readonly provider: Provider;
  readonly breaker = new CircuitBreaker();
  readonly #config: ApiConfig;
  readonly #metrics: ModelMetrics | undefined;

  constructor(config: ApiConfig, metrics?: ModelMetrics) {
    this.#config = config;
    this.provider = providerFor(config);
    this.#metrics = metrics;
  }

  modelFor(service: Service): string {
    return this.#config.models[service];
  }

  get circuit(): CircuitState {
    return this.breaker.state;
  }

  async call(service: Service, input: ModelInput, traceparent: string): Promise<ModelOutcome> {
    if (!this.breaker.tryAcquire()) {
      const wait = Math.max(1, Math.ceil(this.breaker.retryAfterMs() / 1000));
      this.#metrics?.failure(this.provider.name, 'circuit_open');
      throw new ModelUnavailableError(
        `the ${this.provider.name} model provider is failing; calls are paused`,
        wait,
      );
    }
    const model = this.modelFor(service);
    const signal = AbortSignal.timeout(this.#config.modelTimeoutMs);
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const ctx = { signal, traceparent };
        const out =
          service === 'embedding'
            ? await this.provider.embed(model, input.input, ctx)
            : await this.provider.chat(
                {
                  model,
                  system: `${SYSTEM_PROMPTS[service]} The request came through ${input.source}.`,
                  input: input.input,
                  context: input.context,
                  temperature: input.temperature,
                  topP: input.topP,
                  maxTokens: input.maxTokens,
                },
                ctx,
              );
        const latencyMs = performance.now() - started;
        this.breaker.success();
        this.#metrics?.observe(this.provider.name, service, latencyMs / 1000, 'ok');
        return 'embedding' in out
          ? { kind: 'embedding', embedding: out.embedding, tokens: out.tokens, model, latencyMs }
          : { kind: 'text', text: out.text, tokens: out.tokens, model, latencyMs };
      } catch (err) {
        const pe = err instanceof ProviderError ? err : new ProviderError('the model call failed', false);
        if (pe.retryable && attempt === 0 && !signal.aborted) continue;
        this.breaker.failure();
        this.#metrics?.observe(this.provider.name, service, (performance.now() - started) / 1000, 'error');
        this.#metrics?.failure(
          this.provider.name,
          pe.reason.startsWith('no answer') ? 'timeout' : 'unavailable',
        );
        throw new ModelUnavailableError(
          pe.reason,
          Math.max(1, Math.ceil(this.breaker.retryAfterMs() / 1000)) || 5,
        );
      }
    }
  }
}
