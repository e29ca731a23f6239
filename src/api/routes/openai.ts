/**
 * The OpenAI-compatible API: POST /v1/chat/completions (whole or `stream: true`), POST
 * /v1/embeddings, GET /v1/models — through the same pipeline as the universal route (auth,
 * killswitch, gatekeeper, rate limit, recording, redaction, idempotency by `Idempotency-Key`,
 * metrics, tracing), with OpenAI's shapes and errors.
 *
 * A request's `model` is a service (`chat`, `code`, `analysis`, `embedding`: each provider's model
 * for it, in chain order), `provider/model`, or a model any provider serves (GET /v1/models lists
 * what they are known to serve); a name no provider serves is 404.
 */
import { randomUUID } from 'node:crypto';
import type { Context, Hono } from 'hono';
import type { ApiConfig, Service } from '../../config/api-config.ts';
import type { KeyRegistry } from '../../tenancy/registry.ts';
import { sendJson } from '../answer.ts';
import { clientGone } from '../client-signal.ts';
import { budgetOf } from '../deadline.ts';
import { type FieldProblem, problem, sendProblem } from '../errors.ts';
import { authenticate } from '../middleware/auth.ts';
import { jsonBody } from '../middleware/json-body.ts';
import { chunkFrames, OpenAiFormat } from '../openai/format.ts';
import { type Parsed, parseChatCompletion, parseEmbedding } from '../openai/request-schema.ts';
import type { GatewayRequest } from '../pipeline/outcome.ts';
import { fingerprintOf, type Pipeline } from '../pipeline/pipeline.ts';
import { type ModelInput, type ModelRoute, type ModelRouter, modelOf } from '../providers/model-router.ts';
import { sendFrames, sendStream } from '../sse.ts';
import { childTraceparent } from '../traceparent.ts';
import type { AppEnv } from '../types.ts';
import { REQUEST_ID } from '../universal/request-schema.ts';

export interface OpenAiDeps {
  config: ApiConfig;
  pipeline: Pipeline;
  router: ModelRouter;
  keys: KeyRegistry;
}

const SOURCE = 'openai';
const SOURCE_HEADER = /^[\w.:-]{1,50}$/;
const CHAT_SERVICES: readonly Service[] = ['chat', 'code', 'analysis'];

function invalid(c: Context<AppEnv>, errors: FieldProblem[]): Response {
  return sendProblem(
    c,
    problem(400, 'validation_error', 'the request has invalid fields', { detail: errors }),
  );
}

