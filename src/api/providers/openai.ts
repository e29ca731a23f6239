/** Any OpenAI-compatible endpoint: /chat/completions and /embeddings. */
import {
  type CallContext,
  type ChatRequest,
  type ChatResult,
  type EmbedResult,
  type Provider,
  ProviderError,
  postJson,
} from './types.ts';

export class OpenAiProvider implements Provider {
  readonly name = 'openai';
  readonly #base: string;
  readonly endpoint: string;
  readonly #headers: Record<string, string>;
  constructor(base: string, apiKey: string | undefined) {
    this.#base = base;
    this.endpoint = base;
    this.#headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  }

  async chat(req: ChatRequest, ctx: CallContext): Promise<ChatResult> {
    const body: Record<string, unknown> = {
      model: req.model,
      messages: [
        { role: 'system', content: req.system },
        ...req.context.map((c) => ({ role: 'system', content: `Context: ${c}` })),
        { role: 'user', content: req.input },
      ],
    };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.topP !== undefined) body.top_p = req.topP;
    if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
    const out = (await postJson(`${this.#base}/chat/completions`, body, this.#headers, ctx)) as {
      choices?: { message?: { content?: unknown } }[];
      usage?: { total_tokens?: unknown };
    };
    const text = out.choices?.[0]?.message?.content;
    if (typeof text !== 'string')
      throw new ProviderError('the model server sent an answer without a message', false);
    return { text, tokens: typeof out.usage?.total_tokens === 'number' ? out.usage.total_tokens : null };
  }

  async embed(model: string, input: string, ctx: CallContext): Promise<EmbedResult> {
    const out = (await postJson(`${this.#base}/embeddings`, { model, input }, this.#headers, ctx)) as {
      data?: { embedding?: unknown }[];
      usage?: { total_tokens?: unknown };
    };
    const e = out.data?.[0]?.embedding;
    if (!Array.isArray(e) || !e.every((x) => typeof x === 'number')) {
      throw new ProviderError('the model server sent an answer without an embedding', false);
    }
    return {
      embedding: e as number[],
      tokens: typeof out.usage?.total_tokens === 'number' ? out.usage.total_tokens : null,
    };
  }
}
