/**
 * Anthropic's Messages API as an upstream (`POST /v1/messages`, whole or streamed): the chat
 * request (OpenAI's terms, which every route speaks inside) put in Anthropic's — system messages
 * the `system` prompt, tool calls `tool_use` blocks, tool results `tool_result` blocks, `tools`,
 * `tool_choice`, `stop` and `top_k` their Anthropic names — and the answer back: text, tool calls,
 * why it stopped, usage. Anthropic serves no embeddings.
 */
import { reportedMidAnswer, streamJson, type UpstreamHttp } from '../http.ts';
import { SseReader } from '../sse-reader.ts';
import {
  type CallContext,
  type ChatDelta,
  type ChatMessage,
  type ChatRequest,
  type ChatResult,
  cannotTake,
  type EmbedResult,
  type Provider,
  ProviderError,
  type TokenUsage,
  type ToolCall,
} from '../types.ts';

/** The API version robbie speaks (Anthropic's `anthropic-version` header). */
const API_VERSION = '2023-06-01';
/** What Anthropic's count_tokens takes of a message request. */
const COUNTED_FIELDS = new Set(['model', 'messages', 'system', 'tools', 'tool_choice']);
/** `max_tokens` is required by Anthropic: what a request that sets none may use. */
const DEFAULT_MAX_TOKENS = 4096;

type Block =
  | { type: 'text'; text: string }
  | {
      type: 'image';
      source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };
    }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string };

interface Message {
  role: 'user' | 'assistant';
  content: Block[];
}

