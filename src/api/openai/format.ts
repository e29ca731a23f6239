/**
 * OpenAI's shapes for the pipeline's outcomes: `chat.completion` (and its `chat.completion.chunk`
 * stream), the embeddings `list`, and `{error: {message, type, code, param}}` with the status the
 * SDKs map to their error classes. A killswitch block is 403, a gatekeeper rejection 400
 * `content_policy_violation` (as OpenAI's own moderation), a rate limit 429 with Retry-After.
 * Every answer carries `robbie`: the request id, the gatekeeper status and who served it.
 */

import { servedHeaders } from '../answer.ts';
import { errorBody, problem } from '../errors.ts';
import {
  type Answer,
  type AnswerFormat,
  type GatewayRequest,
  type Outcome,
  type Reply,
  refusalReply,
  robbieOf,
} from '../pipeline/outcome.ts';
import type { ToolCall } from '../providers/types.ts';
import type { SseMessage, StreamFrames } from '../sse.ts';

export type OpenAiKind = 'chat' | 'embedding';

/** OpenAI's usage object from the provider's counts (0 where it did not say). */
function usage(a: Answer) {
  const prompt = a.usage?.prompt ?? 0;
  const completion = a.usage?.completion ?? (a.usage ? 0 : (a.tokens ?? 0));
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Float32 little-endian, base64: what `encoding_format: "base64"` (the SDK's default) asks for. */
export function base64Embedding(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    bytes.writeFloatLE(v, i * 4);
  });
  return bytes.toString('base64');
}

export class OpenAiFormat implements AnswerFormat {
  readonly name = 'openai';
  readonly #kind: OpenAiKind;
  readonly #encoding: 'float' | 'base64';

  constructor(kind: OpenAiKind, encoding: 'float' | 'base64' = 'float') {
    this.#kind = kind;
    this.#encoding = encoding;
  }

  reply(req: GatewayRequest, outcome: Outcome, _elapsedMs: number): Reply {
    if (outcome.kind !== 'answered') return refusalReply(req, outcome, 'openai');
    const a = outcome.answer;
    const robbie = robbieOf(req, outcome);
    if (this.#kind === 'embedding') {
      return {
        status: 200,
        body: {
          object: 'list',
          data: (a.embeddings ?? []).map((values, index) => ({
            object: 'embedding',
            index,
            embedding: this.#encoding === 'base64' ? base64Embedding(values) : values,
          })),
          model: a.model,
          usage: { prompt_tokens: usage(a).total_tokens, total_tokens: usage(a).total_tokens },
          robbie,
        },
        headers: servedHeaders(a),
      };
    }
    return {
      status: 200,
      body: {
        id: completionId(req),
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: a.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              // OpenAI's own answer that only calls tools, or refuses, has no content.
              content: (a.toolCalls || a.refusal) && !a.text ? null : (a.text ?? ''),
              refusal: a.refusal ?? null,
              ...(a.toolCalls ? { tool_calls: a.toolCalls } : {}),
            },
            logprobs: a.logprobs ?? null,
            finish_reason:
              a.stream === 'cut' || a.stream === 'broken' ? 'length' : (a.finishReason ?? 'stop'),
          },
        ],
        usage: usage(a),
        system_fingerprint: null,
        robbie,
      },
      headers: servedHeaders(a),
    };
  }
}

export function completionId(req: GatewayRequest): string {
  return `chatcmpl-${req.id}`;
}

interface CompletionBody {
  id?: string;
  model?: string;
  created?: number;
  choices?: {
    message?: { content?: string | null; tool_calls?: unknown; refusal?: string | null };
    finish_reason?: string;
    logprobs?: unknown;
  }[];
  usage?: unknown;
  robbie?: unknown;
}

/** The `chat.completion.chunk` frames of a stream, ending with `[DONE]`. */
export function chunkFrames(
  req: GatewayRequest,
  model: string,
  includeUsage: boolean,
): StreamFrames & { whole(reply: Reply): SseMessage[] } {
  const id = completionId(req);
  const created = Math.floor(Date.now() / 1000);
  const chunk = (
    delta: object,
    finish: string | null,
    extra: object = {},
    m = model,
    logprobs: unknown = null,
  ): SseMessage => ({
    data: JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model: m,
      choices: [{ index: 0, delta, logprobs, finish_reason: finish }],
      ...extra,
    }),
  });
  // The log probabilities go out with the last chunk: only then is it known that nothing in the
  // answer was redacted (the SDKs add up every chunk's).
  const closing = (body: CompletionBody, m: string): SseMessage[] => {
    const choice = body.choices?.[0];
    const out = [
      chunk({}, choice?.finish_reason ?? 'stop', { robbie: body.robbie }, m, choice?.logprobs ?? null),
    ];
    if (includeUsage) {
      out.push({
        data: JSON.stringify({
          id,
          object: 'chat.completion.chunk',
          created,
          model: m,
          choices: [],
          usage: body.usage,
        }),
      });
    }
    out.push({ data: '[DONE]' });
    return out;
  };
  // A piece's frame is this stream's text around the piece: JSON.stringify of the piece's text
  // alone (0.08 µs a piece, where the whole chunk took 0.59). Made from `chunk` itself, so the two
  // cannot differ.
  const marker = `\u0000piece${id}`;
  const around = chunk({ content: marker }, null).data.split(JSON.stringify(marker));
  const [before, after] = around;
  const piece =
    around.length === 2 && before !== undefined && after !== undefined
      ? (text: string): SseMessage => ({ data: before + JSON.stringify(text) + after })
      : (text: string): SseMessage => chunk({ content: text }, null);
  return {
    start: () => [chunk({ role: 'assistant', content: '' }, null)],
    piece: (text) => [piece(text)],
    refusal: (text) => [chunk({ refusal: text }, null)],
    toolCalls: (calls) => [chunk({ tool_calls: calls }, null)],
    end: (reply) => closing(reply.body as CompletionBody, model),
    broken: (reason) => [
      { data: JSON.stringify(errorBody(problem(503, 'model_unavailable', reason), undefined, 'openai')) },
    ],
    failed: (reply) => [{ data: JSON.stringify(reply.body) }],
    /** A whole answer (a replay, a cache hit) sent as a stream of one piece. */
    whole(reply) {
      const body = reply.body as CompletionBody;
      const m = body.model ?? model;
      const message = body.choices?.[0]?.message;
      const calls = Array.isArray(message?.tool_calls)
        ? (message.tool_calls as ToolCall[]).map((call, index) => ({ index, ...call }))
        : undefined;
      return [
        chunk({ role: 'assistant', content: '' }, null, {}, m),
        chunk({ content: message?.content ?? '' }, null, {}, m),
        ...(message?.refusal ? [chunk({ refusal: message.refusal }, null, {}, m)] : []),
        ...(calls ? [chunk({ tool_calls: calls }, null, {}, m)] : []),
        ...closing(body, m),
      ];
    },
  };
}
