/**
 * Who may call what. API keys resolve to principals (tenancy/registry.ts); the admin key guards the
 * admin routes; operators' reads (/metrics, the killswitch's state) need the admin key or the
 * metrics token once keys exist — or, with neither of those configured, a loopback peer.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { KeyRegistry } from '../../tenancy/registry.ts';
import { type Problem, problem, sendProblem } from '../errors.ts';
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

const REFUSED: Record<'missing' | 'invalid' | 'revoked' | 'expired' | 'unavailable', Problem> = {
  missing: problem(401, 'unauthorized', 'an API key is required (X-API-Key or Authorization: Bearer)'),
  invalid: problem(401, 'invalid_api_key', 'the API key is not valid'),
  revoked: problem(401, 'invalid_api_key', 'the API key was revoked'),
  expired: problem(401, 'invalid_api_key', 'the API key has expired'),
  unavailable: problem(503, 'keys_unavailable', 'API keys cannot be checked now (database unreachable)', {
    retryAfterS: 5,
  }),
};

/** The caller's principal in `c.var.principal`, or 401 (503 while stored keys cannot be read). */
export function authenticate(keys: KeyRegistry): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const r = keys.resolve(presentedKey(c));
    if (!r.ok) return sendProblem(c, REFUSED[r.why]);
    c.set('principal', r.principal);
    return next();
  };
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

/** The admin key for the admin routes; without one configured, nobody may use them over HTTP. */
export function requireAdminKey(
  adminKey: string | undefined,
  what = 'the killswitch',
): MiddlewareHandler<AppEnv> {
  if (!adminKey) {
    return async (c) =>
      sendProblem(
        c,
        problem(403, 'forbidden', `${what} cannot be changed over HTTP until ROBBIE_ADMIN_KEY is set`),
      );
  }
  return keyCheck([adminKey], 'the admin key');
}

function fromLoopback(c: Context<AppEnv>): boolean {
  try {
    const address = getConnInfo(c).remote.address ?? '';
    return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
  } catch {
    return false;
  }
}

/**
 * Operators' reads. Open while no key exists (the service then listens on loopback only). Once keys
 * exist: the admin key or the metrics token (`Authorization: Bearer`, Prometheus's convention); with
 * neither configured, only a client on loopback (behind a reverse proxy every client looks local:
 * set a token there).
 */
export function requireOperator(
  credentials: readonly (string | undefined)[],
  keysRequired: () => boolean,
): MiddlewareHandler<AppEnv> {
  const tokens = credentials.filter((t): t is string => t !== undefined && t !== '');
  const check = keyCheck(tokens, 'the admin key or the metrics token');
  return async (c, next) => {
    if (!keysRequired()) return next();
    if (tokens.length > 0) return check(c, next);
    if (fromLoopback(c)) return next();
    return sendProblem(
      c,
      problem(
        403,
        'forbidden',
        'set ROBBIE_METRICS_TOKEN or ROBBIE_ADMIN_KEY to read this from another host',
      ),
    );
  };
}
