/**
 * The chain of providers from the settings and the providers file: each provider's kind, server,
 * key, model per service and the models it serves; the user's aliases; the price table.
 */

import { settingJsonFile } from '../../config/json-file.ts';
import type { ModelChoice } from '../../config/kinds.ts';
import { NAME } from '../../config/kinds.ts';
import { type Resolved, settingError } from '../../config/resolve.ts';
import { SERVICES, type Service } from '../../config/settings.ts';
import { parseDuration } from '../../config/units.ts';
import { registerSecret } from '../../logger/redact.ts';
import { type Price, pricesFrom } from '../../tenancy/prices.ts';
import { KINDS, PROVIDER_KINDS, type ProviderKind } from './kinds.ts';

/**
 * The models a provider serves beyond its service models: those its server lists (`discover`),
 * any name (`*`), or these.
 */
export type Serves = 'discover' | '*' | string[];

/** One provider of the chain: its name, how it is spoken to, where it is, its model per service. */
export interface ProviderConfig {
  name: string;
  kind: ProviderKind;
  /** Its server (none for echo). */
  url: string | undefined;
  apiKey: string | undefined;
  models: Record<Service, string>;
  serves: Serves;
  /** How long a call may wait for its answer (a stream: its first piece) before the next provider is tried. */
  timeoutMs?: number | undefined;
}

const MODEL_SETTING = {
  chat: 'chat-model',
  code: 'code-model',
  analysis: 'analysis-model',
  embedding: 'embedding-model',
} as const;

function loadPrices(s: Resolved): Map<string, Price> {
  const file = settingJsonFile(s, 'prices-file');
  return file ? pricesFrom(file.parsed, file.refuse) : new Map();
}

/** A provider of the providers file, before the model settings are applied. */
interface NamedProvider {
  kind: ProviderKind;
  url: string | undefined;
  apiKey: string | undefined;
  models: Partial<Record<Service, string>>;
  serves: Serves | undefined;
  timeoutMs: number | undefined;
  /** Its models' prices, per million tokens. */
  prices: Map<string, Price>;
}

/** The providers file, read: its providers by name, its aliases, and how to refuse an entry. */
interface ProvidersFile {
  providers: Map<string, NamedProvider>;
  aliases: Map<string, string[]>;
  refuse: (problem: string) => Error;
}

/**
 * The providers file: `[{name, kind, url, api_key_env, models, serves, timeout, prices}]`, or
 * `{providers: […], aliases: {name: [model, …]}}`. A key is never in the file: it names the
 * environment variable that holds it (the env file, the unit's environment). `serves`:
 * `"discover"` (what the server lists), `"*"` (any name) or a list of model names. `timeout`: a
 * duration (`"20s"`). `prices`: as the prices file's, for this provider's models.
 */
