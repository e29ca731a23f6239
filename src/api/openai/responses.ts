/**
 * OpenAI's Responses API for text (`POST /v1/responses`, whole or streamed), mapped onto the chat
 * providers: `instructions` a system message, `input` (a string, or messages of text parts) the
 * conversation; the answer a `response` with one `message` output of `output_text`, or streamed
 * as `response.created` … `response.output_text.delta` … `response.completed`. What it does not
 * serve (tools, a `previous_response_id`, formats other than text, non-text input) is a 400 naming
 * the field.
 */

import { servedHeaders } from '../answer.ts';
import type { FieldProblem } from '../errors.ts';
import {
  type Answer,
  type AnswerFormat,
  type GatewayRequest,
  type Outcome,
  type Reply,
  refusalReply,
  robbieOf,
  spokenText,
} from '../pipeline/outcome.ts';
import type { ChatMessage } from '../providers/types.ts';
import { isObject, modelField, numberField, type Parsed } from '../request-fields.ts';
import type { SseMessage, StreamFrames } from '../sse.ts';
import { unstorable } from '../universal/request-schema.ts';

export interface ResponsesRequest {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  user?: string;
  metadata: Record<string, unknown> | null;
}

/** Fields taken; `store` and `metadata` are echoed, nothing is kept to be retrieved later. */
const FIELDS = new Set([
  'model',
  'input',
  'instructions',
  'stream',
  'temperature',
  'top_p',
  'max_output_tokens',
  'user',
  'metadata',
  'store',
  'text',
]);
const ROLES = new Set(['user', 'assistant', 'system', 'developer']);
const MAX_TOTAL = 400_000;

/** One input item's text: a string, or `input_text` / `output_text` parts. */
function itemText(content: unknown, field: string, errors: FieldProblem[]): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) {
    errors.push({ field, reason: 'must be a string or an array of text parts' });
    return undefined;
  }
  const texts: string[] = [];
  for (const [i, part] of content.entries()) {
    if (
      !isObject(part) ||
      (part.type !== 'input_text' && part.type !== 'output_text') ||
      typeof part.text !== 'string'
    ) {
      errors.push({
        field: `${field}[${i}]`,
        reason: 'only text parts (input_text, output_text) are served here',
      });
      return undefined;
    }
    texts.push(part.text);
  }
  return texts.join('\n');
}

export function parseResponses(body: unknown): Parsed<ResponsesRequest> {
  if (!isObject(body)) return { ok: false, errors: [{ field: '(body)', reason: 'must be a JSON object' }] };
  const errors: FieldProblem[] = unstorable(body);
  if (errors.length > 0) return { ok: false, errors };
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key))
      errors.push({ field: key, reason: 'is not served on /v1/responses (use /v1/chat/completions)' });
  }
  const model = modelField(body, errors);
  const messages: ChatMessage[] = [];
  if (body.instructions !== undefined && body.instructions !== null) {
    if (typeof body.instructions !== 'string')
      errors.push({ field: 'instructions', reason: 'must be a string' });
    else if (body.instructions !== '') messages.push({ role: 'system', content: body.instructions });
  }
  if (typeof body.input === 'string' && body.input !== '')
    messages.push({ role: 'user', content: body.input });
  else if (Array.isArray(body.input) && body.input.length > 0) {
    for (const [i, item] of body.input.entries()) {
      const field = `input[${i}]`;
      if (
        !isObject(item) ||
        (item.type !== undefined && item.type !== 'message') ||
        !ROLES.has(String(item.role))
      ) {
        errors.push({ field, reason: 'only messages ({role, content}) are served here' });
        continue;
      }
      const text = itemText(item.content, `${field}.content`, errors);
      if (text !== undefined) messages.push({ role: item.role as ChatMessage['role'], content: text });
    }
  } else errors.push({ field: 'input', reason: 'is required: a string or an array of messages' });
  if (messages.reduce((n, m) => n + m.content.length, 0) > MAX_TOTAL)
    errors.push({ field: 'input', reason: `must hold at most ${MAX_TOTAL} characters in all` });
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    errors.push({ field: 'stream', reason: 'must be true or false' });
  const format = isObject(body.text) ? body.text.format : undefined;
  if (body.text !== undefined && !(format === undefined || (isObject(format) && format.type === 'text')))
    errors.push({ field: 'text.format', reason: 'only text is served on /v1/responses' });
  const temperature = numberField(body, 'temperature', 0, 2, errors);
  const topP = numberField(body, 'top_p', 0, 1, errors);
  const maxTokens = numberField(body, 'max_output_tokens', 1, 1_000_000, errors, true);
  const user = body.user;
  if (user !== undefined && user !== null && (typeof user !== 'string' || user.length > 255))
    errors.push({ field: 'user', reason: 'must be a string of at most 255 characters' });
  if (body.metadata !== undefined && body.metadata !== null && !isObject(body.metadata))
    errors.push({ field: 'metadata', reason: 'must be an object' });
  if (errors.length > 0) return { ok: false, errors };
  const value: ResponsesRequest = {
    model,
    messages,
    stream: body.stream === true,
    metadata: isObject(body.metadata) ? body.metadata : null,
  };
  if (temperature !== undefined) value.temperature = temperature;
  if (topP !== undefined) value.topP = topP;
  if (maxTokens !== undefined) value.maxTokens = maxTokens;
  if (typeof user === 'string' && user !== '') value.user = user;
  return { ok: true, value };
}

