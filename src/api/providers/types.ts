/** A model provider: chat completions and embeddings, each with a deadline (AbortSignal). */
export interface ChatRequest {
  model: string;
  system: string;
  input: string;
  context: string[];
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
}

export interface ChatResult {
  text: string;
  tokens: number | null;
}

export interface EmbedResult {
  embedding: number[];
  tokens: number | null;
}

export interface CallContext {
  signal: AbortSignal;
  /** W3C traceparent to send on, so a trace spans robbie and the model server. */
  traceparent: string;
}

export interface Provider {
  readonly name: string;
  chat(req: ChatRequest, ctx: CallContext): Promise<ChatResult>;
  embed(model: string, input: string, ctx: CallContext): Promise<EmbedResult>;
}

/** The provider could not be reached, or answered in a way that means "not available now". */
export class ProviderError extends Error {
  override name = 'ProviderError';
  /** A connection that failed before any answer: worth one immediate retry. */
  readonly retryable: boolean;
  readonly reason: string;
  constructor(reason: string, retryable: boolean) {
    super(reason);
    this.reason = reason;
    this.retryable = retryable;
  }
}

/** POSTs JSON and returns the parsed answer; maps every failure to a ProviderError with a short reason. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  ctx: CallContext,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: ctx.traceparent, ...headers },
      body: JSON.stringify(body),
      signal: ctx.signal,
    });
  } catch (err) {
    if (ctx.signal.aborted) throw new ProviderError('no answer before the deadline', false);
    const cause = (err as { cause?: { code?: string } }).cause;
    const code = cause?.code ?? 'fetch failed';
    // Refused or reset before anything was sent back: the request never reached a model.
    throw new ProviderError(
      `cannot reach the model server (${code})`,
      ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(code),
    );
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new ProviderError(`the model server answered HTTP ${res.status}`, false);
  }
  try {
    return await res.json();
  } catch {
    if (ctx.signal.aborted) throw new ProviderError('no answer before the deadline', false);
    throw new ProviderError('the model server sent an unreadable answer', false);
  }
}
