/**
 * Managing keys, one rule for the CLI (`robbie keys`) and the admin API (`/admin/keys`): what a
 * key's settings may be, how a key is named (by name or id), created, changed, revoked and rotated.
 */
import { randomBytes } from 'node:crypto';
import { rateCodec } from '../config/kinds.ts';
import { SERVICE_NAMES } from '../config/settings.ts';
import { parseDuration } from '../config/units.ts';
import type { KeyRecord, KeySpec, KeyStore } from '../storage/types.ts';
import { hintOf, KEY_NAME, keyDigest, newSecret } from './principal.ts';

/** A change to a key's settings: a field left out stays, null clears it. */
export interface KeyChanges {
  name?: string;
  services?: string[] | null;
  models?: string[] | null;
  rate_limit?: string | null;
  token_limit?: string | null;
  budget_tokens?: number | null;
  budget_cost?: number | null;
  budget_period?: 'day' | 'month';
  cache_group?: string | null;
  /** ms since the epoch, or null for never. */
  expires_at?: number | null;
}

/** A setting of a key that cannot be: the field and why (exit 2 in the CLI, 400 over HTTP). */
export class KeyFieldError extends Error {
  override name = 'KeyFieldError';
  readonly field: string;
  constructor(field: string, reason: string) {
    super(`${field} ${reason}`);
    this.field = field;
  }
}

/** No key has this name or id. */
export class KeyNotFoundError extends Error {
  override name = 'KeyNotFoundError';
}

const EMPTY_SPEC: KeySpec = {
  services: null,
  models: null,
  rate_limit: null,
  token_limit: null,
  budget: null,
  cache_group: null,
};

function list(field: string, items: unknown, valid: (s: string) => boolean, what: string): string[] | null {
  if (items === null) return null;
  if (!Array.isArray(items) || items.length === 0 || !items.every((i) => typeof i === 'string' && valid(i))) {
    throw new KeyFieldError(field, `must be a non-empty list of ${what}`);
  }
  return [...new Set(items as string[])];
}

function rate(field: string, text: unknown): string | null {
  if (text === null) return null;
  const r = typeof text === 'string' ? rateCodec.parse(text) : undefined;
  if (!r) throw new KeyFieldError(field, `must be ${rateCodec.accepts}`);
  return rateCodec.format(r);
}

function amount(field: string, n: unknown, whole: boolean): number | null {
  if (n === null) return null;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || (whole && !Number.isSafeInteger(n))) {
    throw new KeyFieldError(field, `must be a ${whole ? 'whole ' : ''}number above 0`);
  }
  return n;
}

/** The key's settings with the changes applied, each checked. */
export function applyChanges(spec: KeySpec, c: KeyChanges): KeySpec {
  const next: KeySpec = { ...spec };
  if (c.services !== undefined)
    next.services = list(
      'services',
      c.services,
      (s) => (SERVICE_NAMES as readonly string[]).includes(s),
      SERVICE_NAMES.join(', '),
    );
  if (c.models !== undefined)
    next.models = list('models', c.models, (s) => s.length > 0 && s.length <= 200, 'model names');
  if (c.rate_limit !== undefined) next.rate_limit = rate('rate_limit', c.rate_limit);
  if (c.token_limit !== undefined) next.token_limit = rate('token_limit', c.token_limit);
  if (c.cache_group !== undefined) {
    if (c.cache_group !== null && (typeof c.cache_group !== 'string' || !KEY_NAME.test(c.cache_group)))
      throw new KeyFieldError('cache_group', 'must be a name of lower-case letters, digits, _ . and -');
    next.cache_group = c.cache_group;
  }
  if (c.budget_tokens !== undefined || c.budget_cost !== undefined || c.budget_period !== undefined) {
    const was = spec.budget ?? { tokens: null, cost: null, period: 'month' as const };
    const period = c.budget_period ?? was.period;
    if (period !== 'day' && period !== 'month')
      throw new KeyFieldError('budget_period', 'must be day or month');
    const budget = {
      tokens: c.budget_tokens === undefined ? was.tokens : amount('budget_tokens', c.budget_tokens, true),
      cost: c.budget_cost === undefined ? was.cost : amount('budget_cost', c.budget_cost, false),
      period,
    };
    next.budget = budget.tokens === null && budget.cost === null ? null : budget;
  }
  return next;
}

