/** Settings of the Universal Input API: keys, providers and models, limits, cache, gatekeeper. */
import type { Rate } from '../config/kinds.ts';
import type { Resolved } from '../config/resolve.ts';
import type { RATE_LIMIT_SCOPES, Service } from '../config/settings.ts';
import type { Price } from '../tenancy/prices.ts';
import { loadPatterns, type PatternConfig } from './pipeline/patterns-file.ts';
import type { UpstreamLimits } from './providers/http.ts';
import { type ProviderConfig, providersConfig } from './providers/providers-config.ts';

export type { Service } from '../config/settings.ts';

export interface ApiConfig {
  /** The static keys (ROBBIE_API_KEYS); more live in the store. */
  apiKeys: string[];
  adminKey: string | undefined;
  metricsToken: string | undefined;
  maxBodyBytes: number;
  /** The primary provider first, then the fallbacks in order. */
  providers: ProviderConfig[];
  /** Model names of the user's, each for models tried in order (`provider/model` or a model name). */
  aliases: Map<string, string[]>;
  /** How often each provider's model list is read again. */
  modelsRefreshMs: number;
  /** The most an upstream may send: an answer, one line of a stream. */
  upstream: UpstreamLimits;
  /** A stream whose client takes no bytes for this long is ended (and recorded as cut). */
  streamWriteTimeoutMs: number;
  /** The whole model budget of one request: every attempt, retry and fallback. */
  modelTimeoutMs: number;
  cache: { services: Service[]; ttlMs: number; staleMs: number };
  mood: string;
  /** Each key's request limit, unless the key sets its own. */
  rateLimit: Rate;
  /** Per end user within a key, when set. */
  rateLimitUser: Rate | undefined;
  /** Tokens held against a budget for a request without max_tokens. */
  budgetReserve: number;
  prices: Map<string, Price>;
  /** One limit across the store's instances, or a local share per process. */
  rateLimitScope: (typeof RATE_LIMIT_SCOPES)[number];
  /** Gatekeeper patterns from a file, replacing the defaults. */
  patterns: PatternConfig[] | undefined;
  /** A critical gatekeeper finding activates the killswitch. */
  tripKillswitch: boolean;
}

export function apiConfig(s: Resolved): ApiConfig {
  const v = s.values;
  return {
    apiKeys: v['api-keys'] ?? [],
    adminKey: v['admin-key'],
    metricsToken: v['metrics-token'],
    maxBodyBytes: v['max-body'],
    ...providersConfig(s),
    cache: { services: v.cache, ttlMs: v['cache-ttl'], staleMs: v['cache-stale'] },
    modelTimeoutMs: v['model-timeout'],
    modelsRefreshMs: v['models-refresh'],
    upstream: { answerBytes: v['upstream-max-answer'], lineBytes: v['upstream-max-line'] },
    streamWriteTimeoutMs: v['stream-write-timeout'],
    mood: v.mood,
    rateLimit: v['rate-limit'],
    rateLimitUser: v['rate-limit-user'],
    budgetReserve: v['budget-reserve'],
    rateLimitScope: v['rate-limit-scope'],
    patterns: loadPatterns(s),
    tripKillswitch: v['gatekeeper-killswitch'],
  };
}
