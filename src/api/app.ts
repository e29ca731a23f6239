import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from '../logger/logger.ts';
import { serializeError } from '../logger/serialize-error.ts';
import { NO_TRACING, type Tracer } from '../telemetry/tracer.ts';
import type { DashboardSources } from './dashboard/data.ts';
import { registerDashboardRoutes } from './dashboard/routes.ts';
import { problem, sendProblem } from './errors.ts';
import type { HealthChecks } from './health-checks.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { Metrics } from './metrics.ts';
import { accessLog } from './middleware/access-log.ts';
import { requireOperator } from './middleware/auth.ts';
import { requestId } from './middleware/request-id.ts';
import { serverSpan } from './middleware/server-span.ts';
import { turnPacing } from './middleware/turn-pacing.ts';
import { registerAdminKeyRoutes } from './routes/admin-keys.ts';
import { registerKillswitchRoutes } from './routes/killswitch.ts';
import { registerProbeRoutes } from './routes/probes.ts';
import { registerV1Routes } from './routes/v1.ts';
import type { AppEnv } from './types.ts';
import { registerUniversalRoutes, type UniversalDeps } from './universal/routes.ts';

export interface AppOptions {
  version: string;
  log: Logger;
  lifecycle: Lifecycle;
  checks?: HealthChecks;
  metrics?: Metrics;
  universal?: UniversalDeps;
  /** Where request spans go (none: tracing off). */
  tracer?: Tracer;
  /** What the dashboard reads besides the API's own parts. */
  dashboard?: Pick<DashboardSources, 'supervisor' | 'localTraffic'>;
}

/** The routes whose requests call a model (the rest answer from memory or the store). */
const MODEL_ROUTES = ['/v1/*', '/api/v2/universal/request'];

/** The Universal Input API as a Hono app, independent of the server that runs it. */
export function createApp(opts: AppOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // Only the requests that call a model: a probe or the dashboard never waits for a turn.
  const paced = turnPacing();
  for (const path of MODEL_ROUTES) app.post(path, paced);
  app.use(requestId());
  app.use(serverSpan(opts.tracer ?? NO_TRACING));
  app.use(accessLog(opts.log));
  const u = opts.universal;
  const operator = u
    ? requireOperator([u.config.adminKey, u.config.metricsToken], () => u.keys.required)
    : async (_c: unknown, next: () => Promise<void>) => next();
  const metrics = opts.metrics;
  if (metrics) {
    app.use(metrics.middleware());
    app.get('/metrics', operator, async (c) =>
      c.body(await metrics.registry.metrics(), 200, {
        'Content-Type': metrics.registry.contentType,
        'Cache-Control': 'no-store',
      }),
    );
  }

  registerProbeRoutes(app, { version: opts.version, lifecycle: opts.lifecycle, checks: opts.checks ?? {} });
  if (u) {
    registerUniversalRoutes(app, u);
    registerV1Routes(app, u);
    registerKillswitchRoutes(app, u.store, u.config.adminKey, operator);
    registerAdminKeyRoutes(app, u.store, u.keys, u.config.adminKey);
    if (opts.dashboard) {
      const sources = { version: opts.version, store: u.store, router: u.router, ...opts.dashboard };
      registerDashboardRoutes(app, sources, u.config.adminKey);
    }
  }

  app.notFound((c) =>
    sendProblem(c, problem(404, 'not_found', `no route for ${c.req.method} ${c.req.path}`)),
  );

  app.onError((err, c) => {
    const id = c.get('requestId');
    if (err instanceof HTTPException && err.status < 500) {
      return sendProblem(c, problem(err.status, 'bad_request', err.message));
    }
    // The full error goes to the log only; the client gets an id to quote, never internal text.
    (c.get('log') ?? opts.log).error('unhandled error', { request_id: id, err: serializeError(err) });
    return sendProblem(c, problem(500, 'internal_error'));
  });

  return app;
}
