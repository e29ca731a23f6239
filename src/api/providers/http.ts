/**
 * How robbie speaks HTTP to model servers: POST JSON, read the answer whole or as it streams, every
 * failure a ProviderError, every answer under its caps, every wait under the request's deadline.
 */
import { type Dispatcher, Pool } from 'undici';
import { withSpareConnection } from './spare-connection.ts';
import { type CallContext, type ChatDelta, ProviderError, retryAfterMs } from './types.ts';

/**
 * The most an upstream may send for one answer, and for one line of a stream (an SSE event or an
 * NDJSON object): past them the answer is refused (502) and no more of it is read, so one upstream
 * cannot take the process's memory (a 200 MB answer took it from 148 MB to 1.5 GB).
 */
export interface UpstreamLimits {
  answerBytes: number;
  lineBytes: number;
}

/** An upstream answer whose status was 2xx: its body, read as it comes. */
export interface Upstream {
  status: number;
  body: Dispatcher.ResponseData['body'];
}

/** Statuses by which a server refuses the request itself: the client's fault, passed back to it. */
const REFUSED = new Set([400, 404, 413, 422]);
/** What of a refusal's body is read for its message. */
const REFUSAL_READ = 4096;

function aborted(signal: AbortSignal): ProviderError {
  return signal.reason instanceof ProviderError
    ? signal.reason
    : new ProviderError('timeout', 'no answer before the deadline');
}

/** How long an idle connection to a model server is kept. */
const IDLE_MS = 30_000;

const mib = (bytes: number): string => `${Math.round((bytes / 1024 / 1024) * 100) / 100} MiB`;

export class UpstreamHttp {
  readonly limits: UpstreamLimits;
  /**
   * One pool per origin, with no cap on its connections (undici, the HTTP client inside Node's own
   * fetch, used directly: about 40 µs of CPU per call where node:http's Agent costs about 65 µs,
   * measured here with 32 concurrent calls). No cap, so no queue: a call never waits behind
   * another for a connection, and clients that stall their streams (each holding its upstream
   * connection until the stream's write deadline) cannot starve another key's calls. With a
   * 64-connection pool, 70 stalled clients made another key's requests wait 27 s past their 10 s
   * deadline. Each key's share of the upstream is bounded by its rate limit instead.
   *
   * Pools kept here rather than in undici's Agent: the Agent closes an origin's pool with its last
   * connection, so at low traffic every cut stream (its connection closed) made the next call
   * build a pool and a client again. The origins are the configured providers'. Each pool keeps a
   * spare connection once it has had to connect (spare-connection.ts).
   */
  readonly #pools = new Map<string, Pool>();

  constructor(limits: UpstreamLimits) {
    this.limits = limits;
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, { keepAliveTimeout: IDLE_MS, connect: withSpareConnection(IDLE_MS) });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /**
   * POSTs JSON and resolves once the answer's status is 2xx; maps every failure to a ProviderError.
   * When the signal aborts, the upstream request is closed at once (the model server sees it).
   */
  async post(
    url: string,
    body: unknown,
    headers: Record<string, string>,
    ctx: CallContext,
  ): Promise<Upstream> {
    if (ctx.signal.aborted) throw aborted(ctx.signal);
    const target = new URL(url);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#pool(target.origin).request({
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
        { status },
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

  /** GETs JSON (a model listing): the parsed answer, or a ProviderError. */
  async getJson(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<unknown> {
    const target = new URL(url);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#pool(target.origin).request({
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        headers,
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw aborted(signal);
      throw new ProviderError(
        'unreachable',
        `cannot reach the model server (${(err as { code?: string }).code ?? 'error'})`,
      );
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      res.body.resume();
      throw new ProviderError('status', `the model server answered HTTP ${res.statusCode}`, {
        status: res.statusCode,
      });
    }
    return this.#json({ status: res.statusCode, body: res.body }, signal);
  }

  /** POSTs JSON and returns the parsed JSON answer. */
  async postJson(
    url: string,
    body: unknown,
    headers: Record<string, string>,
    ctx: CallContext,
  ): Promise<unknown> {
    return this.#json(await this.post(url, body, headers, ctx), ctx.signal);
  }

  /**
   * A whole answer, read under the answer cap and parsed. Through Node's async iterator, not
   * BodyChunks as a stream is: for a body that comes in one chunk the iterator cost less (37.1
   * against 40.9 µs of CPU a request, undici against the gateway bench's fake model, eight
   * alternating rounds of 5,000).
   */
  async #json(res: Upstream, signal: AbortSignal): Promise<unknown> {
    const cap = this.limits.answerBytes;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > cap) throw tooLarge(`answer is larger than ${mib(cap)}`);
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      res.body.destroy();
      if (err instanceof ProviderError) throw err;
      throw signal.aborted
        ? aborted(signal)
        : new ProviderError('broken_off', 'the model server broke off its answer');
    }
    const text = Buffer.concat(chunks, size).toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      throw new ProviderError('bad_answer', 'the model server sent an unreadable answer');
    }
  }

  /**
   * POSTs JSON and yields the streamed answer's deltas as the provider's `reader` makes them out of
   * its text, until the reader's `done` delta. One generator per stream from the socket to the
   * pipeline: the reader is synchronous, so a piece costs one generator's turn here rather than
   * one for the text and one for the provider's reading of it.
   */
  async *stream(
    url: string,
    body: unknown,
    headers: Record<string, string>,
    ctx: CallContext,
    reader: StreamReader,
  ): AsyncGenerator<ChatDelta> {
    const res = await this.post(url, body, headers, ctx);
    const { answerBytes, lineBytes } = this.limits;
    const { signal } = ctx;
    // undici's body gives bytes whatever its encoding: the decoder keeps a character split across
    // chunks whole.
    const decoder = new TextDecoder();
    let ended = false;
    let size = 0;
    /** Characters since the last line break. */
    let line = 0;
    const upstream = res.body;
    const chunks = new BodyChunks(upstream);
    try {
      for (let chunk = await chunks.next(); chunk !== undefined; chunk = await chunks.next()) {
        size += chunk.length;
        if (size > answerBytes) throw tooLarge(`answer is larger than ${mib(answerBytes)}`);
        const text = decoder.decode(chunk, { stream: true });
        const lastBreak = text.lastIndexOf('\n');
        line = lastBreak === -1 ? line + text.length : text.length - lastBreak - 1;
        if (line > lineBytes) throw tooLarge(`stream has a line longer than ${mib(lineBytes)}`);
        if (text === '') continue;
        for (const delta of reader.read(text)) {
          yield delta;
          if ('done' in delta) return;
        }
      }
      ended = true;
    } catch (err) {
      // Ours (too large, unreadable, the upstream's own error event) as they are; the body's, by
      // what broke it.
      if (err instanceof ProviderError) throw err;
      throw signal.aborted
        ? aborted(signal)
        : new ProviderError('broken_off', 'the model server broke off its answer');
    } finally {
      // A consumer that stops early (client gone, deadline) or a reader that read the end marker
      // closes the upstream request, the body destroyed with an error of ours: Node formats the
      // stack of some errors a stream is destroyed with (its AbortError: 0.05–0.1 ms of CPU at the
      // end of every stream, in a CPU profile).
      // BodyChunks listens for the body's errors: this one is not unhandled.
      if (!ended) upstream.destroy(new ProviderError('cancelled', 'the rest of the answer is not wanted'));
    }
    if (signal.aborted) throw aborted(signal);
    throw new ProviderError('broken_off', 'the model server ended its stream without finishing');
  }
}