function loadProviders(s: Resolved): ProvidersFile {
  const found = new Map<string, NamedProvider>();
  const aliases = new Map<string, string[]>();
  const file = settingJsonFile(s, 'providers-file');
  if (!file) return { providers: found, aliases, refuse: (problem) => new Error(problem) };
  const { refuse } = file;
  const shape = '{name, kind, url, api_key_env, models, serves, timeout, prices}';
  const whole = file.parsed as { providers?: unknown; aliases?: unknown } | unknown[] | null;
  const items = Array.isArray(whole) ? whole : whole?.providers;
  if (!Array.isArray(items))
    throw refuse(`must name a JSON array of ${shape}, or {"providers": [...], "aliases": {...}}`);
  const declared = Array.isArray(whole) ? undefined : whole?.aliases;
  if (declared !== undefined) {
    if (declared === null || typeof declared !== 'object' || Array.isArray(declared))
      throw refuse('"aliases" must be an object: {"name": ["provider/model", ...]}');
    for (const [alias, list] of Object.entries(declared)) {
      if (!ALIAS.test(alias) || (SERVICES as readonly string[]).includes(alias))
        throw refuse(`alias "${alias}": a name of letters, digits and . _ : - (not a service name)`);
      if (!Array.isArray(list) || list.length === 0 || !list.every((m) => typeof m === 'string' && m !== ''))
        throw refuse(`alias ${alias}: must list one or more models, in the order they are tried`);
      aliases.set(alias, list as string[]);
    }
  }
  items.forEach((entry, i) => {
    const o = (entry ?? {}) as Record<string, unknown>;
    const name = o.name;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw refuse(`provider ${i}: "name" must be lower-case letters, digits, _ and - (at most 32)`);
    }
    if ((PROVIDER_KINDS as readonly string[]).includes(name) || found.has(name)) {
      throw refuse(`provider ${i}: the name "${name}" is taken`);
    }
    if (!(PROVIDER_KINDS as readonly string[]).includes(String(o.kind))) {
      throw refuse(`provider ${name}: "kind" must be ${PROVIDER_KINDS.join(', ')}`);
    }
    const kind = o.kind as ProviderKind;
    let url: string | undefined = KINDS[kind].url;
    if (url !== undefined && o.url !== undefined) {
      try {
        const u = new URL(String(o.url));
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
        url = String(o.url).replace(/\/+$/, '');
      } catch {
        throw refuse(`provider ${name}: "url" must be an http(s) URL`);
      }
    }
    let apiKey: string | undefined;
    if (o.api_key_env !== undefined) {
      if (typeof o.api_key_env !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.api_key_env)) {
        throw refuse(`provider ${name}: "api_key_env" must name an environment variable`);
      }
      apiKey = s.env[o.api_key_env];
      if (!apiKey) throw refuse(`provider ${name}: its key variable ${o.api_key_env} is not set`);
      registerSecret(apiKey);
    }
    const models: Partial<Record<Service, string>> = {};
    if (o.models !== undefined) {
      if (o.models === null || typeof o.models !== 'object')
        throw refuse(`provider ${name}: "models" must be an object`);
      for (const [service, model] of Object.entries(o.models)) {
        if (!(SERVICES as readonly string[]).includes(service) || typeof model !== 'string' || model === '') {
          throw refuse(`provider ${name}: models.${service} must be a model name of ${SERVICES.join(', ')}`);
        }
        models[service as Service] = model;
      }
    }
    let serves: Serves | undefined;
    if (o.serves !== undefined) {
      const ok =
        o.serves === 'discover' ||
        o.serves === '*' ||
        (Array.isArray(o.serves) && o.serves.every((m) => typeof m === 'string' && m !== ''));
      if (!ok) throw refuse(`provider ${name}: "serves" must be "discover", "*" or a list of model names`);
      serves = o.serves as Serves;
    }
    let timeoutMs: number | undefined;
    if (o.timeout !== undefined) {
      timeoutMs = typeof o.timeout === 'string' ? parseDuration(o.timeout) : undefined;
      if (timeoutMs === undefined || timeoutMs < 100)
        throw refuse(`provider ${name}: "timeout" must be a duration of at least 100ms ("20s")`);
    }
    const prices =
      o.prices === undefined
        ? new Map<string, Price>()
        : pricesFrom(o.prices, (problem) => refuse(`provider ${name}: prices: ${problem}`));
    found.set(name, { kind, url, apiKey, models, serves, timeoutMs, prices });
  });
  return { providers: found, aliases, refuse };
}

/** An alias's name. */
const ALIAS = /^[\w.:-]{1,100}$/;

/** Each alias's models, checked: a `provider/model` must name a provider of the chain. */
function aliasesOf(file: ProvidersFile, chain: ProviderConfig[]): Map<string, string[]> {
  const known = new Set<string>([...PROVIDER_KINDS, ...file.providers.keys()]);
  const inChain = chain.map((p) => p.name);
  for (const [alias, models] of file.aliases) {
    for (const m of models) {
      // A name whose prefix is no provider's is a model name with a slash (`hf.co/org/model`).
      const provider = m.slice(0, Math.max(0, m.indexOf('/')));
      if (known.has(provider) && !inChain.includes(provider))
        throw file.refuse(`alias ${alias}: ${m} names a provider not in the chain (${inChain.join(', ')})`);
    }
  }
  return file.aliases;
}