export function registerOpenAiRoutes(app: Hono<AppEnv>, deps: OpenAiDeps): void {
  const { config, pipeline, router, keys } = deps;
  app.use('/v1/*', async (c, next) => {
    c.set('errorFormat', 'openai');
    await next();
  });
  app.use('/v1/*', authenticate(keys));
  const [onlyJson, withinLimit] = jsonBody(config.maxBodyBytes);

  const unknownModel = (c: Context<AppEnv>, name: string) =>
    sendProblem(
      c,
      problem(
        404,
        'model_not_found',
        `the model '${name.slice(0, 100)}' is not served here (GET /v1/models lists them)`,
      ),
    );

  /** Reads the body, or answers the problem with it. */
  const readBody = async (c: Context<AppEnv>): Promise<{ body: unknown } | Response> => {
    try {
      return { body: await c.req.json() };
    } catch {
      return sendProblem(c, problem(400, 'bad_json', 'the body is not valid JSON'));
    }
  };

  /** What every /v1 request shares: its id (Idempotency-Key), budget, trace, source and signal. */
  const common = (
    c: Context<AppEnv>,
  ): Response | Omit<GatewayRequest, 'route' | 'input' | 'model' | 'stream' | 'fingerprint' | 'userId'> => {
    const key = c.req.header('idempotency-key');
    if (key !== undefined && !REQUEST_ID.test(key)) {
      return sendProblem(
        c,
        problem(
          400,
          'bad_request',
          'Idempotency-Key may hold only letters, digits and . _ : - (1 to 128 of them)',
        ),
      );
    }
    const source = c.req.header('x-robbie-source');
    if (source !== undefined && !SOURCE_HEADER.test(source)) {
      return sendProblem(
        c,
        problem(400, 'bad_request', 'X-Robbie-Source may hold only letters, digits and . _ : - (1 to 50)'),
      );
    }
    const budget = budgetOf(
      { robbie: c.req.header('x-robbie-timeout'), stainless: c.req.header('x-stainless-timeout') },
      config.modelTimeoutMs,
    );
    if ('problem' in budget) return sendProblem(c, budget.problem);
    // X-Request-Id correlates log lines; only an Idempotency-Key makes a request idempotent.
    const id = key ?? randomUUID();
    const trace = childTraceparent(c.req.header('traceparent'));
    const note = { universal_request_id: id, trace_id: trace.traceId };
    c.set('logFields', note);
    return {
      principal: c.get('principal'),
      id,
      idempotent: key !== undefined,
      source: source ?? SOURCE,
      sourceMetadata: null,
      budgetMs: budget.ms,
      signal: clientGone(c.req.raw),
      traceparent: trace.traceparent,
      note,
    };
  };

  /**
   * What every /v1 POST does first: its body read and checked against its schema, its model routed
   * (for one of `services`), and what it shares with the others — or the problem that answers it.
   */
  const admit = async <T extends { model: string }>(
    c: Context<AppEnv>,
    parse: (body: unknown) => Parsed<T>,
    services: readonly Service[],
  ): Promise<
    Response | { body: T; route: ModelRoute; base: Exclude<ReturnType<typeof common>, Response> }
  > => {
    const read = await readBody(c);
    if (read instanceof Response) return read;
    const parsed = parse(read.body);
    if (!parsed.ok) return invalid(c, parsed.errors);
    const route = router.route(parsed.value.model, services);
    if (!route) return unknownModel(c, parsed.value.model);
    const base = common(c);
    if (base instanceof Response) return base;
    return { body: parsed.value, route, base };
  };

  /** The request's logger, with the ids every line of it carries. */
  const logFor = (c: Context<AppEnv>, req: GatewayRequest) =>
    c.get('log').child({ universal_request_id: req.id, trace_id: req.note.trace_id });

  app.post('/v1/chat/completions', onlyJson, withinLimit, async (c) => {
    const admitted = await admit(c, parseChatCompletion, CHAT_SERVICES);
    if (admitted instanceof Response) return admitted;
    const { body, route, base } = admitted;
    const model: ModelInput = {
      input: body.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '',
      messages: body.messages,
      context: [],
      source: base.source,
      temperature: body.temperature,
      topP: body.topP,
      maxTokens: body.maxTokens,
      extra: body.extra,
    };
    const said = body.messages.map((m) => m.content).join('\n');
    const req: GatewayRequest = {
      ...base,
      route,
      userId: body.user ?? SOURCE,
      input: said,
      // The gatekeeper reviews everything the model will read: every message, not only the last,
      // tool definitions and tool-call arguments.
      reviewed: [said, ...body.alsoRead].join('\n'),
      model,
      stream: body.stream,
      fingerprint: base.idempotent ? fingerprintOf('openai', { route: 'chat', ...body }) : '',
    };
    const log = logFor(c, req);
    const out = await pipeline.handle(req, new OpenAiFormat('chat'), log);
    const streaming = { writeTimeoutMs: config.streamWriteTimeoutMs, log };
    if (out.kind === 'stream') {
      const frames = chunkFrames(req, out.stream.model, body.includeUsage);
      return sendStream(c, out.stream, frames, { 'X-Robbie-Provider': out.stream.provider }, streaming);
    }
    const r = out.reply;
    if (!body.stream || r.status >= 300) return sendJson(c, r.body as object, r.status, r.headers);
    // A whole answer (replayed, cached) to a client that asked for a stream: one piece.
    return sendFrames(
      c,
      chunkFrames(req, modelOf(route), body.includeUsage).whole(r),
      r.headers ?? {},
      streaming,
    );
  });

  app.post('/v1/embeddings', onlyJson, withinLimit, async (c) => {
    const admitted = await admit(c, parseEmbedding, ['embedding']);
    if (admitted instanceof Response) return admitted;
    const { body, route, base } = admitted;
    const req: GatewayRequest = {
      ...base,
      route,
      userId: body.user ?? SOURCE,
      input: body.input,
      model: { input: body.input, context: [], source: base.source },
      stream: false,
      fingerprint: base.idempotent ? fingerprintOf('openai', { route: 'embeddings', ...body }) : '',
    };
    const out = await pipeline.handle(req, new OpenAiFormat('embedding', body.encoding), logFor(c, req));
    const r = out.kind === 'whole' ? out.reply : await out.stream.recorded;
    return sendJson(c, r.body as object, r.status, r.headers);
  });

  /** Every name a request may give: the services, then what each provider is known to serve. */
  const listed = () => {
    const seen = new Set<string>();
    const data: { id: string; object: 'model'; created: number; owned_by: string }[] = [];
    const add = (id: string, owner: string) => {
      if (seen.has(id)) return;
      seen.add(id);
      data.push({ id, object: 'model', created: 0, owned_by: owner });
    };
    for (const s of ['chat', 'code', 'analysis', 'embedding'] as const) add(s, 'robbie');
    for (const m of router.models()) add(m.model, m.provider);
    return data;
  };

  app.get('/v1/models', (c) => c.json({ object: 'list', data: listed() }));

  // A model's id may hold a slash (`ollama/llama3.1:8b`, `hf.co/org/model`).
  app.get('/v1/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    const known = listed().find((m) => m.id === id);
    if (known) return c.json(known);
    const route = router.route(id, ['chat', 'embedding']);
    if (!route) return unknownModel(c, id);
    return c.json({
      id,
      object: 'model',
      created: 0,
      owned_by: router.chain[route.targets[0]?.link ?? 0]?.provider.name ?? 'robbie',
    });
  });
}
