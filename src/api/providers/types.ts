/**
 * A model provider: chat completions (whole or streamed) and embeddings, each under the request's
 * one deadline (an AbortSignal). Every failure is a ProviderError with a kind, so the router
 * decides retries, fallbacks and breaker counts on the kind, never on message text.
 */
/** An image a message shows the model: its bytes (base64) with their type, or where to fetch it. */
export type ImagePart = { kind: 'base64'; mediaType: string; data: string } | { kind: 'url'; url: string };

/** The image types every provider that reads images takes (OpenAI's and Anthropic's common set). */
export const IMAGE_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | 'developer';
  /** Its text (text parts joined; '' for none). */
  content: string;
  /** Its images, in the order given (after the text, for the providers that take one list). */
  images?: ImagePart[];
  /**
   * The rest of the message as the client sent it (`tool_calls`, `tool_call_id`, `name`), for the
   * providers that take it as it is (OpenAI-compatible) or translate it (Ollama).
   */
  fields?: Record<string, unknown>;
}

/**
 * A tool call of an answer, in OpenAI's shape (`{id, type: "function", function: {name,
 * arguments}}`), whole or (streamed) a fragment of one with its `index`.
 */
export type ToolCall = Record<string, unknown>;

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
  /**
   * The request's fields robbie does not act on (`tools`, `tool_choice`, `response_format`,
   * `seed`, `stop`, …), passed on as sent; a provider that cannot honour one refuses the request
   * (`rejected`, naming the field), never drops it.
   */
  extra?: Record<string, unknown> | undefined;
}

/** Usage as a provider reported it, split; null where it did not say. */
export interface TokenUsage {
  prompt: number | null;
  completion: number | null;
}

/** The total of a usage, when the provider said anything of it. */
export function totalOf(u: TokenUsage): number | null {
  return u.prompt === null && u.completion === null ? null : (u.prompt ?? 0) + (u.completion ?? 0);
}

export interface ChatResult {
  text: string;
  usage: TokenUsage;
  /** The tool calls the model asked for, whole. */
  toolCalls?: ToolCall[] | undefined;
  /** Why the model stopped, as the provider said (`stop`, `length`, `tool_calls`, …). */
  finishReason?: string | undefined;
  /** The model's refusal (OpenAI's `message.refusal`), instead of or beside its text. */
  refusal?: string | undefined;
  /** The tokens' log probabilities (OpenAI's `choice.logprobs`), as the server sent them. */
  logprobs?: Logprobs | undefined;
}

/** OpenAI's `choice.logprobs`: an entry per token of the content, and of a refusal. */
export interface Logprobs {
  content: unknown[] | null;
  refusal: unknown[] | null;
}

/** A choice's `logprobs` as the server sent it, when it is one. */
export function logprobsOf(v: unknown): Logprobs | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { content, refusal } = v as { content?: unknown; refusal?: unknown };
  if (!Array.isArray(content) && !Array.isArray(refusal)) return undefined;
  return {
    content: Array.isArray(content) ? content : null,
    refusal: Array.isArray(refusal) ? refusal : null,
  };
}

export interface EmbedResult {
  /** One vector per input, in order. */
  embeddings: number[][];
  usage: TokenUsage;
}

/**
 * A piece of a streamed answer: text (or a refusal's) as it comes, the log probabilities of its
 * tokens, fragments of tool calls, then (last) the usage if the server told, and why the model
 * stopped.
 */
export type ChatDelta =
  | { text: string }
  | { refusal: string }
  | { logprobs: Logprobs }
  | { toolCalls: ToolCall[] }
  | { done: true; usage: TokenUsage; finishReason?: string | undefined };

/** The vectors of an embeddings answer, one per input, or `bad_answer`. */
export function vectorsOf(v: unknown, inputs: number): number[][] {
  const ok =
    Array.isArray(v) &&
    v.length === inputs &&
    v.every((e) => Array.isArray(e) && e.length > 0 && e.every((x) => typeof x === 'number'));
  if (!ok)
    throw new ProviderError('bad_answer', 'the model server sent an answer without an embedding per input');
  return v as number[][];
}

