/** Ollama's native API: /api/chat and /api/embed. */
import {
  type CallContext,
  type ChatRequest,
  type ChatResult,
  type EmbedResult,
  type Provider,
  ProviderError,
  postJson,
} from './types.ts';

export class OllamaProvider implements Provider {
  readonly name = 'ollama';
  readonly #base: string;
  readonly endpoint: string;
  constructor(base: string) {
    this.#base = base;
    this.endpoint = base;
  }

  async chat(req: ChatRequest, ctx: CallContext): Promise<ChatResult> {
    const options: Record<string, number> = {};
    if (req.temperature !== undefined) options.temperature = req.temperature;
    if (req.topP !== undefined) options.top_p = req.topP;
    if (req.maxTokens !== undefined) options.num_predict = req.maxTokens;
    const body = {
      model: req.model,
      stream: false,
      options,
      messages: [
        { role: 'system', content: req.system },
        ...req.context.map((c) => ({ role: 'system', content: `Context: ${c}` })),
        { role: 'user', content: req.input },
      ],
    };
    const out = (await postJson(`${this.#base}/api/chat`, body, {}, ctx)) as {
      message?: { content?: unknown };
      eval_count?: unknown;
      prompt_eval_count?: unknown;
    };
    const text = out.message?.content;
    if (typeof text !== 'string')
      throw new ProviderError('the model server sent an answer without a message', false);
    const tokens =
      (typeof out.eval_count === 'number' ? out.eval_count : 0) +
      (typeof out.prompt_eval_count === 'number' ? out.prompt_eval_count : 0);
    return { text, tokens: tokens || null };
  }

  async embed(model: string, input: string, ctx: CallContext): Promise<EmbedResult> {
    const out = (await postJson(`${this.#base}/api/embed`, { model, input }, {}, ctx)) as {
      embeddings?: unknown;
      prompt_eval_count?: unknown;
    };
    const first = Array.isArray(out.embeddings) ? out.embeddings[0] : undefined;
    if (!Array.isArray(first) || !first.every((x) => typeof x === 'number')) {
      throw new ProviderError('the model server sent an answer without an embedding', false);
    }
    return {
      embedding: first as number[],
      tokens: typeof out.prompt_eval_count === 'number' ? out.prompt_eval_count : null,
    };
  }
}
