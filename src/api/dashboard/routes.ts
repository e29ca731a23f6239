/**
 * The dashboard under /dashboard on the API's port, behind the admin key: the page (a login form
 * without a credential), its data as JSON for the page's polling and for scripts, and the two
 * actions the CLI has (`robbie reload`, the killswitch). Loopback alone never lets anyone in:
 * behind a reverse proxy every request looks local.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { killswitchChange } from '../../storage/killswitch.ts';
import { StorageUnavailableError } from '../../storage/types.ts';
import { problem, sendProblem } from '../errors.ts';
import { keyMatches, presentedKey } from '../middleware/auth.ts';
import type { AppEnv } from '../types.ts';
import { type DashboardSources, dashboardData } from './data.ts';
import { dashboardPage, loginPage } from './page.ts';
import { csrfToken, newSession, SESSION_COOKIE, SESSION_MS, validCsrf, validSession } from './session.ts';

/** How the caller proved it holds the admin key. */
type Credential = { by: 'key' } | { by: 'session'; session: string };

function credentialOf(c: Context<AppEnv>, adminKey: string): Credential | undefined {
  const key = presentedKey(c);
  if (key !== undefined) return keyMatches(key, [adminKey]) ? { by: 'key' } : undefined;
  const session = getCookie(c, SESSION_COOKIE);
  return session && validSession(adminKey, session) ? { by: 'session', session } : undefined;
}

/** The page's own headers: its script and style only, no framing, nothing cached or referred. */
function pageHeaders(nonce: string): Record<string, string> {
  return {
    'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
  };
}

/** Whether the client reached robbie over HTTPS (directly or through a proxy that says so): the cookie is then Secure. */
function overHttps(c: Context<AppEnv>): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

export function registerDashboardRoutes(
  app: Hono<AppEnv>,
  sources: DashboardSources,
  adminKey: string | undefined,
): void {
  const page = (c: Context<AppEnv>, status: 200 | 401 | 403, html: (nonce: string) => string) => {
    const nonce = randomBytes(16).toString('base64');
    return c.html(html(nonce), status, pageHeaders(nonce));
  };

  if (!adminKey) {
    const off = 'the dashboard needs an admin key: set ROBBIE_ADMIN_KEY and restart';
    app.get('/dashboard', (c) => page(c, 403, (nonce) => loginPage(nonce, off, false)));
    app.all('/dashboard/*', (c) => sendProblem(c, problem(403, 'forbidden', off)));
    return;
  }
  const key = adminKey;

  /** The admin key or a session, else 401; a change from a session also needs its CSRF token. */
  const guard =
    (change: boolean): MiddlewareHandler<AppEnv> =>
    async (c, next) => {
      const who = credentialOf(c, key);
      if (!who) return sendProblem(c, problem(401, 'unauthorized', 'the admin key is required'));
      if (change && who.by === 'session' && !validCsrf(key, who.session, c.req.header('x-csrf-token'))) {
        return sendProblem(c, problem(403, 'forbidden', 'the request lacks the page’s CSRF token'));
      }
      return next();
    };

  app.get('/dashboard', (c) => {
    const who = credentialOf(c, key);
    if (!who) return page(c, 401, (nonce) => loginPage(nonce, undefined, true));
    const csrf = who.by === 'session' ? csrfToken(key, who.session) : '';
    return page(c, 200, (nonce) => dashboardPage(nonce, csrf, sources.version));
  });

  const smallForm = bodyLimit({
    maxSize: 4096,
    onError: (c) => sendProblem(c, problem(413, 'payload_too_large', 'the form is larger than 4 KiB')),
  });
  app.post('/dashboard/login', smallForm, async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const given = form.key;
    if (typeof given !== 'string' || !keyMatches(given, [key])) {
      c.get('log').warn('dashboard login refused');
      // A wrong key waits: guessing one costs half a second a try.
      await sleep(500);
      return page(c, 401, (nonce) => loginPage(nonce, 'that is not the admin key', true));
    }
    setCookie(c, SESSION_COOKIE, newSession(key), {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/dashboard',
      maxAge: SESSION_MS / 1000,
      secure: overHttps(c),
    });
    c.get('log').info('dashboard login');
    return c.redirect('/dashboard', 303);
  });

  app.post('/dashboard/logout', (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: '/dashboard' });
    return c.redirect('/dashboard', 303);
  });

  app.get('/dashboard/data', guard(false), async (c) =>
    c.json(await dashboardData(sources), 200, { 'Cache-Control': 'no-store' }),
  );

  const smallJson = bodyLimit({
    maxSize: 4096,
    onError: (c) => sendProblem(c, problem(413, 'payload_too_large', 'the body is larger than 4 KiB')),
  });
  app.post('/dashboard/killswitch', guard(true), smallJson, async (c) => {
    const body = (await c.req.json().catch(() => undefined)) as
      | { active?: unknown; reason?: unknown }
      | undefined;
    const active = body?.active;
    const reason = body?.reason;
    if (typeof active !== 'boolean') {
      return sendProblem(c, problem(422, 'validation_error', 'active must be true or false'));
    }
    if (active && (typeof reason !== 'string' || reason.trim() === '' || reason.length > 500)) {
      return sendProblem(c, problem(422, 'validation_error', 'reason is required: 1 to 500 characters'));
    }
    try {
      await sources.store.write({
        kind: 'killswitch',
        data: killswitchChange(
          active,
          'dashboard',
          active ? (reason as string) : null,
          active ? 'manual' : null,
        ),
      });
    } catch (err) {
      if (!(err instanceof StorageUnavailableError)) throw err;
      return sendProblem(c, problem(503, 'storage_unavailable', err.message, { retryAfterS: 5 }));
    }
    c.get('log').warn(active ? 'killswitch activated' : 'killswitch deactivated', { by: 'dashboard' });
    return c.json({ killswitch: await sources.store.killswitch() });
  });

  app.post('/dashboard/reload', guard(true), async (c) => {
    const sup = sources.supervisor;
    if (!sup) {
      return sendProblem(
        c,
        problem(409, 'not_supervised', 'this API runs without a supervisor: nothing to reload'),
      );
    }
    try {
      return c.json(await sup.link.reload());
    } catch (err) {
      return sendProblem(
        c,
        problem(503, 'supervisor_unavailable', err instanceof Error ? err.message : 'no answer'),
      );
    }
  });
}
