/** POST /api/v2/universal/request, GET /api/v2/universal/health and /stats. */
import type { Hono } from 'hono';
import type { ApiConfig } from '../../config/api-config.ts';
import type { Store } from '../../storage/types.ts';
import { requireApiKey } from '../middleware/auth.ts';
import { jsonBody } from '../middleware/json-body.ts';
import type { ModelRouter } from '../providers/model-router.ts';
import { childTraceparent } from '../traceparent.ts';
import type { AppEnv } from '../types.ts';
import type { UniversalPipeline } from '../universal/pipeline.ts';
import { parseUniversalRequest } from '../universal/request-schema.ts';

export interface UniversalDeps {
  config: ApiConfig;
  pipeline: UniversalPipeline;
  store: Store;
  router: ModelRouter;
}

export function registerUniversalRoutes(app: Hono<AppEnv>, deps: UniversalDeps): void {
  const { config, pipeline, store, router } = deps;
  app.use('/api/v2/universal/*', requireApiKey(config.apiKeys));
  const [onlyJson, withinLimit] = jsonBody(config.maxBodyBytes);

  app.post('/api/v2/universal/request', onlyJson, withinLimit, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json(
        { error: 'bad_json', reason: 'the body is not valid JSON', request_id: c.get('requestId') },
        400,
      );
    }
    const parsed = parseUniversalRequest(body, c.get('requestId'));
    if (!parsed.ok) {
      return c.json(
        {
          error: 'validation_error',
          // FastAPI's shape (loc, msg) for the original clients, and plain field/reason.
          detail: parsed.errors.map((e) => ({
            field: e.field,
            reason: e.reason,
            loc: ['body', ...e.field.split('.')],
            msg: e.reason,
          })),
          request_id: c.get('requestId'),
        },
        422,
      );
    }
    const trace = childTraceparent(c.req.header('traceparent'));
    const log = c
      .get('log')
      .child({ universal_request_id: parsed.value.request_id, trace_id: trace.traceId });
    const result = await pipeline.handle(parsed.value, log, trace.traceparent);
    return c.json(result.body as object, result.status as 200, result.headers ?? {});
  });

  app.get('/api/v2/universal/health', async (c) => {
    let killswitchActive: boolean | null = null;
    try {
      killswitchActive = (await store.killswitch()).is_active;
    } catch {
      killswitchActive = null;
    }
    const database = await store.checks().database?.();
    const circuit = router.circuit;
    const degraded = database?.status !== 'up' || circuit === 'open' || killswitchActive === null;
    return c.json(
      {
        status: degraded ? 'degraded' : 'healthy',
        killswitch_active: killswitchActive,
        services: {
          gatekeeper: 'operational',
          ai_router: circuit === 'closed' ? 'operational' : circuit === 'open' ? 'unavailable' : 'recovering',
          logger: database?.status === 'up' ? 'operational' : 'degraded (writes go to the local outbox)',
          vector_search: 'not provided',
        },
        timestamp: new Date().toISOString(),
      },
      200,
      { 'Cache-Control': 'no-store' },
    );
  });

  app.get('/api/v2/universal/stats', async (c) => {
    const out: Record<string, unknown> = { timestamp: new Date().toISOString() };
    const problems: string[] = [];
    const [blocks, killswitch, counts] = await Promise.allSettled([
      store.recentBlocks(10),
      store.killswitch(),
      store.stats(Date.now() - 86_400_000),
    ]);
    if (blocks.status === 'fulfilled') out.recent_blocks = blocks.value;
    else problems.push('recent blocks');
    if (killswitch.status === 'fulfilled') out.killswitch_status = killswitch.value;
    else problems.push('killswitch');
    if (counts.status === 'fulfilled') out.counts_24h = counts.value;
    else problems.push('counts');
    if (problems.length > 0) {
      // What the database could not give is said so, not hidden behind an empty list.
      out.degraded = true;
      out.unavailable = problems;
      out.reason = 'the database is unreachable; showing what is available';
    }
    return c.json(out);
  });
}
