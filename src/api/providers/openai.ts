/** Any OpenAI-compatible endpoint: /chat/completions (whole or streamed as SSE) and /embeddings. */
import { createParser } from 'eventsource-parser';
import {
  type CallContext,
  type ChatDelta,
  type ChatRequest,
  type ChatResult,
  type EmbedResult,
  type Provider,
  ProviderError,
  post,
  postJson,
  streamText,
} from './types.ts';

interface Completion {
  choices?: { message?: { content?: unknown }; delta?: { content?: unknown } }[];
  usage?: { total_tokens?: unknown } | null;
}

function totalTokens(out: Completion): number | null {
  return typeof out.usage?.total_tokens === 'number' ? out.usage.total_tokens : null;
}

export class OpenAiProvider implements Provider {
  readonly name: string;
  readonly #base: string;
  readonly endpoint: string;
  readonly #headers: Record<string, string>;
  constructor(base: string, apiKey: string | undefined, name = 'openai') {
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
    const out = (await postJson(url, this.#body(req), this.#headers, ctx)) as Completion;
    const text = out.choices?.[0]?.message?.content;
    if (typeof text !== 'string')
      throw new ProviderError('bad_answer', 'the model server sent an answer without a message');
    return { text, tokens: totalTokens(out) };
  }

  async *chatStream(req: ChatRequest, ctx: CallContext): AsyncGenerator<ChatDelta> {
    const body = { ...this.#body(req), stream: true, stream_options: { include_usage: true } };
    const res = await post(`${this.#base}/chat/completions`, body, this.#headers, ctx);
    const events: string[] = [];
    const parser = createParser({ onEvent: (e) => events.push(e.data) });
    let tokens: number | null = null;
    for await (const chunk of streamText(res, ctx.signal)) {
      parser.feed(chunk);
      for (const data of events.splice(0)) {
        if (data === '[DONE]') {
          yield { done: true, tokens };
          return;
        }
        let part: Completion;
        try {
          part = JSON.parse(data) as Completion;
        } catch {
          throw new ProviderError('bad_answer', 'the model server sent an unreadable stream');
        }
        tokens = totalTokens(part) ?? tokens;
        const piece = part.choices?.[0]?.delta?.content;
        if (typeof piece === 'string' && piece !== '') yield { text: piece };
      }
    }
    throw new ProviderError('broken_off', 'the model server ended its stream without finishing');
  }

  async embed(model: string, input: string, ctx: CallContext): Promise<EmbedResult> {
    const url = `${this.#base}/embeddings`;
    const out = (await postJson(url, { model, input }, this.#headers, ctx)) as {
      data?: { embedding?: unknown }[];
      usage?: { total_tokens?: unknown };
    };
    const e = out.data?.[0]?.embedding;
    if (!Array.isArray(e) || !e.every((x) => typeof x === 'number')) {
      throw new ProviderError('bad_answer', 'the model server sent an answer without an embedding');
    }
    return {
      embedding: e as number[],
      tokens: typeof out.usage?.total_tokens === 'number' ? out.usage.total_tokens : null,
    };
  }
}
