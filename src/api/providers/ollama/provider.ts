/** Ollama's native API: /api/chat (whole or streamed as NDJSON) and /api/embed. */
import { reportedMidAnswer, type StreamReader, streamJson, type UpstreamHttp } from '../http.ts';
import {
  type CallContext,
  type ChatDelta,
  type ChatRequest,
  type ChatResult,
  cannotTake,
  type EmbedResult,
  type Provider,
  ProviderError,
  type TokenUsage,
  type ToolCall,
  vectorsOf,
} from '../types.ts';

interface OllamaChat {
  message?: { content?: unknown; tool_calls?: unknown };
  eval_count?: unknown;
  prompt_eval_count?: unknown;
  done?: unknown;
  done_reason?: unknown;
  error?: unknown;
}

/** Ollama's tool calls (`{function: {name, arguments: {…}}}`) in OpenAI's shape, numbered from `first`. */
function toolCallsOf(v: unknown, first = 0): ToolCall[] | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  return v.map((c, i) => {
    const f = ((c as { function?: { name?: unknown; arguments?: unknown } }).function ?? {}) as {
      name?: unknown;
      arguments?: unknown;
    };
    return {
      index: first + i,
      id: `call_${first + i}`,
      type: 'function',
      function: {
        name: typeof f.name === 'string' ? f.name : '',
        arguments: typeof f.arguments === 'string' ? f.arguments : JSON.stringify(f.arguments ?? {}),
      },
    };
  });
}