const responseId = (req: GatewayRequest): string => `resp_${req.id}`;
const messageId = (req: GatewayRequest): string => `msg_${req.id}`;

function usageOf(a: Answer) {
  const input = a.usage?.prompt ?? 0;
  const output = a.usage?.completion ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}

/** A `response` object: its status, output and usage (none yet while streaming begins). */
function responseObject(
  req: GatewayRequest,
  model: string,
  metadata: Record<string, unknown> | null,
  status: 'in_progress' | 'completed' | 'incomplete',
  output: object[],
  usage: object | null,
  extra: object = {},
) {
  return {
    id: responseId(req),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    model,
    output,
    parallel_tool_calls: false,
    tool_choice: 'none',
    tools: [],
    metadata: metadata ?? {},
    usage,
    ...extra,
  };
}

const outputMessage = (req: GatewayRequest, text: string, status: 'in_progress' | 'completed') => ({
  type: 'message',
  id: messageId(req),
  status,
  role: 'assistant',
  content: status === 'completed' ? [{ type: 'output_text', text, annotations: [] }] : [],
});

export class ResponsesFormat implements AnswerFormat {
  readonly name = 'openai';
  readonly #metadata: Record<string, unknown> | null;

  constructor(metadata: Record<string, unknown> | null) {
    this.#metadata = metadata;
  }

  reply(req: GatewayRequest, outcome: Outcome, _elapsedMs: number): Reply {
    if (outcome.kind !== 'answered') return refusalReply(req, outcome, 'openai');
    const a = outcome.answer;
    const cut = a.stream === 'cut' || a.stream === 'broken' || a.finishReason === 'length';
    return {
      status: 200,
      body: responseObject(
        req,
        a.model,
        this.#metadata,
        cut ? 'incomplete' : 'completed',
        [outputMessage(req, spokenText(a), 'completed')],
        usageOf(a),
        {
          robbie: robbieOf(req, outcome),
        },
      ),
      headers: servedHeaders(a),
    };
  }
}

interface ResponseBody {
  model?: string;
  output?: { content?: { text?: string }[] }[];
}

/** The events of a streamed response, numbered in order. */
export function responseFrames(
  req: GatewayRequest,
  model: string,
  metadata: Record<string, unknown> | null,
): StreamFrames & { whole(reply: Reply): SseMessage[] } {
  let sequence = 0;
  let text = '';
  const item = { item_id: messageId(req), output_index: 0, content_index: 0 };
  const event = (type: string, data: object): SseMessage => ({
    event: type,
    data: JSON.stringify({ type, sequence_number: sequence++, ...data }),
  });
  const start = (m: string): SseMessage[] => {
    const response = responseObject(req, m, metadata, 'in_progress', [], null);
    return [
      event('response.created', { response }),
      event('response.in_progress', { response }),
      event('response.output_item.added', { output_index: 0, item: outputMessage(req, '', 'in_progress') }),
      event('response.content_part.added', {
        ...item,
        part: { type: 'output_text', text: '', annotations: [] },
      }),
    ];
  };
  const delta = (t: string): SseMessage[] => {
    text += t;
    return [event('response.output_text.delta', { ...item, delta: t, logprobs: [] })];
  };
  const finish = (body: object): SseMessage[] => [
    event('response.output_text.done', { ...item, text, logprobs: [] }),
    event('response.content_part.done', { ...item, part: { type: 'output_text', text, annotations: [] } }),
    event('response.output_item.done', { output_index: 0, item: outputMessage(req, text, 'completed') }),
    event('response.completed', { response: body }),
  ];
  return {
    start: () => start(model),
    piece: delta,
    // No tools are offered on this route: a model that calls one anyway is not passed on.
    toolCalls: () => [],
    end: (reply) => finish(reply.body as object),
    broken: (reason) => [
      event('error', { code: 'model_unavailable', message: reason, param: null }),
      event('response.failed', {
        response: {
          ...responseObject(req, model, metadata, 'in_progress', [], null),
          status: 'failed',
          error: { code: 'server_error', message: reason },
        },
      }),
    ],
    failed: (reply) => [{ event: 'error', data: JSON.stringify(reply.body) }],
    /** A whole response (a replay, a cache hit) sent as its events. */
    whole(reply) {
      const body = reply.body as ResponseBody;
      const all = (body.output ?? [])
        .flatMap((o) => o.content ?? [])
        .map((c) => c.text ?? '')
        .join('');
      return [...start(body.model ?? model), ...delta(all), ...finish(reply.body as object)];
    },
  };
}
