/** Settings of the Universal Input API: providers and models, limits, gatekeeper, keys. */
import { readFileSync } from 'node:fs';
import type { ModelChoice, Rate } from './kinds.ts';
import { type Resolved, settingError } from './resolve.ts';
import { type PROVIDERS, type RATE_LIMIT_SCOPES, SERVICE_NAMES } from './settings.ts';

export type ProviderName = (typeof PROVIDERS)[number];
export type Service = (typeof SERVICE_NAMES)[number];
export const SERVICES: readonly Service[] = SERVICE_NAMES;

/** One provider of the chain: where it is, and its model for each service. */
export interface ProviderConfig {
  name: ProviderName;
  /** Its server (none for echo). */
  url: string | undefined;
  apiKey: string | undefined;
  models: Record<Service, string>;
}

/** Each provider's model for a service when the settings name none. */
const DEFAULT_MODELS: Record<ProviderName, Record<Exclude<Service, 'analysis'>, string>> = {
  ollama: { chat: 'llama3.1:8b', code: 'qwen2.5-coder:7b', embedding: 'nomic-embed-text' },
  openai: { chat: 'gpt-4o-mini', code: 'gpt-4o-mini', embedding: 'text-embedding-3-small' },
  echo: { chat: 'echo', code: 'echo', embedding: 'echo' },
};

const MODEL_SETTING = {
  chat: 'chat-model',
  code: 'code-model',
  analysis: 'analysis-model',
  embedding: 'embedding-model',
} as const;

export interface PatternConfig {
  pattern: string;
  category: string;
  severity: 'low' | 'medium' | 'high' | 'critical';
  reason: string;
}

export interface ApiConfig {
  apiKeys: string[];
  adminKey: string | undefined;
  maxBodyBytes: number;
  /** The primary provider first, then the fallbacks in order. */
  providers: ProviderConfig[];
  /** The whole model budget of one request: every attempt, retry and fallback. */
  modelTimeoutMs: number;
  cache: { services: Service[]; ttlMs: number; staleMs: number };
  mood: string;
  rateLimit: Rate;
  /** One limit across the store's instances, or a local share per process. */
  rateLimitScope: (typeof RATE_LIMIT_SCOPES)[number];
  /** Gatekeeper patterns from a file, replacing the defaults. */
  patterns: PatternConfig[] | undefined;
  /** A critical gatekeeper finding activates the killswitch. */
  tripKillswitch: boolean;
}

const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;

function loadPatterns(s: Resolved): PatternConfig[] | undefined {
  const path = s.values['gatekeeper-patterns'];
  if (!path) return undefined;
  const refuse = (problem: string) =>
    settingError('gatekeeper-patterns', s.origins['gatekeeper-patterns'], problem);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw refuse(`names a file that cannot be read as JSON: ${path}: ${e.code ?? e.message.split('\n')[0]}`);
  }
  if (!Array.isArray(parsed)) throw refuse('must name a JSON array of {pattern, category, severity, reason}');
  return parsed.map((p, i) => {
    const o = p as Partial<PatternConfig>;
    if (typeof o.pattern !== 'string' || !o.pattern)
      throw refuse(`pattern ${i}: "pattern" must be a non-empty string`);
    try {
      new RegExp(o.pattern, 'iu');
    } catch {
      throw refuse(`pattern ${i}: not a valid regular expression`);
    }
    const severity = o.severity ?? 'medium';
    if (!SEVERITIES.includes(severity))
      throw refuse(`pattern ${i}: severity must be ${SEVERITIES.join(', ')}`);
    return {
      pattern: o.pattern,
      category: o.category ?? 'policy_violation',
      severity,
      reason: o.reason ?? 'matched a configured pattern',
    };
  });
}

/** The chain of providers: the primary, then each fallback, with its model per service. */
function providerChain(s: Resolved): ProviderConfig[] {
  const v = s.values;
  const primary = v.provider;
  if (v.fallback.includes(primary)) {
    throw settingError('fallback', s.origins.fallback, `must not name the provider itself (${primary})`);
  }
  const modelOf = (name: ProviderName, choice: ModelChoice, fallback: string): string =>
    choice.byProvider[name] ?? (name === primary ? choice.primary : undefined) ?? fallback;
  return [primary, ...v.fallback].map((name) => {
    const d = DEFAULT_MODELS[name];
    const chat = modelOf(name, v['chat-model'], d.chat);
    return {
      name,
      url:
        name === 'ollama'
          ? v['ollama-url']
          : name === 'openai'
            ? (v['openai-base-url'] ?? 'https://api.openai.com/v1')
            : undefined,
      apiKey: name === 'openai' ? v['openai-api-key'] : undefined,
      models: {
        chat,
        code: modelOf(name, v[MODEL_SETTING.code], d.code),
        analysis: modelOf(name, v[MODEL_SETTING.analysis], chat),
        embedding: modelOf(name, v[MODEL_SETTING.embedding], d.embedding),
      },
    };
  });
}

export function apiConfig(s: Resolved): ApiConfig {
  const v = s.values;
  return {
    apiKeys: v['api-keys'] ?? [],
    adminKey: v['admin-key'],
    maxBodyBytes: v['max-body'],
    providers: providerChain(s),
    cache: { services: v.cache, ttlMs: v['cache-ttl'], staleMs: v['cache-stale'] },
    modelTimeoutMs: v['model-timeout'],
    mood: v.mood,
    rateLimit: v['rate-limit'],
    rateLimitScope: v['rate-limit-scope'],
    patterns: loadPatterns(s),
    tripKillswitch: v['gatekeeper-killswitch'],
  };
}
