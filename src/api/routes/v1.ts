/**
 * What the /v1 routes share — OpenAI's (chat completions, embeddings, models) and Anthropic's
 * (messages): the error shape their SDKs read (by path), the key check, and the admission of a
 * POST: its body read and checked against its schema, its model routed, its id (Idempotency-Key),
 * budget, trace, source and client signal.
 */
import type { Context, Hono } from 'hono';
import { newId } from '../../storage/ids.ts';
import type { KeyRegistry } from '../../tenancy/registry.ts';
import { registerAnthropicRoutes } from '../anthropic/routes.ts';
import { clientGone } from '../client-signal.ts';
import type { ApiConfig, Service } from '../config.ts';
import { budgetOf } from '../deadline.ts';
import { type FieldProblem, problem, sendProblem } from '../errors.ts';
import { authenticate } from '../middleware/auth.ts';
import { registerOpenAiRoutes } from '../openai/routes.ts';
import type { AnswerFormat, GatewayRequest } from '../pipeline/outcome.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import { fingerprintOf } from '../pipeline/pipeline.ts';
import type { ModelRoute, ModelRouter } from '../providers/model-router.ts';
import type { ChatMessage } from '../providers/types.ts';
import type { Parsed } from '../request-fields.ts';
import type { AppEnv } from '../types.ts';
import { REQUEST_ID } from '../universal/request-schema.ts';

export interface V1Deps {
  config: ApiConfig;
  pipeline: Pipeline;
  router: ModelRouter;
  keys: KeyRegistry;
}

const SOURCE_HEADER = /^[\w.:-]{1,50}$/;
export const CHAT_SERVICES: readonly Service[] = ['chat', 'code', 'analysis'];

/** What a /v1 request shares with every other, before its own fields. */
export type V1Base = Omit<GatewayRequest, 'route' | 'input' | 'model' | 'stream' | 'fingerprint' | 'userId'>;

export interface V1Admission {
  /**
   * What every /v1 POST does first: its body read and checked against its schema, its model routed
   * (for one of `services`), and what it shares with the others — or the problem that answers it.
   * `source` names the caller when X-Robbie-Source does not.
   */
  admit<T extends { model: string }>(
    c: Context<AppEnv>,
    parse: (body: unknown) => Parsed<T>,
    services: readonly Service[],
    source: string,
  ): Promise<Response | { body: T; route: ModelRoute; base: V1Base }>;
  /** The request's logger, with the ids every line of it carries. */
  logFor(c: Context<AppEnv>, req: GatewayRequest): ReturnType<AppEnv['Variables']['log']['child']>;
  unknownModel(c: Context<AppEnv>, name: string): Response;
}

/** Anthropic's paths under /v1; the rest are OpenAI's. */
const isAnthropic = (path: string): boolean => path === '/v1/messages' || path.startsWith('/v1/messages/');

export function registerV1Routes(app: Hono<AppEnv>, deps: V1Deps): void {
  app.use('/v1/*', async (c, next) => {
    c.set('errorFormat', isAnthropic(c.req.path) ? 'anthropic' : 'openai');
    await next();
  });
  app.use('/v1/*', authenticate(deps.keys));
  const admission = v1Admission(deps);
  registerOpenAiRoutes(app, deps, admission);
  registerAnthropicRoutes(app, deps, admission);
}

function invalid(c: Context<AppEnv>, errors: FieldProblem[]): Response {
  return sendProblem(
    c,
    problem(400, 'validation_error', 'the request has invalid fields', { detail: errors }),
  );
}

function v1Admission(deps: V1Deps): V1Admission {
  const { config, router } = deps;
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

  const common = (c: Context<AppEnv>, defaultSource: string): Response | V1Base => {
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
    const id = key ?? newId();
    const span = c.get('span');
    const note = { universal_request_id: id, trace_id: span.traceId };
    c.set('logFields', note);
    return {
      principal: c.get('principal'),
      id,
      idempotent: key !== undefined,
      source: source ?? defaultSource,
      sourceMetadata: null,
      budgetMs: budget.ms,
      signal: clientGone(c.req.raw),
      span,
      note,
    };
  };

  return {
    unknownModel,
    async admit(c, parse, services, source) {
      const read = await readBody(c);
      if (read instanceof Response) return read;
      const parsed = parse(read.body);
      if (!parsed.ok) return invalid(c, parsed.errors);
      const route = router.route(parsed.value.model, services);
      if (!route) return unknownModel(c, parsed.value.model);
      const base = common(c, source);
      if (base instanceof Response) return base;
      return { body: parsed.value, route, base };
    },
    logFor: (c, req) => c.get('log').child({ universal_request_id: req.id, trace_id: req.note.trace_id }),
  };
}

/** A conversation as a protocol's schema gives it, in the providers' terms. */
export interface Conversation {
  messages: ChatMessage[];
  stream: boolean;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  user?: string;
  /** Request fields for the provider as sent. */
  extra?: Record<string, unknown>;
  /** What else the model reads: tool definitions, tool-call arguments. */
  alsoRead?: string[];
}

/**
 * The gateway request of a conversation (chat completions, messages, responses): the log keeps the
 * conversation's words; the gatekeeper reviews everything the model will read — every message, not
 * only the last, tool definitions and tool-call arguments. `fingerprint` names the protocol and
 * route the body came to (a retry must come the same way).
 */
export function conversationRequest(
  base: V1Base,
  route: ModelRoute,
  talk: Conversation,
  source: string,
  fingerprint: { format: AnswerFormat['name']; route: string; body: object },
): GatewayRequest {
  const said = talk.messages.map((m) => m.content).join('\n');
  return {
    ...base,
    route,
    userId: talk.user ?? source,
    input: said,
    reviewed: [said, ...(talk.alsoRead ?? [])].join('\n'),
    model: {
      input: talk.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '',
      messages: talk.messages,
      context: [],
      source: base.source,
      temperature: talk.temperature,
      topP: talk.topP,
      maxTokens: talk.maxTokens,
      extra: talk.extra,
    },
    stream: talk.stream,
    fingerprint: base.idempotent
      ? fingerprintOf(fingerprint.format, { route: fingerprint.route, ...fingerprint.body })
      : '',
  };
}
