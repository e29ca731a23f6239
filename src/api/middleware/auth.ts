import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../types.ts';

/** The key a client sent: `X-API-Key` (what the original clients send) or `Authorization: Bearer`. */
export function presentedKey(c: Context<AppEnv>): string | undefined {
  const header = c.req.header('x-api-key');
  if (header) return header;
  const auth = c.req.header('authorization');
  const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m?.[1];
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Compares against every key in constant time (hashes of equal length, no early exit). */
export function keyMatches(presented: string, keys: readonly string[]): boolean {
  const p = digest(presented);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(p, digest(k)) || ok;
  return ok;
}

/**
 * API keys for the universal routes (defect 5: the original read X-API-Key and never checked it).
 * No keys configured means open — and then `serve` listens on loopback only.
 */
export function requireApiKey(keys: readonly string[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (keys.length === 0) return next();
    const key = presentedKey(c);
    if (!key) {
      return c.json(
        {
          error: 'unauthorized',
          reason: 'an API key is required (X-API-Key or Authorization: Bearer)',
          request_id: c.get('requestId'),
        },
        401,
        { 'WWW-Authenticate': 'Bearer' },
      );
    }
    if (!keyMatches(key, keys))
      return c.json(
        { error: 'forbidden', reason: 'the API key is not valid', request_id: c.get('requestId') },
        403,
      );
    return next();
  };
}

/** The admin key for changing the killswitch; without one configured, nobody may change it over HTTP. */
export function requireAdminKey(adminKey: string | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!adminKey) {
      return c.json(
        {
          error: 'forbidden',
          reason: 'the killswitch cannot be changed over HTTP until ROBBIE_ADMIN_KEY is set',
          request_id: c.get('requestId'),
        },
        403,
      );
    }
    const key = presentedKey(c);
    if (!key) {
      return c.json(
        {
          error: 'unauthorized',
          reason: 'the admin key is required (X-API-Key or Authorization: Bearer)',
          request_id: c.get('requestId'),
        },
        401,
        { 'WWW-Authenticate': 'Bearer' },
      );
    }
    if (!keyMatches(key, [adminKey]))
      return c.json(
        { error: 'forbidden', reason: 'the admin key is not valid', request_id: c.get('requestId') },
        403,
      );
    return next();
  };
}
