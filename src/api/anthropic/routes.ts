/**
 * Anthropic's Messages API: `POST /v1/messages`, whole or `stream: true`, for the Anthropic SDK and
 * the coding agents built on it — through the same pipeline as every route (keys by `x-api-key`,
 * killswitch, gatekeeper on every text the model reads, limits, budgets, recording, redaction,
 * idempotency by `Idempotency-Key`, the answer cache, fallback within one deadline), to any
 * provider: the request is put in the providers' terms (anthropic/request-schema.ts) and the answer
 * back in Anthropic's (anthropic/format.ts).
 */
import type { Hono } from 'hono';
import { sendJson } from '../answer.ts';
import { jsonBody } from '../middleware/json-body.ts';
import { modelOf } from '../providers/model-router.ts';
import { CHAT_SERVICES, conversationRequest, type V1Admission, type V1Deps } from '../routes/v1.ts';
import { sendAnswer } from '../sse.ts';
import type { AppEnv } from '../types.ts';
import { AnthropicFormat, messageFrames } from './format.ts';
import { parseMessages, parseTokenCount } from './request-schema.ts';

const SOURCE = 'anthropic';

export function registerAnthropicRoutes(app: Hono<AppEnv>, deps: V1Deps, v1: V1Admission): void {
  const { config, pipeline } = deps;
  const [onlyJson, withinLimit] = jsonBody(config.maxBodyBytes);

  app.post('/v1/messages', onlyJson, withinLimit, async (c) => {
    const admitted = await v1.admit(c, parseMessages, CHAT_SERVICES, SOURCE);
    if (admitted instanceof Response) return admitted;
    const { body, route, base } = admitted;
    const req = conversationRequest(base, route, body, SOURCE, {
      format: 'anthropic',
      route: 'messages',
      body,
    });
    const log = v1.logFor(c, req);
    const out = await pipeline.handle(req, new AnthropicFormat(), log);
    const frames = (m: string) => messageFrames(req, m);
    return sendAnswer(c, out, body.stream, frames, modelOf(route), {
      writeTimeoutMs: config.streamWriteTimeoutMs,
      log,
    });
  });

  // Counted by the first provider of the model that can count (Anthropic's own endpoint); where
  // none can, a 400 says so rather than a guess.
  app.post('/v1/messages/count_tokens', onlyJson, withinLimit, async (c) => {
    const admitted = await v1.admit(c, parseTokenCount, CHAT_SERVICES, SOURCE);
    if (admitted instanceof Response) return admitted;
    const { body, route, base } = admitted;
    const req = conversationRequest(base, route, body, SOURCE, {
      format: 'anthropic',
      route: 'count_tokens',
      body,
    });
    const reply = await pipeline.count(req, new AnthropicFormat(), v1.logFor(c, req));
    return sendJson(c, reply.body as object, reply.status, reply.headers);
  });
}