/** The chain of providers: the primary, then each fallback, with its model per service. */
function providerChain(s: Resolved, file: ProvidersFile): ProviderConfig[] {
  const v = s.values;
  const primary = v.provider;
  if (v.fallback.includes(primary)) {
    throw settingError('fallback', s.origins.fallback, `must not name the provider itself (${primary})`);
  }
  const named = file.providers;
  const known = [...PROVIDER_KINDS, ...named.keys()];
  const unknown = (key: 'provider' | 'fallback', name: string) =>
    settingError(key, s.origins[key], `names no provider called "${name}" (known: ${known.join(', ')})`);
  if (!known.includes(primary)) throw unknown('provider', primary);
  for (const name of v.fallback) if (!known.includes(name)) throw unknown('fallback', name);
  const chain = [primary, ...v.fallback];
  for (const key of Object.values(MODEL_SETTING)) {
    for (const name of Object.keys(v[key].byProvider)) {
      if (!chain.includes(name)) {
        throw settingError(
          key,
          s.origins[key],
          `names a provider not in the chain: ${name} (the chain: ${chain.join(', ')})`,
        );
      }
    }
  }
  const modelOf = (name: string, choice: ModelChoice, fallback: string): string =>
    choice.byProvider[name] ?? (name === primary ? choice.primary : undefined) ?? fallback;
  return chain.map((name) => {
    const file = named.get(name);
    const kind: ProviderKind = file?.kind ?? (name as ProviderKind);
    const d = KINDS[kind];
    const models = { ...d.models, ...file?.models };
    const chat = modelOf(name, v['chat-model'], models.chat);
    return {
      name,
      kind,
      url: file ? file.url : ((KIND_URL_SETTING[kind] && v[KIND_URL_SETTING[kind]]) ?? d.url),
      apiKey: file ? file.apiKey : keyOf(s, d.keyEnv),
      models: {
        chat,
        code: modelOf(name, v[MODEL_SETTING.code], models.code),
        analysis: modelOf(name, v[MODEL_SETTING.analysis], file?.models.analysis ?? chat),
        embedding: modelOf(name, v[MODEL_SETTING.embedding], models.embedding),
      },
      serves: file?.serves ?? d.serves,
      timeoutMs: file?.timeoutMs,
    };
  });
}

/**
 * The price table: the prices file's, and each provider's own from the providers file under
 * `provider/model` (a price looked up for a provider's model is its own first). One price per
 * name: the same `provider/model` in both files is refused.
 */
function priceTable(s: Resolved, file: ProvidersFile): Map<string, Price> {
  const table = loadPrices(s);
  for (const [provider, p] of file.providers) {
    for (const [model, price] of p.prices) {
      const key = `${provider}/${model}`;
      if (table.has(key)) throw file.refuse(`provider ${provider}: the prices file also prices ${key}`);
      table.set(key, price);
    }
  }
  return table;
}

/** The settings that place a provider named by its kind elsewhere than the kind's default server. */
const KIND_URL_SETTING: Partial<Record<ProviderKind, 'ollama-url' | 'openai-base-url'>> = {
  ollama: 'ollama-url',
  openai: 'openai-base-url',
};

/** A kind's key from its environment variable (the env file's included), a secret from then on. */
function keyOf(s: Resolved, name: string | undefined): string | undefined {
  const key = name ? s.env[name] : undefined;
  if (!key) return undefined;
  registerSecret(key);
  return key;
}

export function providersConfig(s: Resolved): {
  providers: ProviderConfig[];
  aliases: Map<string, string[]>;
  prices: Map<string, Price>;
} {
  const file = loadProviders(s);
  const providers = providerChain(s, file);
  return { providers, aliases: aliasesOf(file, providers), prices: priceTable(s, file) };
}
