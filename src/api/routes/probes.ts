import type { Hono } from 'hono';
import { sendJson } from '../answer.ts';
import { type HealthChecks, HeldChecks } from '../health-checks.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { AppEnv } from '../types.ts';

export const SERVICE_NAME = 'Universal Input API';

const NO_STORE = { 'Cache-Control': 'no-store' };

/**
 * `/livez` (the process answers; touches nothing else), `/readyz` (503 while draining) and
 * `/health` (the seed's shape plus uptime and dependency checks — their held results, at most
 * about half a second old; `degraded` when one is down).
 */
export function registerProbeRoutes(
  app: Hono<AppEnv>,
  opts: { version: string; lifecycle: Lifecycle; checks: HealthChecks },
): void {
  const { version, lifecycle } = opts;
  const checks = new HeldChecks(opts.checks);

  app.get('/livez', (c) => sendJson(c, { status: 'ok' }, 200, NO_STORE));

  app.get('/readyz', (c) =>
    lifecycle.draining
      ? sendJson(c, { status: 'draining' }, 503, NO_STORE)
      : sendJson(c, { status: 'ready' }, 200, NO_STORE),
  );

  app.get('/health', async (c) => {
    const results = await checks.current();
    const degraded = Object.values(results).some((r) => r.status !== 'up');
    return sendJson(
      c,
      {
        status: degraded ? 'degraded' : 'healthy',
        timestamp: new Date().toISOString(),
        service: SERVICE_NAME,
        version,
        uptime_s: Math.floor((Date.now() - lifecycle.startedAt) / 1000),
        checks: results,
      },
      200,
      NO_STORE,
    );
  });
}
