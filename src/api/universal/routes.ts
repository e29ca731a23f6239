/** POST /api/v2/universal/request (whole, or streamed as server-sent events), GET /api/v2/universal/health and /stats. */
import type { Context, Hono } from 'hono';
import type { Store } from '../../storage/types.ts';
import type { KeyRegistry } from '../../tenancy/registry.ts';
import { sendJson } from '../answer.ts';
import { clientGone } from '../client-signal.ts';
import type { ApiConfig } from '../config.ts';
import { budgetOf } from '../deadline.ts';
import { problem, sendProblem } from '../errors.ts';
import { authenticate } from '../middleware/auth.ts';
import { jsonBody } from '../middleware/json-body.ts';
import type { GatewayRequest } from '../pipeline/outcome.ts';
import { fingerprintOf, type Pipeline } from '../pipeline/pipeline.ts';
import type { ModelRoute, ModelRouter } from '../providers/model-router.ts';
import { sendAnswer } from '../sse.ts';
import type { AppEnv } from '../types.ts';
import { UniversalFormat, universalFrames } from './format.ts';
import { parseUniversalRequest, type UniversalRequest } from './request-schema.ts';

export interface UniversalDeps {
  config: ApiConfig;
  pipeline: Pipeline;
  store: Store;
  router: ModelRouter;
  keys: KeyRegistry;
}

/** A client asks for the answer as it is generated with `Accept: text/event-stream`. */
function wantsStream(c: Context<AppEnv>): boolean {
  return /\btext\/event-stream\b/i.test(c.req.header('accept') ?? '');
}

function toGateway(
  u: UniversalRequest,
  c: Context<AppEnv>,
  idGiven: boolean,
  budgetMs: number,
  route: ModelRoute,
): GatewayRequest {
  const { request_id: _id, ...content } = u;
  const p = u.payload;
  return {
    principal: c.get('principal'),
    id: u.request_id,
    idempotent: idGiven,
    source: u.source,
    sourceMetadata: u.source_metadata,
    route,
    userId: u.user_id,
    input: p.input,
    // The context goes to the model as system messages and the source into its system prompt: the
    // gatekeeper reads them all.
    reviewed: [p.input, ...p.context.map((x) => x.content), u.source].join('\n'),
    model: {
      input: p.input,
      context: p.context.map((x) => x.content),
      source: u.source,
      temperature: p.parameters.temperature,
      topP: p.parameters.top_p,
      maxTokens: p.parameters.max_tokens,
    },
    stream: wantsStream(c) && u.ai_service !== 'embedding',
    fingerprint: idGiven ? fingerprintOf('universal', content) : '',
    budgetMs,
    signal: clientGone(c.req.raw),
    span: c.get('span'),
    note: { universal_request_id: u.request_id, trace_id: c.get('span').traceId },
  };
}

export function registerUniversalRoutes(app: Hono<AppEnv>, deps: UniversalDeps): void {
  const { config, pipeline, store, router, keys } = deps;
  const format = new UniversalFormat(config.mood);
  app.use('/api/v2/universal/*', authenticate(keys));
  const [onlyJson, withinLimit] = jsonBody(config.maxBodyBytes);

  app.post('/api/v2/universal/request', onlyJson, withinLimit, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return sendProblem(c, problem(400, 'bad_json', 'the body is not valid JSON'));
    }
    // X-Request-Id correlates log lines; only the body's request_id makes a request idempotent.
    const parsed = parseUniversalRequest(body);
    if (!parsed.ok) {
      return sendProblem(
        c,
        problem(422, 'validation_error', 'the request has invalid fields', {
          // FastAPI's shape (loc, msg) for the original clients, and plain field/reason.
          detail: parsed.errors.map((e) => ({
            field: e.field,
            reason: e.reason,
            loc: ['body', ...e.field.split('.')],
            msg: e.reason,
          })),
        }),
      );
    }
    const budget = budgetOf(
      { robbie: c.req.header('x-robbie-timeout'), stainless: c.req.header('x-stainless-timeout') },
      config.modelTimeoutMs,
    );
    if ('problem' in budget) return sendProblem(c, budget.problem);
    const u = parsed.value;
    const idGiven = typeof (body as { request_id?: unknown }).request_id === 'string';
    // A service routes to each provider's model for it, unless no provider of the chain has one.
    const route = router.route(u.ai_service, [u.ai_service]);
    if (!route) {
      return sendProblem(
        c,
        problem(404, 'model_not_found', `no provider of the chain serves the ${u.ai_service} service`),
      );
    }
    const req = toGateway(u, c, idGiven, budget.ms, route);
    c.set('logFields', req.note);
    const log = c.get('log').child({ universal_request_id: u.request_id, trace_id: req.span.traceId });
    const out = await pipeline.handle(req, format, log);
    return sendAnswer(c, out, req.stream, () => universalFrames(req), '', {
      writeTimeoutMs: config.streamWriteTimeoutMs,
      log,
    });
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
    return sendJson(
      c,
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
    // The caller's own rows only: another key's blocks name its users and what they sent.
    const keyId = c.get('principal').id;
    const [blocks, killswitch, counts] = await Promise.allSettled([
      store.recentBlocks(10, keyId),
      store.killswitch(),
      store.stats(Date.now() - 86_400_000, keyId),
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