/** Chunks a body may hold read and not yet taken before it stops reading its socket. */
const HELD_CHUNKS = 16;

/**
 * A body's chunks, taken one at a time, from its `data` events: each chunk reaches a waiting
 * reader in the call that read it from the socket. Node's async iterator of a stream learns of a
 * chunk from a `readable` event emitted a tick later, and hands it on through an async generator
 * of its own: with it, 500 streams of a piece every 25 ms took about 5 µs more CPU a piece (63.7
 * against 58.3 µs, medians of four interleaved rounds; seven of eight rounds in all were won
 * without it).
 */
class BodyChunks {
  readonly #body: Upstream['body'];
  readonly #held: Uint8Array[] = [];
  #ended = false;
  #error: unknown;
  #waiting: { resolve(chunk: Uint8Array | undefined): void; reject(err: unknown): void } | undefined;

  constructor(body: Upstream['body']) {
    this.#body = body;
    body.on('data', (chunk: Uint8Array) => {
      const waiting = this.#waiting;
      if (waiting) {
        this.#waiting = undefined;
        waiting.resolve(chunk);
        return;
      }
      this.#held.push(chunk);
      // The body buffers what comes next, then stops reading the socket: the server waits.
      if (this.#held.length >= HELD_CHUNKS) body.pause();
    });
    body.on('end', () => this.#finish(undefined));
    body.on('error', (err: unknown) => this.#finish(err));
    // Destroyed without an error and before its end (never by undici, which always gives one).
    body.on('close', () => this.#finish(new Error('the body closed before its end')));
  }

  #finish(err: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = err;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (err === undefined) waiting?.resolve(undefined);
    else waiting?.reject(err);
  }

  /** The next chunk; undefined at the body's end; rejects with what broke it. */
  next(): Promise<Uint8Array | undefined> {
    const chunk = this.#held.shift();
    if (chunk !== undefined) {
      if (this.#held.length === 0 && this.#body.isPaused()) this.#body.resume();
      return Promise.resolve(chunk);
    }
    if (this.#ended)
      return this.#error === undefined ? Promise.resolve(undefined) : Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }
}

/**
 * How a provider reads its streamed answer: the text as it arrives, in any cut, in; the deltas it
 * makes out of it so far out, a `done` delta last once the answer is complete. It throws a
 * ProviderError for what it cannot read or what the server reports as an error.
 */
export interface StreamReader {
  read(text: string): ChatDelta[];
}

/** The error a model server reports in the middle of a streamed answer (an error event or line). */
export function reportedMidAnswer(): ProviderError {
  return new ProviderError('broken_off', 'the model server reported an error mid-answer');
}

/** One event or line of a stream, as JSON; what is not JSON is an unreadable stream. */
export function streamJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ProviderError('bad_answer', 'the model server sent an unreadable stream');
  }
}

function tooLarge(what: string): ProviderError {
  return new ProviderError('too_large', `the model server's ${what}`);
}

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