interface AnthropicAnswer {
  content?: { type?: unknown; text?: unknown; id?: unknown; name?: unknown; input?: unknown }[];
  stop_reason?: unknown;
  usage?: { input_tokens?: unknown; output_tokens?: unknown };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Why the model stopped, in OpenAI's words. */
function finishOf(reason: unknown): string | undefined {
  if (reason === 'end_turn' || reason === 'stop_sequence') return 'stop';
  if (reason === 'max_tokens') return 'length';
  if (reason === 'tool_use') return 'tool_calls';
  if (reason === 'refusal') return 'content_filter';
  return typeof reason === 'string' ? reason : undefined;
}

function parsedArguments(call: unknown): unknown {
  const args = (call as { function?: { arguments?: unknown } }).function?.arguments;
  if (typeof args !== 'string' || args === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

/** The conversation in Anthropic's shape: system text apart, turns alternating, tool results in user turns. */
function conversationOf(messages: ChatMessage[]): { system: string; messages: Message[] } {
  const system: string[] = [];
  const out: Message[] = [];
  const push = (role: Message['role'], blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = out.at(-1);
    // Anthropic wants turns to alternate: consecutive ones of a role are one turn.
    if (last?.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const m of messages) {
    if (m.role === 'system' || m.role === 'developer') {
      system.push(m.content);
      continue;
    }
    if (m.role === 'tool') {
      const id = m.fields?.tool_call_id;
      push('user', [
        { type: 'tool_result', tool_use_id: typeof id === 'string' ? id : '', content: m.content },
      ]);
      continue;
    }
    const blocks: Block[] = m.content === '' ? [] : [{ type: 'text', text: m.content }];
    for (const i of m.images ?? []) {
      blocks.push({
        type: 'image',
        source:
          i.kind === 'url'
            ? { type: 'url', url: i.url }
            : { type: 'base64', media_type: i.mediaType, data: i.data },
      });
    }
    const calls = m.fields?.tool_calls;
    if (m.role === 'assistant' && Array.isArray(calls)) {
      for (const c of calls) {
        const call = c as { id?: unknown; function?: { name?: unknown } };
        blocks.push({
          type: 'tool_use',
          id: typeof call.id === 'string' ? call.id : '',
          name: typeof call.function?.name === 'string' ? call.function.name : '',
          input: parsedArguments(c),
        });
      }
    }
    push(m.role === 'assistant' ? 'assistant' : 'user', blocks);
  }
  return { system: system.join('\n\n'), messages: out };
}

/** OpenAI's tool_choice in Anthropic's words. */
function toolChoiceOf(v: unknown, parallel: unknown): Record<string, unknown> | undefined {
  const disable = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (v === 'auto' || v === undefined) return parallel === false ? { type: 'auto', ...disable } : undefined;
  if (v === 'required') return { type: 'any', ...disable };
  if (v === 'none') return { type: 'none' };
  const name = (v as { function?: { name?: unknown } } | null)?.function?.name;
  return typeof name === 'string' ? { type: 'tool', name, ...disable } : undefined;
}

interface MessageEvent {
  type?: unknown;
  index?: unknown;
  message?: { usage?: { input_tokens?: unknown } };
  content_block?: { type?: unknown; id?: unknown; name?: unknown };
  delta?: { type?: unknown; text?: unknown; partial_json?: unknown; stop_reason?: unknown };
  usage?: { output_tokens?: unknown };
}

/** A streamed Messages answer: its events as deltas, tool-use blocks as tool calls. */
class MessageEvents extends SseReader {
  readonly #usage: TokenUsage = { prompt: null, completion: null };
  #finishReason: string | undefined;
  /** Anthropic's block index → the tool call's index among the answer's calls. */
  readonly #tools = new Map<number, number>();

  protected event(data: string, out: ChatDelta[]): boolean {
    const e = streamJson<MessageEvent>(data);
    if (e.type === 'message_start') this.#usage.prompt = num(e.message?.usage?.input_tokens);
    else if (e.type === 'content_block_start' && e.content_block?.type === 'tool_use') {
      const index = this.#tools.size;
      this.#tools.set(Number(e.index), index);
      out.push({
        toolCalls: [
          {
            index,
            id: e.content_block.id,
            type: 'function',
            function: { name: e.content_block.name, arguments: '' },
          },
        ],
      });
    } else if (e.type === 'content_block_delta') {
      if (e.delta?.type === 'text_delta' && typeof e.delta.text === 'string' && e.delta.text !== '')
        out.push({ text: e.delta.text });
      else if (e.delta?.type === 'input_json_delta' && typeof e.delta.partial_json === 'string') {
        const index = this.#tools.get(Number(e.index)) ?? 0;
        out.push({ toolCalls: [{ index, function: { arguments: e.delta.partial_json } }] });
      }
    } else if (e.type === 'message_delta') {
      this.#finishReason = finishOf(e.delta?.stop_reason) ?? this.#finishReason;
      this.#usage.completion = num(e.usage?.output_tokens) ?? this.#usage.completion;
    } else if (e.type === 'message_stop') {
      out.push({ done: true, usage: this.#usage, finishReason: this.#finishReason });
      return true;
    } else if (e.type === 'error') {
      throw reportedMidAnswer();
    }
    return false;
  }
}

export class AnthropicProvider implements Provider {
  readonly name: string;
  readonly endpoint: string;
  readonly #http: UpstreamHttp;
  readonly #base: string;
  readonly #headers: Record<string, string>;

  constructor(http: UpstreamHttp, base: string, apiKey: string | undefined, name = 'anthropic') {
    this.#http = http;
    this.name = name;
    this.#base = base;
    this.endpoint = base;
    this.#headers = { 'anthropic-version': API_VERSION, ...(apiKey ? { 'x-api-key': apiKey } : {}) };
  }

  #body(req: ChatRequest, stream: boolean): Record<string, unknown> {
    const { system, messages } = conversationOf(req.messages);
    const body: Record<string, unknown> = {
      model: req.model,
      max_tokens: req.maxTokens ?? DEFAULT_MAX_TOKENS,
      messages,
      ...(system ? { system } : {}),
      ...(stream ? { stream: true } : {}),
    };
    if (req.temperature !== undefined) body.temperature = Math.min(1, req.temperature);
    if (req.topP !== undefined) body.top_p = req.topP;
    const extra = req.extra ?? {};
    for (const [field, value] of Object.entries(extra)) {
      if (value === null || value === undefined) continue;
      if (field === 'tools') {
        body.tools = (
          value as { function?: { name?: unknown; description?: unknown; parameters?: unknown } }[]
        ).map((t) => ({
          name: t.function?.name,
          ...(typeof t.function?.description === 'string' ? { description: t.function.description } : {}),
          input_schema: t.function?.parameters ?? { type: 'object', properties: {} },
        }));
      } else if (field === 'stop') body.stop_sequences = Array.isArray(value) ? value : [value];
      else if (field === 'top_k') body.top_k = value;
      else if (field !== 'tool_choice' && field !== 'parallel_tool_calls') throw cannotTake(this.name, field);
    }
    const choice = toolChoiceOf(extra.tool_choice, extra.parallel_tool_calls);
    if (choice && body.tools) body.tool_choice = choice;
    return body;
  }

  async chat(req: ChatRequest, ctx: CallContext): Promise<ChatResult> {
    const url = `${this.#base}/v1/messages`;
    const out = (await this.#http.postJson(
      url,
      this.#body(req, false),
      this.#headers,
      ctx,
    )) as AnthropicAnswer;
    if (!Array.isArray(out.content))
      throw new ProviderError('bad_answer', 'the model server sent an answer without content');
    const text = out.content
      .flatMap((b) => (b.type === 'text' && typeof b.text === 'string' ? [b.text] : []))
      .join('');
    const toolCalls: ToolCall[] = out.content
      .filter((b) => b.type === 'tool_use')
      .map((b) => ({
        id: b.id,
        type: 'function',
        function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) },
      }));
    return {
      text,
      usage: { prompt: num(out.usage?.input_tokens), completion: num(out.usage?.output_tokens) },
      ...(toolCalls.length > 0 ? { toolCalls } : {}),
      finishReason: finishOf(out.stop_reason),
    };
  }

  /** Anthropic's `POST /v1/messages/count_tokens`: the request's fields it takes, its count back. */
  async countTokens(req: ChatRequest, ctx: CallContext): Promise<number> {
    const whole = this.#body(req, false);
    const body = Object.fromEntries(Object.entries(whole).filter(([field]) => COUNTED_FIELDS.has(field)));
    const url = `${this.#base}/v1/messages/count_tokens`;
    const out = (await this.#http.postJson(url, body, this.#headers, ctx)) as { input_tokens?: unknown };
    const tokens = num(out.input_tokens);
    if (tokens === null) throw new ProviderError('bad_answer', 'the model server sent no token count');
    return tokens;
  }

  chatStream(req: ChatRequest, ctx: CallContext): AsyncIterable<ChatDelta> {
    const url = `${this.#base}/v1/messages`;
    return this.#http.stream(url, this.#body(req, true), this.#headers, ctx, new MessageEvents());
  }

  async embed(): Promise<EmbedResult> {
    throw new ProviderError('rejected', `the provider ${this.name} serves no embeddings`, { status: 400 });
  }

  async listModels(signal: AbortSignal): Promise<string[]> {
    const out = (await this.#http.getJson(`${this.#base}/v1/models?limit=1000`, this.#headers, signal)) as {
      data?: unknown;
    };
    return Array.isArray(out.data)
      ? out.data.flatMap((m) =>
          typeof (m as { id?: unknown }).id === 'string' ? [(m as { id: string }).id] : [],
        )
      : [];
  }
}
