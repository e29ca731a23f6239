/** Settings of the Universal Input API: providers and models, limits, gatekeeper, keys. */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { parseDuration } from './units.ts';
import { durationSetting, sizeSetting } from './values.ts';

export type ProviderName = 'ollama' | 'openai' | 'echo';

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
  rateLimit: { max: number; windowMs: number };
  /** Gatekeeper patterns from a file, replacing the defaults. */
  patterns: PatternConfig[] | undefined;
  /** A critical gatekeeper finding activates the killswitch. */
  tripKillswitch: boolean;
}

export interface ApiFlags {
  'max-body'?: string | undefined;
}

/** `60/1m` → 60 requests per minute. */
export function parseRateLimit(text: string): { max: number; windowMs: number } | undefined {
  const m = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!m) return undefined;
  const windowMs = parseDuration(m[2] as string);
  const max = Number(m[1]);
  if (windowMs === undefined || windowMs <= 0 || max < 1) return undefined;
  return { max, windowMs };
}

function loadPatterns(path: string | undefined): PatternConfig[] | undefined {
  if (!path) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(
      `ROBBIE_GATEKEEPER_PATTERNS: cannot read ${path} as JSON (${(err as Error).message.split('\n')[0]})`,
    );
  }
  if (!Array.isArray(parsed))
    throw new UsageError(
      'ROBBIE_GATEKEEPER_PATTERNS must hold a JSON array of {pattern, category, severity, reason}',
    );
  return parsed.map((p, i) => {
    const o = p as Partial<PatternConfig>;
    if (typeof o.pattern !== 'string' || !o.pattern)
      throw new UsageError(`gatekeeper pattern ${i}: "pattern" must be a non-empty string`);
    try {
      new RegExp(o.pattern, 'iu');
    } catch {
      throw new UsageError(`gatekeeper pattern ${i}: not a valid regular expression`);
    }
    const severity = o.severity ?? 'medium';
    if (!['low', 'medium', 'high', 'critical'].includes(severity))
      throw new UsageError(`gatekeeper pattern ${i}: bad severity`);
    return {
      pattern: o.pattern,
      category: o.category ?? 'policy_violation',
      severity,
      reason: o.reason ?? 'matched a configured pattern',
    };
  });
}

export function resolveApiConfig(flags: ApiFlags, env: NodeJS.ProcessEnv, apiKeys: string[]): ApiConfig {
  const providerText = (env.ROBBIE_PROVIDER ?? (env.OPENAI_BASE_URL ? 'openai' : 'ollama')).toLowerCase();
  if (!['ollama', 'openai', 'echo'].includes(providerText)) {
    throw new UsageError(`ROBBIE_PROVIDER must be ollama, openai or echo (got '${providerText}')`);
  }
  const rate = env.ROBBIE_RATE_LIMIT ? parseRateLimit(env.ROBBIE_RATE_LIMIT) : { max: 120, windowMs: 60_000 };
  if (!rate) throw new UsageError(`ROBBIE_RATE_LIMIT must look like 60/1m (got '${env.ROBBIE_RATE_LIMIT}')`);
  const chat = env.CHAT_MODEL || 'llama3.1:8b';
  return {
    apiKeys,
    adminKey: env.ROBBIE_ADMIN_KEY || undefined,
    maxBodyBytes: sizeSetting(
      { flag: flags['max-body'], env: env.ROBBIE_MAX_BODY, flagName: 'max-body', envName: 'ROBBIE_MAX_BODY' },
      1024 * 1024,
      1024,
    ),
    provider: providerText as ProviderName,
    ollamaUrl: (env.OLLAMA_URL || 'http://127.0.0.1:11434').replace(/\/+$/, ''),
    openaiBaseUrl: env.OPENAI_BASE_URL ? env.OPENAI_BASE_URL.replace(/\/+$/, '') : undefined,
    openaiApiKey: env.OPENAI_API_KEY || undefined,
    models: {
      chat,
      code: env.CODE_MODEL || 'qwen2.5-coder:7b',
      analysis: env.ANALYSIS_MODEL || chat,
      embedding:
        env.EMBEDDING_MODEL || (providerText === 'openai' ? 'text-embedding-3-small' : 'nomic-embed-text'),
    },
    modelTimeoutMs: durationSetting(
      { env: env.ROBBIE_MODEL_TIMEOUT, flagName: 'model-timeout', envName: 'ROBBIE_MODEL_TIMEOUT' },
      30_000,
      100,
    ),
    mood: env.ROBBIE_MOOD || 'focused',
    rateLimit: rate,
    patterns: loadPatterns(env.ROBBIE_GATEKEEPER_PATTERNS),
    tripKillswitch: ['1', 'true', 'yes', 'on'].includes(
      (env.ROBBIE_GATEKEEPER_KILLSWITCH ?? '').toLowerCase(),
    ),
  };
}
