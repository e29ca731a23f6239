import { hash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { problem, sendProblem } from '../errors.ts';
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
  return hash('sha256', s, 'buffer');
}

/** Compares against every key in constant time (hashes of equal length, no early exit). */
export function keyMatches(presented: string, keys: readonly string[]): boolean {
  const p = digest(presented);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(p, digest(k)) || ok;
  return ok;
}

/** 401 without a key, 403 with a wrong one; `what` names the key in the reason. */
function keyCheck(keys: readonly string[], what: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = presentedKey(c);
    if (!key) {
      return sendProblem(
        c,
        problem(401, 'unauthorized', `${what} is required (X-API-Key or Authorization: Bearer)`),
      );
    }
    if (!keyMatches(key, keys)) {
      return sendProblem(c, problem(403, 'forbidden', `${what.replace(/^an? /, 'the ')} is not valid`));
    }
    return next();
  };
}

/**
 * API keys for the universal routes (defect 5: the original read X-API-Key and never checked it).
 * No keys configured means open — and then `serve` listens on loopback only.
 */
export function requireApiKey(keys: readonly string[]): MiddlewareHandler<AppEnv> {
  const check = keyCheck(keys, 'an API key');
  return (c, next) => (keys.length === 0 ? next() : check(c, next));
}

/** The admin key for changing the killswitch; without one configured, nobody may change it over HTTP. */
export function requireAdminKey(adminKey: string | undefined): MiddlewareHandler<AppEnv> {
  if (!adminKey) {
    return async (c) =>
      sendProblem(
        c,
        problem(403, 'forbidden', 'the killswitch cannot be changed over HTTP until ROBBIE_ADMIN_KEY is set'),
      );
  }
  return keyCheck([adminKey], 'the admin key');
}
