/**
 * The dashboard's credential: the admin key itself (`Authorization: Bearer`, for scripts), or a
 * session cookie the login form makes from it. A session is its expiry signed with the admin key
 * (HMAC-SHA256): nothing is stored, every instance accepts it, and changing the admin key ends
 * every session. A browser's changes carry a CSRF token derived from its session.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'robbie_dashboard';
export const SESSION_MS = 12 * 3_600_000;

function sign(adminKey: string, what: string): string {
  return createHmac('sha256', adminKey).update(`robbie-dashboard\u0000${what}`).digest('base64url');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A new session, valid for SESSION_MS. */
export function newSession(adminKey: string, now = Date.now()): string {
  const expires = String(now + SESSION_MS);
  return `${expires}.${sign(adminKey, expires)}`;
}

/** Whether `token` is a session this admin key signed that has not expired. */
export function validSession(adminKey: string, token: string | undefined, now = Date.now()): boolean {
  if (!token) return false;
  const dot = token.indexOf('.');
  if (dot <= 0) return false;
  const expires = token.slice(0, dot);
  if (!/^\d{1,15}$/.test(expires) || Number(expires) <= now) return false;
  return same(token.slice(dot + 1), sign(adminKey, expires));
}

/** The CSRF token of a session: what the page sends with every change it asks for. */
export function csrfToken(adminKey: string, session: string): string {
  return sign(adminKey, `csrf\u0000${session}`);
}

export function validCsrf(adminKey: string, session: string, token: string | undefined): boolean {
  return token !== undefined && same(token, csrfToken(adminKey, session));
}
