/** Any OpenAI-compatible endpoint: /chat/completions (whole or streamed as SSE) and /embeddings. */
import { createParser } from 'eventsource-parser';
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

interface Completion {
  choices?: { message?: { content?: unknown }; delta?: { content?: unknown } }[];
  usage?: OpenAiUsage | null;
}

interface OpenAiUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  total_tokens?: unknown;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** OpenAI's usage, split; a server that gives a total only has it counted as prompt tokens. */
function usageOf(u: OpenAiUsage | null | undefined): TokenUsage | undefined {
  if (!u) return undefined;
  const prompt = num(u.prompt_tokens);
  const completion = num(u.completion_tokens);
  if (prompt === null && completion === null) {
    const total = num(u.total_tokens);
    return total === null ? undefined : { prompt: total, completion: null };
  }
  return { prompt, completion };
}

const NO_USAGE: TokenUsage = { prompt: null, completion: null };

export class OpenAiProvider implements Provider {
  readonly name: string;
  readonly #http: UpstreamHttp;
  readonly #base: string;
  readonly endpoint: string;
  readonly #headers: Record<string, string>;
  constructor(http: UpstreamHttp, base: string, apiKey: string | undefined, name = 'openai') {
    this.#http = http;
    this.name = name;
    this.#base = base;
    this.endpoint = base;
    this.#headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  }

  #body(req: ChatRequest): Record<string, unknown> {
    const body: Record<string, unknown> = { model: req.model, messages: req.messages };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.topP !== undefined) body.top_p = req.topP;
    if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
    return body;
  }

  async chat(req: ChatRequest, ctx: CallContext): Promise<ChatResult> {
    const url = `${this.#base}/chat/completions`;
    const out = (await this.#http.postJson(url, this.#body(req), this.#headers, ctx)) as Completion;
    const text = out.choices?.[0]?.message?.content;
    if (typeof text !== 'string')
      throw new ProviderError('bad_answer', 'the model server sent an answer without a message');
    return { text, usage: usageOf(out.usage) ?? NO_USAGE };
  }

  async *chatStream(req: ChatRequest, ctx: CallContext): AsyncGenerator<ChatDelta> {
    const body = { ...this.#body(req), stream: true, stream_options: { include_usage: true } };
    const res = await this.#http.post(`${this.#base}/chat/completions`, body, this.#headers, ctx);
    const events: string[] = [];
    const parser = createParser({ onEvent: (e) => events.push(e.data) });
    let usage: TokenUsage = NO_USAGE;
    for await (const chunk of this.#http.streamText(res, ctx.signal)) {
      parser.feed(chunk);
      for (const data of events.splice(0)) {
        if (data === '[DONE]') {
          yield { done: true, usage };
          return;
        }
        let part: Completion;
        try {
          part = JSON.parse(data) as Completion;
        } catch {
          throw new ProviderError('bad_answer', 'the model server sent an unreadable stream');
        }
        usage = usageOf(part.usage) ?? usage;
        const piece = part.choices?.[0]?.delta?.content;
        if (typeof piece === 'string' && piece !== '') yield { text: piece };
      }
    }
    throw new ProviderError('broken_off', 'the model server ended its stream without finishing');
  }

  async listModels(signal: AbortSignal): Promise<string[]> {
    const out = (await this.#http.getJson(`${this.#base}/models`, this.#headers, signal)) as {
      data?: unknown;
    };
    return Array.isArray(out.data)
      ? out.data.flatMap((m) =>
          typeof (m as { id?: unknown }).id === 'string' ? [(m as { id: string }).id] : [],
        )
      : [];
  }

  async embed(model: string, input: string, ctx: CallContext): Promise<EmbedResult> {
    const url = `${this.#base}/embeddings`;
    const out = (await this.#http.postJson(url, { model, input }, this.#headers, ctx)) as {
      data?: { embedding?: unknown }[];
      usage?: OpenAiUsage;
    };
    const e = out.data?.[0]?.embedding;
    if (!Array.isArray(e) || !e.every((x) => typeof x === 'number')) {
      throw new ProviderError('bad_answer', 'the model server sent an answer without an embedding');
    }
    const u = usageOf(out.usage);
    return {
      embedding: e as number[],
      usage: u ? { prompt: u.prompt ?? u.completion, completion: 0 } : NO_USAGE,
    };
  }
}
