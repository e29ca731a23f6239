/**
 * Who is calling: every API key is a principal (a channel or a team: `email`, `sms`,
 * `editor-alice`) with what it may use, its limits, its budget and its state. Keys created while
 * the service runs live in the store as digests; each key of ROBBIE_API_KEYS is a principal too,
 * with the global defaults.
 */
import { hash, randomBytes } from 'node:crypto';
import type { Service } from '../api/config.ts';
import { type Rate, rateCodec } from '../config/kinds.ts';
import type { KeyRecord } from '../storage/types.ts';

export interface Budget {
  tokens: number | null;
  /** In the price table's currency (USD per million tokens, by default). */
  cost: number | null;
  period: 'day' | 'month';
}

export interface Principal {
  /** '' for the anonymous caller of a service with no keys. */
  id: string;
  name: string;
  /** What it may use; null means everything. */
  services: readonly Service[] | null;
  models: readonly string[] | null;
  /** Its own limits; null means the configured default (requests), none (tokens). */
  rateLimit: Rate | null;
  tokenLimit: Rate | null;
  budget: Budget | null;
  /** Keys with the same group share cached answers; null keeps them to the key itself. */
  cacheGroup: string | null;
  expiresAt: number | null;
  revoked: boolean;
}

/** The caller of a service that has no keys at all (it then listens on loopback only). */
export const ANONYMOUS: Principal = {
  id: '',
  name: 'anonymous',
  services: null,
  models: null,
  rateLimit: null,
  tokenLimit: null,
  budget: null,
  cacheGroup: null,
  expiresAt: null,
  revoked: false,
};

/** A key's name: what `robbie keys` and the usage report call it. */
export const KEY_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** The digest a key is stored and looked up by (a key is long and random: one SHA-256 suffices). */
export function keyDigest(secret: string): string {
  return hash('sha256', secret, 'hex');
}

/** A new secret: `rk-` and 32 random bytes, URL-safe. */
export function newSecret(): string {
  return `rk-${randomBytes(32).toString('base64url')}`;
}

/** What a listing shows of a secret: its first characters. */
export function hintOf(secret: string): string {
  return `${secret.slice(0, 7)}…`;
}

/** The scope of everything kept per request (ids, claims): the key's id, or the id alone without keys. */
export function scopedId(p: Principal, requestId: string): string {
  return p.id === '' ? requestId : `${p.id}/${requestId}`;
}

function rateOf(text: string | null): Rate | null {
  return text === null ? null : (rateCodec.parse(text) ?? null);
}

export function principalOf(k: KeyRecord): Principal {
  return {
    id: k.id,
    name: k.name,
    services: (k.spec.services as Service[] | null) ?? null,
    models: k.spec.models ?? null,
    rateLimit: rateOf(k.spec.rate_limit),
    tokenLimit: rateOf(k.spec.token_limit),
    budget: k.spec.budget,
    cacheGroup: k.spec.cache_group,
    expiresAt: k.expires_at,
    revoked: k.revoked_at !== null,
  };
}

/**
 * The keys of ROBBIE_API_KEYS: `name:secret`, or a bare secret (named `static-` and the start of
 * its digest, which reveals nothing of it). Their ids derive from the digest: stable across
 * restarts and instances, so records and usage stay theirs.
 */
export function staticPrincipals(keys: readonly string[]): { digest: string; principal: Principal }[] {
  return keys.map((entry) => {
    const m = /^([a-z0-9][a-z0-9_.-]{0,62}):(.+)$/.exec(entry);
    const secret = m ? (m[2] as string) : entry;
    const digest = keyDigest(secret);
    return {
      digest,
      principal: {
        ...ANONYMOUS,
        id: `s-${digest.slice(0, 12)}`,
        name: m ? (m[1] as string) : `static-${digest.slice(0, 8)}`,
      },
    };
  });
}