/** A request field a provider cannot honour: the request is refused (400) naming it. */
export function cannotTake(provider: string, field: string): ProviderError {
  return new ProviderError('rejected', `the provider ${provider} cannot take the field '${field}'`, {
    status: 400,
  });
}

export interface CallContext {
  signal: AbortSignal;
  /** W3C traceparent to send on, so a trace spans robbie and the model server. */
  traceparent: string;
}

export interface Provider {
  /** The name in settings, answers, metrics and logs. */
  readonly name: string;
  /** The server it calls (for the reachability probe behind /health), none for a local one. */
  readonly endpoint: string | undefined;
  chat(req: ChatRequest, ctx: CallContext): Promise<ChatResult>;
  /** Deltas as the server sends them; the upstream request is closed when the signal aborts. */
  chatStream(req: ChatRequest, ctx: CallContext): AsyncIterable<ChatDelta>;
  embed(model: string, inputs: string[], ctx: CallContext): Promise<EmbedResult>;
  /** The models the server says it serves (for discovery), where it can say. */
  listModels?(signal: AbortSignal): Promise<string[]>;
  /** The input tokens a chat request would take, counted by the server, where it can count. */
  countTokens?(req: ChatRequest, ctx: CallContext): Promise<number>;
}

/**
 * - `unreachable`: no answer at all (refused, reset, DNS); `beforeAnswer` says the request never
 *   reached a model, so one immediate retry is safe.
 * - `timeout`: the request's deadline passed. `cancelled`: the client went away.
 * - `status`: the server answered an HTTP error of its own (5xx, 401/403: its key, 408).
 *   `rate_limited`: it answered 429 (`retryAfterMs`).
 * - `rejected`: it refused this request (400, 404, 413, 422): the client's fault, not the server's.
 * - `bad_answer`: an answer robbie cannot read. `broken_off`: the answer stopped half-way.
 * - `too_large`: an answer, or one line of a stream, past its cap (UpstreamLimits).
 */
export type ProviderErrorKind =
  | 'unreachable'
  | 'timeout'
  | 'cancelled'
  | 'status'
  | 'rejected'
  | 'rate_limited'
  | 'bad_answer'
  | 'broken_off'
  | 'too_large';

export class ProviderError extends Error {
  override name = 'ProviderError';
  readonly kind: ProviderErrorKind;
  readonly reason: string;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly beforeAnswer: boolean;
  constructor(
    kind: ProviderErrorKind,
    reason: string,
    extra: { status?: number; retryAfterMs?: number; beforeAnswer?: boolean } = {},
  ) {
    // An outcome of a model call, not a fault in robbie's code: its kind and reason say all there
    // is. A stack trace would only cost: Node formats one whenever a stream is destroyed with the
    // error, as every cut stream's upstream body is (0.10–0.12 ms of each cut's 0.48 ms abort), and
    // capturing its frames took 0.03 ms a cut more.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(reason);
    Error.stackTraceLimit = limit;
    this.stack = `${this.name}: ${reason}`;
    this.kind = kind;
    this.reason = reason;
    this.status = extra.status;
    this.retryAfterMs = extra.retryAfterMs;
    this.beforeAnswer = extra.beforeAnswer ?? false;
  }

  /** The same provider may be asked again at once: the request never reached a model. */
  get retryable(): boolean {
    return this.kind === 'unreachable' && this.beforeAnswer;
  }

  /**
   * Counts against the provider's circuit breaker: only the provider's own faults (a cancelled
   * call, a 429 and a request it refused say nothing bad of it).
   */
  get isFailure(): boolean {
    return this.kind !== 'cancelled' && this.kind !== 'rate_limited' && this.kind !== 'rejected';
  }
}

/** `Retry-After` in seconds or as an HTTP date, in milliseconds from now (capped at an hour). */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) ? Math.min(3_600_000, Math.max(0, Math.round(ms))) : undefined;
}
