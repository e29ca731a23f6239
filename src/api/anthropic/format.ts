/**
 * Anthropic's shapes for the pipeline's outcomes: a `message` with `text` and `tool_use` content
 * blocks, its stream of events (`message_start`, `content_block_start` / `_delta` / `_stop`,
 * `message_delta`, `message_stop`), and `{type: "error", error: {type, message}}` with the status
 * the SDK maps to its error classes. Every answer carries `robbie`: the request id, the gatekeeper
 * status and who served it.
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
  spokenText,
} from '../pipeline/outcome.ts';
import type { ToolCall } from '../providers/types.ts';
import type { SseMessage, StreamFrames } from '../sse.ts';

/** Why the model stopped, in Anthropic's words. */
function stopReason(a: Answer): string {
  if (a.stream === 'cut' || a.stream === 'broken') return 'max_tokens';
  if (a.finishReason === 'length') return 'max_tokens';
  if (a.finishReason === 'tool_calls' || (a.toolCalls && a.toolCalls.length > 0)) return 'tool_use';
  if (a.finishReason === 'content_filter' || (a.refusal && !a.text)) return 'refusal';
  return 'end_turn';
}

/** A tool call's arguments (a JSON string) as the `input` object Anthropic gives. */
function inputOf(call: ToolCall): unknown {
  const args = (call.function as { arguments?: unknown } | undefined)?.arguments;
  if (typeof args !== 'string' || args === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

function usageOf(a: Answer) {
  return { input_tokens: a.usage?.prompt ?? 0, output_tokens: a.usage?.completion ?? 0 };
}

export function messageId(req: GatewayRequest): string {
  return `msg_${req.id}`;
}

export class AnthropicFormat implements AnswerFormat {
  readonly name = 'anthropic';

  reply(req: GatewayRequest, outcome: Outcome, _elapsedMs: number): Reply {
    if (outcome.kind !== 'answered') return refusalReply(req, outcome, 'anthropic');
    const a = outcome.answer;
    const content: object[] = [];
    const text = spokenText(a);
    if (text) content.push({ type: 'text', text });
    for (const call of a.toolCalls ?? []) {
      content.push({
        type: 'tool_use',
        id: call.id,
        name: (call.function as { name?: unknown } | undefined)?.name,
        input: inputOf(call),
      });
    }
    return {
      status: 200,
      body: {
        id: messageId(req),
        type: 'message',
        role: 'assistant',
        model: a.model,
        content,
        stop_reason: stopReason(a),
        stop_sequence: null,
        usage: usageOf(a),
        robbie: robbieOf(req, outcome),
      },
      headers: servedHeaders(a),
    };
  }
}

interface MessageBody {
  model?: string;
  content?: (
    | { type: 'text'; text: string }
    | { type: 'tool_use'; id: string; name: string; input: unknown }
  )[];
  stop_reason?: string;
  usage?: { output_tokens?: number };
  robbie?: unknown;
}

const event = (type: string, data: object): SseMessage => ({
  event: type,
  data: JSON.stringify({ type, ...data }),
});

/**
 * The events of a streamed message. Content blocks open as their pieces come: text in one block,
 * each tool call (by its index) in its own `tool_use` block, its arguments as `input_json_delta`.
 */
export function messageFrames(
  req: GatewayRequest,
  model: string,
): StreamFrames & { whole(reply: Reply): SseMessage[] } {
  const id = messageId(req);
  /** The block open now (-1: none), what it is, and the next block's index. */
  let open = -1;
  let openKind: string | undefined;
  let next = 0;
  const begin = (kind: string, block: object): SseMessage[] => {
    const out = close();
    open = next++;
    openKind = kind;
    out.push(event('content_block_start', { index: open, content_block: block }));
    return out;
  };
  const close = (): SseMessage[] => {
    if (open === -1) return [];
    const out = [event('content_block_stop', { index: open })];
    open = -1;
    openKind = undefined;
    return out;
  };
  const start = (m: string): SseMessage[] => [
    event('message_start', {
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model: m,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    }),
  ];
  const text = (t: string): SseMessage[] => {
    const out = openKind === 'text' ? [] : begin('text', { type: 'text', text: '' });
    out.push(event('content_block_delta', { index: open, delta: { type: 'text_delta', text: t } }));
    return out;
  };
  const finish = (body: MessageBody): SseMessage[] => [
    ...close(),
    event('message_delta', {
      delta: { stop_reason: body.stop_reason ?? 'end_turn', stop_sequence: null },
      usage: { output_tokens: body.usage?.output_tokens ?? 0 },
      robbie: body.robbie,
    }),
    event('message_stop', {}),
  ];
  return {
    start: () => start(model),
    piece: text,
    toolCalls: (calls) =>
      calls.flatMap((call) => {
        const index = typeof call.index === 'number' ? call.index : 0;
        const fn = (call.function ?? {}) as { name?: unknown; arguments?: unknown };
        const out =
          openKind === `tool:${index}`
            ? []
            : begin(`tool:${index}`, {
                type: 'tool_use',
                id: typeof call.id === 'string' ? call.id : `toolu_${index}`,
                name: typeof fn.name === 'string' ? fn.name : '',
                input: {},
              });
        if (typeof fn.arguments === 'string' && fn.arguments !== '')
          out.push(
            event('content_block_delta', {
              index: open,
              delta: { type: 'input_json_delta', partial_json: fn.arguments },
            }),
          );
        return out;
      }),
    end: (reply) => finish(reply.body as MessageBody),
    broken: (reason) => [
      ...close(),
      {
        event: 'error',
        data: JSON.stringify(errorBody(problem(503, 'model_unavailable', reason), undefined, 'anthropic')),
      },
    ],
    failed: (reply) => [...close(), { event: 'error', data: JSON.stringify(reply.body) }],
    /** A whole message (a replay, a cache hit) sent as its events. */
    whole(reply) {
      const body = reply.body as MessageBody;
      const out = start(body.model ?? model);
      for (const block of body.content ?? []) {
        if (block.type === 'text') out.push(...text(block.text));
        else {
          out.push(
            ...begin(`tool:${block.id}`, { type: 'tool_use', id: block.id, name: block.name, input: {} }),
          );
          out.push(
            event('content_block_delta', {
              index: open,
              delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input ?? {}) },
            }),
          );
        }
      }
      return [...out, ...finish(body)];
    },
  };
}
