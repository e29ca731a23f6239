/** Any OpenAI-compatible endpoint: /chat/completions (whole or streamed as SSE) and /embeddings. */
import { streamJson, type UpstreamHttp } from '../http.ts';
import { SseReader } from '../sse-reader.ts';
import {
  type CallContext,
  type ChatDelta,
  type ChatMessage,
  type ChatRequest,
  type ChatResult,
  type EmbedResult,
  logprobsOf,
  type Provider,
  ProviderError,
  type TokenUsage,
  type ToolCall,
  vectorsOf,
} from '../types.ts';

interface Completion {
  choices?: {
    message?: { content?: unknown; tool_calls?: unknown; refusal?: unknown };
    delta?: { content?: unknown; tool_calls?: unknown; refusal?: unknown };
    finish_reason?: unknown;
    logprobs?: unknown;
  }[];
  usage?: OpenAiUsage | null;
}

const toolCallsOf = (v: unknown): ToolCall[] | undefined =>
  Array.isArray(v) && v.length > 0 ? (v as ToolCall[]) : undefined;
const reasonOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const refusalOf = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

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

/** A message's content as OpenAI takes it: its text, or text and image parts when it shows images. */
function contentOf(m: ChatMessage): string | Record<string, unknown>[] {
  if (!m.images?.length) return m.content;
  return [
    ...(m.content === '' ? [] : [{ type: 'text', text: m.content }]),
    ...m.images.map((i) => ({
      type: 'image_url',
      image_url: { url: i.kind === 'url' ? i.url : `data:${i.mediaType};base64,${i.data}` },
    })),
  ];
}

/** A streamed chat completion: each chunk's deltas; usage and the reason held for the end. */
class CompletionChunks extends SseReader {
  #usage: TokenUsage = NO_USAGE;
  #finishReason: string | undefined;

  protected event(data: string, out: ChatDelta[]): boolean {
    if (data === '[DONE]') {
      out.push({ done: true, usage: this.#usage, finishReason: this.#finishReason });
      return true;
    }
    const part = streamJson<Completion>(data);
    this.#usage = usageOf(part.usage) ?? this.#usage;
    const choice = part.choices?.[0];
    this.#finishReason = reasonOf(choice?.finish_reason) ?? this.#finishReason;
    const piece = choice?.delta?.content;
    if (typeof piece === 'string' && piece !== '') out.push({ text: piece });
    const refusal = refusalOf(choice?.delta?.refusal);
    if (refusal) out.push({ refusal });
    const logprobs = logprobsOf(choice?.logprobs);
    if (logprobs) out.push({ logprobs });
    const calls = toolCallsOf(choice?.delta?.tool_calls);
    if (calls) out.push({ toolCalls: calls });
    return false;
  }
}

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

  /** The request as OpenAI's API takes it: every field the client sent robbie does not act on, as sent. */
  #body(req: ChatRequest): Record<string, unknown> {
    const messages = req.messages.map((m) =>
      m.fields
        ? // An assistant message that only calls tools had no content: it goes on as it came.
          {
            role: m.role,
            content: m.content === '' && m.fields.tool_calls ? null : contentOf(m),
            ...m.fields,
          }
        : { role: m.role, content: contentOf(m) },
    );
    const body: Record<string, unknown> = { ...req.extra, model: req.model, messages };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.topP !== undefined) body.top_p = req.topP;
    if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
    return body;
  }

  async chat(req: ChatRequest, ctx: CallContext): Promise<ChatResult> {
    const url = `${this.#base}/chat/completions`;
    const out = (await this.#http.postJson(url, this.#body(req), this.#headers, ctx)) as Completion;
    const choice = out.choices?.[0];
    const text = choice?.message?.content;
    const toolCalls = toolCallsOf(choice?.message?.tool_calls);
    const refusal = refusalOf(choice?.message?.refusal);
    if (typeof text !== 'string' && !(text == null && (toolCalls || refusal)))
      throw new ProviderError('bad_answer', 'the model server sent an answer without a message');
    return {
      text: typeof text === 'string' ? text : '',
      usage: usageOf(out.usage) ?? NO_USAGE,
      toolCalls,
      finishReason: reasonOf(choice?.finish_reason),
      refusal,
      logprobs: logprobsOf(choice?.logprobs),
    };
  }

  chatStream(req: ChatRequest, ctx: CallContext): AsyncIterable<ChatDelta> {
    const body = { ...this.#body(req), stream: true, stream_options: { include_usage: true } };
    return this.#http.stream(
      `${this.#base}/chat/completions`,
      body,
      this.#headers,
      ctx,
      new CompletionChunks(),
    );
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

  async embed(model: string, inputs: string[], ctx: CallContext): Promise<EmbedResult> {
    const url = `${this.#base}/embeddings`;
    const out = (await this.#http.postJson(url, { model, input: inputs }, this.#headers, ctx)) as {
      data?: { embedding?: unknown; index?: unknown }[];
      usage?: OpenAiUsage;
    };
    // In input order, whatever order the server listed them in.
    const data = Array.isArray(out.data) ? [...out.data] : [];
    if (data.every((d) => typeof d?.index === 'number'))
      data.sort((a, b) => (a.index as number) - (b.index as number));
    const u = usageOf(out.usage);
    return {
      embeddings: vectorsOf(
        data.map((d) => d?.embedding),
        inputs.length,
      ),
      usage: u ? { prompt: u.prompt ?? u.completion, completion: 0 } : NO_USAGE,
    };
  }
}
