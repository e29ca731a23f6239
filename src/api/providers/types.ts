/**
 * A model provider: chat completions (whole or streamed) and embeddings, each under the request's
 * one deadline (an AbortSignal). Every failure is a ProviderError with a kind, so the router
 * decides retries, fallbacks and breaker counts on the kind, never on message text.
 */
import { Agent, type Dispatcher } from 'undici';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | 'developer';
  content: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
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
}

export interface EmbedResult {
  embedding: number[];
  usage: TokenUsage;
}

/** A piece of a streamed answer: text as it comes, then (last) the usage if the server told. */
export type ChatDelta = { text: string } | { done: true; usage: TokenUsage };

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
  embed(model: string, input: string, ctx: CallContext): Promise<EmbedResult>;
}

/**
 * - `unreachable`: no answer at all (refused, reset, DNS); `beforeAnswer` says the request never
 *   reached a model, so one immediate retry is safe.
 * - `timeout`: the request's deadline passed. `cancelled`: the client went away.
 * - `status`: the server answered an HTTP error of its own (5xx, 401/403: its key, 408).
 *   `rate_limited`: it answered 429 (`retryAfterMs`).
 * - `rejected`: it refused this request (400, 404, 413, 422): the client's fault, not the server's.
 * - `bad_answer`: an answer robbie cannot read. `broken_off`: the answer stopped half-way.
 * - `too_large`: an answer, or one line of a stream, past its cap (ANSWER_CAP, LINE_CAP).
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
    super(reason);
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

function aborted(signal: AbortSignal): ProviderError {
  return signal.reason instanceof ProviderError
    ? signal.reason
    : new ProviderError('timeout', 'no answer before the deadline');
}

/**
 * One connection pool per origin for every model call (undici, the HTTP client inside Node's own
 * fetch, used directly): it costs about 40 µs of CPU per call where node:http's ClientRequest and
 * Agent cost about 65 µs (measured here, 32 concurrent calls to a local server) — and fetch adds
 * web streams on top of both. Its 750 KB of source weigh only on the processes that serve the API:
 * the supervisor runs from its own small bundle (main-supervise.ts).
 */
const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000 });

/** An upstream answer whose status was 2xx: its body, read as it comes. */
export interface Upstream {
  status: number;
  body: Dispatcher.ResponseData['body'];
}

/**
 * POSTs JSON and resolves once the answer's status is 2xx; maps every failure to a ProviderError.
 * When the signal aborts, the upstream request is closed at once (the model server sees it).
 */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  ctx: CallContext,
): Promise<Upstream> {
  if (ctx.signal.aborted) throw aborted(ctx.signal);
  const target = new URL(url);
  let res: Dispatcher.ResponseData;
  try {
    res = await dispatcher.request({
      origin: target.origin,
      path: `${target.pathname}${target.search}`,
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: ctx.traceparent, ...headers },
      body: JSON.stringify(body),
      signal: ctx.signal,
    });
  } catch (err) {
    if (ctx.signal.aborted) throw aborted(ctx.signal);
    const code = (err as { code?: string }).code ?? 'error';
    // Refused, or reset before any answer: the request never reached a model; worth one retry.
    throw new ProviderError('unreachable', `cannot reach the model server (${code})`, {
      beforeAnswer: ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(code),
    });
  }
  const status = res.statusCode;
  if (status >= 200 && status < 300) return { status, body: res.body };
  if (REFUSED.has(status)) {
    const said = await refusalOf(res.body);
    throw new ProviderError(
      'rejected',
      `the model server refused the request (HTTP ${status})${said ? `: ${said}` : ''}`,
      {
        status,
      },
    );
  }
  res.body.resume();
  if (status === 429) {
    throw new ProviderError('rate_limited', 'the model server is rate limiting (HTTP 429)', {
      status,
      retryAfterMs: retryAfterMs(res.headers['retry-after']),
    });
  }
  throw new ProviderError('status', `the model server answered HTTP ${status}`, { status });
}