/** An OpenAI tool call's arguments (a JSON string) as the object Ollama takes. */
function argumentsOf(call: unknown): unknown {
  const args = (call as { function?: { arguments?: unknown } }).function?.arguments;
  if (typeof args !== 'string') return args ?? {};
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

/** Why the model stopped, in OpenAI's words. */
function finishOf(out: OllamaChat, calledTools: boolean): string | undefined {
  if (calledTools) return 'tool_calls';
  return typeof out.done_reason === 'string' ? out.done_reason : undefined;
}

/** Ollama's counts: `prompt_eval_count` read, `eval_count` generated. */
function usageOf(out: OllamaChat): TokenUsage {
  return {
    prompt: typeof out.prompt_eval_count === 'number' ? out.prompt_eval_count : null,
    completion: typeof out.eval_count === 'number' ? out.eval_count : null,
  };
}

/** A streamed `/api/chat` answer: one JSON object a line (NDJSON), the last one `done`. */
class ChatLines implements StreamReader {
  /** The line begun and not yet ended. */
  #rest = '';
  /** Tool calls so far: the index of the next one. */
  #calls = 0;

  read(chunk: string): ChatDelta[] {
    const text = this.#rest + chunk;
    const end = text.lastIndexOf('\n');
    this.#rest = text.slice(end + 1);
    const out: ChatDelta[] = [];
    for (const line of text.slice(0, end + 1).split('\n')) {
      if (line.trim() === '') continue;
      const part = streamJson<OllamaChat>(line);
      if (typeof part.error === 'string') throw reportedMidAnswer();
      const piece = part.message?.content;
      if (typeof piece === 'string' && piece !== '') out.push({ text: piece });
      const toolCalls = toolCallsOf(part.message?.tool_calls, this.#calls);
      if (toolCalls) {
        this.#calls += toolCalls.length;
        out.push({ toolCalls });
      }
      if (part.done === true) {
        out.push({ done: true, usage: usageOf(part), finishReason: finishOf(part, this.#calls > 0) });
        return out;
      }
    }
    return out;
  }
}

export class OllamaProvider implements Provider {
  readonly name: string;
  readonly #http: UpstreamHttp;
  readonly #base: string;
  readonly endpoint: string;
  constructor(http: UpstreamHttp, base: string, name = 'ollama') {
    this.#http = http;
    this.name = name;
    this.#base = base;
    this.endpoint = base;
  }

  /**
   * The request in Ollama's terms: OpenAI's `tools`, `seed`, `stop` and `response_format` (JSON or
   * a JSON schema) translated, the messages' tool calls and results too; any other field refused.
   */
  #body(req: ChatRequest, stream: boolean) {
    const options: Record<string, unknown> = {};
    if (req.temperature !== undefined) options.temperature = req.temperature;
    if (req.topP !== undefined) options.top_p = req.topP;
    if (req.maxTokens !== undefined) options.num_predict = req.maxTokens;
    const body: Record<string, unknown> = { model: req.model, stream, options };
    for (const [field, value] of Object.entries(req.extra ?? {})) {
      if (value === null || value === undefined) continue;
      if (field === 'tools') body.tools = value;
      else if (field === 'tool_choice' && value === 'auto') continue;
      else if (field === 'parallel_tool_calls' && value === true) continue;
      else if (field === 'seed' || field === 'stop') options[field] = value;
      else if (field === 'response_format') {
        const f = value as { type?: unknown; json_schema?: { schema?: unknown } };
        if (f.type === 'json_object') body.format = 'json';
        else if (f.type === 'json_schema' && f.json_schema?.schema) body.format = f.json_schema.schema;
        else if (f.type !== 'text') throw cannotTake(this.name, 'response_format');
      } else throw cannotTake(this.name, field);
    }
    body.messages = req.messages.map((m) => {
      const out: Record<string, unknown> = { role: m.role, content: m.content };
      // Ollama takes a message's images as base64, and fetches nothing itself.
      if (m.images?.length) {
        out.images = m.images.map((i) => {
          if (i.kind === 'url') throw cannotTake(this.name, 'image URLs (send the image itself, base64)');
          return i.data;
        });
      }
      const calls = m.fields?.tool_calls;
      if (Array.isArray(calls)) {
        out.tool_calls = calls.map((c) => ({
          function: {
            name: (c as { function?: { name?: unknown } }).function?.name,
            arguments: argumentsOf(c),
          },
        }));
      }
      return out;
    });
    return body;
  }

  async chat(req: ChatRequest, ctx: CallContext): Promise<ChatResult> {
    const out = (await this.#http.postJson(
      `${this.#base}/api/chat`,
      this.#body(req, false),
      {},
      ctx,
    )) as OllamaChat;
    const text = out.message?.content;
    if (typeof text !== 'string')
      throw new ProviderError('bad_answer', 'the model server sent an answer without a message');
    const toolCalls = toolCallsOf(out.message?.tool_calls);
    return { text, usage: usageOf(out), toolCalls, finishReason: finishOf(out, toolCalls !== undefined) };
  }

  chatStream(req: ChatRequest, ctx: CallContext): AsyncIterable<ChatDelta> {
    return this.#http.stream(`${this.#base}/api/chat`, this.#body(req, true), {}, ctx, new ChatLines());
  }

  /** `/api/tags`: each local model by its name (`llama3.1:8b`). */
  async listModels(signal: AbortSignal): Promise<string[]> {
    const out = (await this.#http.getJson(`${this.#base}/api/tags`, {}, signal)) as { models?: unknown };
    return Array.isArray(out.models)
      ? out.models.flatMap((m) => {
          const name = (m as { name?: unknown; model?: unknown }).name ?? (m as { model?: unknown }).model;
          return typeof name === 'string' ? [name] : [];
        })
      : [];
  }

  async embed(model: string, inputs: string[], ctx: CallContext): Promise<EmbedResult> {
    const out = (await this.#http.postJson(`${this.#base}/api/embed`, { model, input: inputs }, {}, ctx)) as {
      embeddings?: unknown;
      prompt_eval_count?: unknown;
    };
    return {
      embeddings: vectorsOf(out.embeddings, inputs.length),
      usage: {
        prompt: typeof out.prompt_eval_count === 'number' ? out.prompt_eval_count : null,
        completion: 0,
      },
    };
  }
}
