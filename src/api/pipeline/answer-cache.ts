/**
 * The exact-match answer cache, for fault tolerance first (the seed's "Redis caching"): kept in
 * the store robbie already has, opt-in per service. An identical request within the TTL is
 * answered without a model call; when every provider is down, an identical answer younger than
 * the stale window is served marked `stale` instead of a 503. "Identical" is what the model would
 * see: service, messages (or input, context and source) and sampling parameters, asked by the same
 * key (or a key of the same cache group).
 */
import { hash } from 'node:crypto';
import type { Store } from '../../storage/types.ts';
import type { Service } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { Answer, GatewayRequest } from './outcome.ts';

export interface CacheSettings {
  services: readonly Service[];
  ttlMs: number;
  staleMs: number;
}

/** Expired answers are deleted every this many answers kept. */
const PRUNE_EVERY = 500;

type Kept = Pick<Answer, 'provider' | 'model' | 'tokens' | 'usage' | 'text' | 'embeddings'>;

function isKept(v: unknown): v is Kept {
  if (v === null || typeof v !== 'object') return false;
  const k = v as Record<string, unknown>;
  // A text, or the vectors of every input (an answer kept in another shape is no answer).
  return (
    typeof k.provider === 'string' &&
    typeof k.model === 'string' &&
    (typeof k.text === 'string' || Array.isArray(k.embeddings))
  );
}

export class AnswerCache {
  readonly #store: Store;
  readonly #settings: CacheSettings;
  readonly #metrics: Metrics;
  #puts = 0;

  constructor(store: Store, settings: CacheSettings, metrics: Metrics) {
    this.#store = store;
    this.#settings = settings;
    this.#metrics = metrics;
  }

  /** The request's cache key, or undefined when its service does not use the cache. */
  keyOf(req: GatewayRequest): string | undefined {
    if (!this.#settings.services.includes(req.route.service)) return undefined;
    const m = req.model;
    // Per key, unless keys are configured to share (a cache group): an answer, and what was asked,
    // never crosses to another key.
    const p = req.principal;
    const what = {
      scope: p.cacheGroup === null ? `key:${p.id}` : `group:${p.cacheGroup}`,
      service: req.route.service,
      model: req.route.name,
      messages: m.messages ?? null,
      input: m.messages ? null : m.input,
      context: m.messages ? null : m.context,
      source: m.messages ? null : m.source,
      temperature: m.temperature ?? null,
      top_p: m.topP ?? null,
      max_tokens: m.maxTokens ?? null,
      extra: m.extra ?? null,
    };
    return hash('sha256', JSON.stringify(what), 'hex');
  }

  async #read(key: string, maxAgeMs: number): Promise<Kept | undefined> {
    const found = await this.#store.cachedAnswer(key);
    if (!found || Date.now() - found.createdAt > maxAgeMs || !isKept(found.answer)) return undefined;
    return found.answer;
  }

  /** An answer younger than the TTL. */
  async fresh(key: string): Promise<Answer | undefined> {
    const kept = await this.#read(key, this.#settings.ttlMs);
    this.#metrics.cache(kept ? 'hit' : 'miss');
    return kept ? { ...kept, latencyMs: 0, cache: 'hit' } : undefined;
  }

  /** An answer younger than the stale window, for when no provider can answer. */
  async stale(key: string): Promise<Answer | undefined> {
    const kept = await this.#read(key, this.#settings.staleMs);
    if (kept) this.#metrics.cache('stale');
    return kept ? { ...kept, latencyMs: 0, cache: 'stale' } : undefined;
  }

  /** Keeps a model's answer (already redacted); never throws, never delays the answer. */
  put(key: string, service: Service, a: Answer): void {
    const kept: Kept = { provider: a.provider, model: a.model, tokens: a.tokens };
    if (a.usage !== undefined) kept.usage = a.usage;
    if (a.text !== undefined) kept.text = a.text;
    if (a.embeddings !== undefined) kept.embeddings = a.embeddings;
    void this.#store.cacheAnswer(key, service, kept);
    if (++this.#puts % PRUNE_EVERY === 0) {
      void this.#store.pruneAnswers(Date.now() - Math.max(this.#settings.ttlMs, this.#settings.staleMs));
    }
  }
}