/** Statuses by which a server refuses the request itself: the client's fault, passed back to it. */
const REFUSED = new Set([400, 404, 413, 422]);
/** What of a refusal's body is read for its message. */
const REFUSAL_READ = 4096;

/**
 * The message of a refusal (OpenAI's and Anthropic's `error.message`, Ollama's `error`), for the
 * client: one line of at most 300 characters, paths and URLs taken out (the pipeline redacts
 * secrets as it does in answers).
 */
async function refusalOf(body: Dispatcher.ResponseData['body']): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body) {
      text += Buffer.from(chunk as Uint8Array).toString('utf8');
      if (text.length >= REFUSAL_READ) break;
    }
  } catch {
    return '';
  } finally {
    body.destroy();
  }
  let message: unknown;
  try {
    const o = JSON.parse(text) as { error?: unknown; message?: unknown };
    message =
      typeof o.error === 'string'
        ? o.error
        : ((o.error as { message?: unknown } | undefined)?.message ?? o.message);
  } catch {
    return '';
  }
  if (typeof message !== 'string') return '';
  const clean = message
    .replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '[url]')
    .replace(/(?:^|\s)(?:\/[\w.@-]+){2,}\/?/g, ' [path]')
    .replace(/\p{Cc}+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}

/** POSTs JSON and returns the parsed JSON answer. */
/**
 * The most an upstream may send for one answer, and for one line of a stream (an SSE event or an
 * NDJSON object): past them the answer is refused (502) and no more of it is read, so one
 * upstream cannot take the process's memory (a 200 MB answer took it from 148 MB to 1.5 GB).
 */
export const ANSWER_CAP = 16 * 1024 * 1024;
export const LINE_CAP = 1024 * 1024;

function tooLarge(what: string): ProviderError {
  return new ProviderError('too_large', `the model server's ${what}`);
}

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  ctx: CallContext,
): Promise<unknown> {
  const res = await post(url, body, headers, ctx);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > ANSWER_CAP) throw tooLarge(`answer is larger than ${ANSWER_CAP / 1024 / 1024} MiB`);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    res.body.destroy();
    if (err instanceof ProviderError) throw err;
    throw ctx.signal.aborted
      ? aborted(ctx.signal)
      : new ProviderError('broken_off', 'the model server broke off its answer');
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new ProviderError('bad_answer', 'the model server sent an unreadable answer');
  }
}

/** The text of a streamed answer as it arrives (UTF-8 kept whole across chunks). */
export async function* streamText(res: Upstream, signal: AbortSignal): AsyncGenerator<string> {
  // undici's body gives bytes whatever its encoding: the decoder keeps a character split across
  // chunks whole.
  const decoder = new TextDecoder();
  let ended = false;
  let size = 0;
  /** Characters since the last line break. */
  let line = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Uint8Array).length;
      if (size > ANSWER_CAP) throw tooLarge(`answer is larger than ${ANSWER_CAP / 1024 / 1024} MiB`);
      const text = decoder.decode(chunk as Uint8Array, { stream: true });
      const lastBreak = text.lastIndexOf('\n');
      line = lastBreak === -1 ? line + text.length : text.length - lastBreak - 1;
      if (line > LINE_CAP) throw tooLarge(`stream has a line longer than ${LINE_CAP / 1024 / 1024} MiB`);
      if (text !== '') yield text;
    }
    ended = true;
  } catch (err) {
    if (err instanceof ProviderError && err.kind === 'too_large') throw err;
    throw signal.aborted
      ? aborted(signal)
      : new ProviderError('broken_off', 'the model server broke off its answer');
  } finally {
    // A consumer that stops early (client gone, deadline) closes the upstream request.
    if (!ended) res.body.destroy();
  }
  if (signal.aborted) throw aborted(signal);
}
