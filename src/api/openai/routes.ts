/**
 * The OpenAI-compatible API: POST /v1/chat/completions (whole or `stream: true`), POST
 * /v1/responses (text), POST /v1/embeddings, GET /v1/models — through the same pipeline as the universal route (auth,
 * killswitch, gatekeeper, rate limit, recording, redaction, idempotency by `Idempotency-Key`,
 * metrics, tracing), with OpenAI's shapes and errors.
 *
 * A request's `model` is a service (`chat`, `code`, `analysis`, `embedding`: each provider's model
 * for it, in chain order), `provider/model`, or a model any provider serves (GET /v1/models lists
 * what they are known to serve); a name no provider serves is 404.
 */
import type { Hono } from 'hono';
import { sendJson } from '../answer.ts';
import { jsonBody } from '../middleware/json-body.ts';
import type { GatewayRequest } from '../pipeline/outcome.ts';
import { fingerprintOf } from '../pipeline/pipeline.ts';
import { modelOf } from '../providers/model-router.ts';
import { CHAT_SERVICES, conversationRequest, type V1Admission, type V1Deps } from '../routes/v1.ts';
import { sendAnswer } from '../sse.ts';
import type { AppEnv } from '../types.ts';
import { chunkFrames, OpenAiFormat } from './format.ts';
import { parseChatCompletion, parseEmbedding } from './request-schema.ts';
import { parseResponses, ResponsesFormat, responseFrames } from './responses.ts';

const SOURCE = 'openai';

export function registerOpenAiRoutes(app: Hono<AppEnv>, deps: V1Deps, v1: V1Admission): void {
  const { config, pipeline, router } = deps;
  const { admit, logFor, unknownModel } = v1;
  const [onlyJson, withinLimit] = jsonBody(config.maxBodyBytes);

  app.post('/v1/chat/completions', onlyJson, withinLimit, async (c) => {
    const admitted = await admit(c, parseChatCompletion, CHAT_SERVICES, SOURCE);
    if (admitted instanceof Response) return admitted;
    const { body, route, base } = admitted;
    const req = conversationRequest(base, route, body, SOURCE, { format: 'openai', route: 'chat', body });
    const log = logFor(c, req);
    const out = await pipeline.handle(req, new OpenAiFormat('chat'), log);
    const frames = (m: string) => chunkFrames(req, m, body.includeUsage);
    return sendAnswer(c, out, body.stream, frames, modelOf(route), {
      writeTimeoutMs: config.streamWriteTimeoutMs,
      log,
    });
  });

  app.post('/v1/responses', onlyJson, withinLimit, async (c) => {
    const admitted = await admit(c, parseResponses, CHAT_SERVICES, SOURCE);
    if (admitted instanceof Response) return admitted;
    const { body, route, base } = admitted;
    const req = conversationRequest(base, route, body, SOURCE, {
      format: 'openai',
      route: 'responses',
      body,
    });
    const log = logFor(c, req);
    const out = await pipeline.handle(req, new ResponsesFormat(body.metadata), log);
    const frames = (m: string) => responseFrames(req, m, body.metadata);
    return sendAnswer(c, out, body.stream, frames, modelOf(route), {
      writeTimeoutMs: config.streamWriteTimeoutMs,
      log,
    });
  });

  app.post('/v1/embeddings', onlyJson, withinLimit, async (c) => {
    const admitted = await admit(c, parseEmbedding, ['embedding'], SOURCE);
    if (admitted instanceof Response) return admitted;
    const { body, route, base } = admitted;
    const req: GatewayRequest = {
      ...base,
      route,
      userId: body.user ?? SOURCE,
      input: body.input.join('\n'),
      model: { input: body.input.join('\n'), inputs: body.input, context: [], source: base.source },
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
