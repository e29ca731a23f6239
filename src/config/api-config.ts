/** Settings of the Universal Input API: providers and models, limits, gatekeeper, keys. */
import { readFileSync } from 'node:fs';
import type { Rate } from './kinds.ts';
import { type Resolved, settingError } from './resolve.ts';
import type { PROVIDERS, RATE_LIMIT_SCOPES } from './settings.ts';

export type ProviderName = (typeof PROVIDERS)[number];

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
  provider: ProviderName;
  ollamaUrl: string;
  openaiBaseUrl: string | undefined;
  openaiApiKey: string | undefined;
  models: { chat: string; code: string; analysis: string; embedding: string };
  modelTimeoutMs: number;
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

export function apiConfig(s: Resolved): ApiConfig {
  const v = s.values;
  return {
    apiKeys: v['api-keys'] ?? [],
    adminKey: v['admin-key'],
    maxBodyBytes: v['max-body'],
    provider: v.provider,
    ollamaUrl: v['ollama-url'],
    openaiBaseUrl: v['openai-base-url'],
    openaiApiKey: v['openai-api-key'],
    models: {
      chat: v['chat-model'],
      code: v['code-model'],
      analysis: v['analysis-model'],
      embedding: v['embedding-model'],
    },
    modelTimeoutMs: v['model-timeout'],
    mood: v.mood,
    rateLimit: v['rate-limit'],
    rateLimitScope: v['rate-limit-scope'],
    patterns: loadPatterns(s),
    tripKillswitch: v['gatekeeper-killswitch'],
  };
}