/** `30d` from now, or an ISO date; `never` clears. */
export function parseExpiry(text: string, now = Date.now()): number | null {
  if (text === 'never') return null;
  const d = parseDuration(text);
  if (d !== undefined && d > 0) return now + d;
  const at = Date.parse(text);
  if (Number.isFinite(at) && /^\d{4}-\d{2}-\d{2}/.test(text)) return at;
  throw new KeyFieldError('expires', 'must be a duration such as 30d, an ISO date, or never');
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || !KEY_NAME.test(name))
    throw new KeyFieldError(
      'name',
      'must be 1 to 63 lower-case letters, digits, _ . and - (such as email or editor-alice)',
    );
  return name;
}

function checkExpiry(at: unknown): number | null {
  if (at === null) return null;
  if (typeof at !== 'number' || !Number.isFinite(at)) throw new KeyFieldError('expires_at', 'must be a time');
  return at;
}

export async function findKey(store: KeyStore, ref: string): Promise<KeyRecord> {
  const { keys } = await store.keysSince(0);
  const found = keys.find((k) => k.id === ref) ?? keys.find((k) => k.name === ref);
  if (!found) throw new KeyNotFoundError(`no key named ${ref}`);
  return found;
}

export async function listKeys(store: KeyStore): Promise<KeyRecord[]> {
  const { keys } = await store.keysSince(0);
  return keys.sort((a, b) => a.name.localeCompare(b.name));
}

/** A new key: the record, and its secret (shown once; only its digest is kept). */
export async function createKey(
  store: KeyStore,
  name: string,
  changes: KeyChanges,
  now = Date.now(),
): Promise<{ key: KeyRecord; secret: string }> {
  const secret = newSecret();
  const key = await store.saveKey({
    id: `k-${randomBytes(9)
      .toString('base64url')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '0')}`,
    name: checkName(name),
    digest: keyDigest(secret),
    hint: hintOf(secret),
    spec: applyChanges(EMPTY_SPEC, changes),
    expires_at: changes.expires_at === undefined ? null : checkExpiry(changes.expires_at),
    revoked_at: null,
    created_at: now,
    updated_at: now,
  });
  return { key, secret };
}

export async function updateKey(
  store: KeyStore,
  ref: string,
  changes: KeyChanges,
  now = Date.now(),
): Promise<KeyRecord> {
  const k = await findKey(store, ref);
  return store.saveKey({
    ...k,
    name: changes.name === undefined ? k.name : checkName(changes.name),
    spec: applyChanges(k.spec, changes),
    expires_at: changes.expires_at === undefined ? k.expires_at : checkExpiry(changes.expires_at),
    updated_at: now,
  });
}

/** Refused from then on, on every instance; kept, so its records and usage still name it. */
export async function revokeKey(store: KeyStore, ref: string, now = Date.now()): Promise<KeyRecord> {
  const k = await findKey(store, ref);
  return store.saveKey({ ...k, revoked_at: k.revoked_at ?? now, updated_at: now });
}

/** A new secret for the same key (its id, name, settings and usage stay); the old one stops at once. */
export async function rotateKey(
  store: KeyStore,
  ref: string,
  now = Date.now(),
): Promise<{ key: KeyRecord; secret: string }> {
  const k = await findKey(store, ref);
  const secret = newSecret();
  const key = await store.saveKey({ ...k, digest: keyDigest(secret), hint: hintOf(secret), updated_at: now });
  return { key, secret };
}

/** A key as listings and the admin API show it (never its digest). */
export function keyView(k: KeyRecord, now = Date.now()) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: k.id,
    name: k.name,
    hint: k.hint,
    state:
      k.revoked_at !== null ? 'revoked' : k.expires_at !== null && now >= k.expires_at ? 'expired' : 'active',
    services: k.spec.services,
    models: k.spec.models,
    rate_limit: k.spec.rate_limit,
    token_limit: k.spec.token_limit,
    budget: k.spec.budget,
    cache_group: k.spec.cache_group,
    expires_at: iso(k.expires_at),
    revoked_at: iso(k.revoked_at),
    created_at: iso(k.created_at),
    updated_at: iso(k.updated_at),
  };
}
