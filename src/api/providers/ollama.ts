/** Ollama's native API: /api/chat (whole or streamed as NDJSON) and /api/embed. */
import type { UpstreamHttp } from './http.ts';
import {
  type CallContext,
  type ChatDelta,
  type ChatRequest,
  type ChatResult,
  type EmbedResult,
  type Provider,
  ProviderError,
  type TokenUsage,
} from './types.ts';

interface OllamaChat {
  message?: { content?: unknown };
  eval_count?: unknown;
  prompt_eval_count?: unknown;
  done?: unknown;
  error?: unknown;
}

/** Ollama's counts: `prompt_eval_count` read, `eval_count` generated. */
function usageOf(out: OllamaChat): TokenUsage {
  return {
    prompt: typeof out.prompt_eval_count === 'number' ? out.prompt_eval_count : null,
    completion: typeof out.eval_count === 'number' ? out.eval_count : null,
  };
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

  #body(req: ChatRequest, stream: boolean) {
    const options: Record<string, number> = {};
    if (req.temperature !== undefined) options.temperature = req.temperature;
    if (req.topP !== undefined) options.top_p = req.topP;
    if (req.maxTokens !== undefined) options.num_predict = req.maxTokens;
    return { model: req.model, stream, options, messages: req.messages };
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
    return { text, usage: usageOf(out) };
  }

  async *chatStream(req: ChatRequest, ctx: CallContext): AsyncGenerator<ChatDelta> {
    const res = await this.#http.post(`${this.#base}/api/chat`, this.#body(req, true), {}, ctx);
    let rest = '';
    const lines = function* (text: string): Generator<OllamaChat> {
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        try {
          yield JSON.parse(line) as OllamaChat;
        } catch {
          throw new ProviderError('bad_answer', 'the model server sent an unreadable stream');
        }
      }
    };
    for await (const chunk of this.#http.streamText(res, ctx.signal)) {
      const text = rest + chunk;
      const end = text.lastIndexOf('\n');
      rest = text.slice(end + 1);
      for (const part of lines(text.slice(0, end + 1))) {
        if (typeof part.error === 'string')
          throw new ProviderError('broken_off', 'the model server reported an error mid-answer');
        const piece = part.message?.content;
        if (typeof piece === 'string' && piece !== '') yield { text: piece };
        if (part.done === true) {
          yield { done: true, usage: usageOf(part) };
          return;
        }
      }
    }
    throw new ProviderError('broken_off', 'the model server ended its stream without finishing');
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

  async embed(model: string, input: string, ctx: CallContext): Promise<EmbedResult> {
    const out = (await this.#http.postJson(`${this.#base}/api/embed`, { model, input }, {}, ctx)) as {
      embeddings?: unknown;
      prompt_eval_count?: unknown;
    };
    const first = Array.isArray(out.embeddings) ? out.embeddings[0] : undefined;
    if (!Array.isArray(first) || !first.every((x) => typeof x === 'number')) {
      throw new ProviderError('bad_answer', 'the model server sent an answer without an embedding');
    }
    return {
      embedding: first as number[],
      usage: {
        prompt: typeof out.prompt_eval_count === 'number' ? out.prompt_eval_count : null,
        completion: 0,
      },
    };
  }
}
