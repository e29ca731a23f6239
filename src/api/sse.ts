/**
 * Sends a streamed answer as server-sent events, in a route's frames. A client that goes away
 * stops the stream at once: the pipeline's pieces are closed, which closes the upstream model
 * request, and the end is recorded as `cut`. So does a client that stays but takes no bytes for
 * the write deadline: the stream is ended, and what it held (its upstream connection, its claim,
 * at most one piece and the socket's buffer in memory) is given back.
 *
 * Behind robbie's server (@hono/node-server, under Node and Deno alike) the events are written
 * straight to the Node response, and the route answers with node-server's "already sent" marker.
 * Hono's `streamSSE` would pass each event through a TransformStream that node-server reads back
 * after the whole middleware chain has returned (access log, metrics): measured here, that put
 * about 0.5 ms between the model's first piece and the client's. Without a Node response (the
 * app called in memory, `app.request()`), the same events go out as a ReadableStream body.
 */
import type { ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import type { Logger } from '../logger/logger.ts';
import { serializeError } from '../logger/serialize-error.ts';
import { nodeResponseOf, sendJson, servedHeaders } from './answer.ts';
import type { Reply } from './pipeline/outcome.ts';
import type { AnswerStream, PipelineReply, StreamPiece } from './pipeline/pipeline.ts';
import type { ToolCall } from './providers/types.ts';
import type { AppEnv } from './types.ts';

export interface SseMessage {
  data: string;
  event?: string;
}

export interface StreamFrames {
  /** Sent before the first piece (e.g. the assistant role). */
  start(): SseMessage[];
  piece(text: string): SseMessage[];
  /** A piece of the model's refusal, where the protocol has a place for one (else it is text). */
  refusal?(text: string): SseMessage[];
  /** Fragments of the tool calls the model asks for. */
  toolCalls(calls: ToolCall[]): SseMessage[];
  /** After the last piece: the recorded reply's closing frames. */
  end(reply: Reply): SseMessage[];
  /** The provider broke off mid-answer. */
  broken(reason: string): SseMessage[];
  /** The answer could not be recorded (its reply is the error): an error event, never a clean end. */
  failed(reply: Reply): SseMessage[];
}

/** Frames that can also send a whole answer (a replay, a cache hit) as the events of a stream. */
export interface AnswerFrames extends StreamFrames {
  whole(reply: Reply): SseMessage[];
}

/**
 * Sends the pipeline's answer as its client asked: JSON; or events — a live stream in the route's
 * frames, or a whole answer (replayed, cached) sent as the events of one. `framesFor` makes a
 * route's frames for the model that answers (or, for a whole answer, `model`).
 */
export function sendAnswer(
  c: Context<AppEnv>,
  out: PipelineReply,
  asStream: boolean,
  framesFor: (model: string) => AnswerFrames,
  model: string,
  options: StreamOptions,
): Response | Promise<Response> {
  if (out.kind === 'stream') {
    // The request's span covers the stream to its recorded end, not just the handler.
    c.set('spanEndsWith', out.stream.recorded);
    return sendStream(c, out.stream, framesFor(out.stream.model), servedHeaders(out.stream), options);
  }
  const r = out.reply;
  if (!asStream || r.status >= 300) return sendJson(c, r.body as object, r.status, r.headers);
  return sendFrames(c, framesFor(model).whole(r), r.headers ?? {}, options);
}

/** One event's text: every line of its data as its own `data:` field (the SSE rule). */
export function sseText(m: SseMessage): string {
  // Most data is JSON from JSON.stringify, which has no line breaks: no split for it.
  const data = /[\r\n]/.test(m.data)
    ? `data: ${m.data.split(/\r\n|\r|\n/).join('\ndata: ')}\n\n`
    : `data: ${m.data}\n\n`;
  // Event names are the routes' own words; a line break would start a field of its own.
  return m.event === undefined || /[\r\n]/.test(m.event) ? data : `event: ${m.event}\n${data}`;
}

/** Where the events go: the Node response itself, or a stream body. */
interface EventSink {
  /** The client went away: nothing more is sent. */
  readonly aborted: boolean;
  /** Resolves when there is room for more (or the client has gone). */
  send(m: SseMessage): Promise<void> | undefined;
  /** Sends what was written so far at once, rather than when the current tick ends. */
  flush(): void;
  close(): void;
}

const EVENT_STREAM_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache',
  // nginx and others buffer proxied answers unless told not to.
  'X-Accel-Buffering': 'no',
};

/** What a stream needs besides its events: the write deadline, and where to say it passed. */
export interface StreamOptions {
  /** A client that takes no bytes for this long is cut off. */
  writeTimeoutMs: number;
  log: Logger;
}

class NodeSink implements EventSink {
  readonly #res: ServerResponse;
  readonly #options: StreamOptions;
  /** Still in the tick the route answered in: the middleware after the route has yet to run. */
  #answering = true;
  constructor(res: ServerResponse, status: number, headers: Record<string, string>, options: StreamOptions) {
    this.#res = res;
    this.#options = options;
    res.writeHead(status, headers);
    setImmediate(() => {
      this.#answering = false;
    });
  }
  get aborted(): boolean {
    return this.#res.destroyed;
  }
  send(m: SseMessage): Promise<void> | undefined {
    const res = this.#res;
    if (res.destroyed) return undefined;
    // Node corks the socket on each write until the next tick, so that a chunk's size line, data
    // and CRLF leave together; the pieces of one upstream read leave in one write too (one system
    // call instead of one per piece: 500 streams of 2,000 pieces took 49 µs of CPU per piece
    // uncorked each).
    if (res.write(sseText(m))) return undefined;
    const { writeTimeoutMs, log } = this.#options;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      // No room for this long: the client is not reading. Destroying the response closes the
      // socket and aborts the request's signal, so the stream ends as if the client had left.
      const timer = setTimeout(() => {
        log.warn('stream cut off: its client took no bytes within the write deadline', {
          write_timeout_ms: writeTimeoutMs,
        });
        res.destroy();
        done();
      }, writeTimeoutMs);
      res.on('drain', done);
      res.on('close', done);
    });
  }
  flush(): void {
    // In the tick the route answers in, everything still queued (the access-log line, the
    // metrics) would run before the cork's own release: what is written so far leaves now.
    const socket = this.#res.socket;
    if (this.#answering && socket?.writableCorked) socket.uncork();
  }
  close(): void {
    if (!this.#res.destroyed) this.#res.end();
  }
}

class WebSink implements EventSink {
  readonly body: ReadableStream<Uint8Array>;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #aborted = false;
  readonly #encoder = new TextEncoder();
  constructor() {
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#aborted = true;
      },
    });
  }
  get aborted(): boolean {
    return this.#aborted;
  }
  send(m: SseMessage): undefined {
    if (!this.#aborted) this.#controller?.enqueue(this.#encoder.encode(sseText(m)));
    return undefined;
  }
  flush(): void {}
  close(): void {
    if (!this.#aborted) this.#controller?.close();
  }
}

/** Writes the events, then ends the stream; a writer that throws ends it too (never unhandled). */
function run(write: (sink: EventSink) => Promise<void>, sink: EventSink): void {
  write(sink)
    .catch(() => undefined)
    .finally(() => sink.close());
}

/** Opens the event stream on `c` and runs `write` into it; returns what the route answers. */
function eventStream(
  c: Context<AppEnv>,
  headers: Record<string, string>,
  options: StreamOptions,
  write: (sink: EventSink) => Promise<void>,
): Response {
  const res = nodeResponseOf(c);
  if (res) {
    // Headers set so far (X-Request-Id) are on the Node response already (answer.ts).
    const sink = new NodeSink(res, 200, { ...headers, ...EVENT_STREAM_HEADERS }, options);
    run(write, sink);
    // node-server's marker, itself: a copy made after the server replaced the global Response is
    // one of its light responses, which it writes out without looking for the marker. (Hono copies
    // context headers onto a new response, never onto this one.)
    return RESPONSE_ALREADY_SENT;
  }
  // Headers set on the context so far, then the route's, then the stream's.
  const all: Record<string, string> = Object.fromEntries(c.res.headers);
  Object.assign(all, headers, EVENT_STREAM_HEADERS);
  const sink = new WebSink();
  run(write, sink);
  return new Response(sink.body, { status: 200, headers: all });
}

/** Frames known in full (a replayed or cached answer to a client that asked for a stream). */
export function sendFrames(
  c: Context<AppEnv>,
  messages: SseMessage[],
  headers: Record<string, string>,
  options: StreamOptions,
): Response {
  return eventStream(c, headers, options, async (sink) => {
    for (const m of messages) {
      if (sink.aborted) return;
      await sink.send(m);
    }
    sink.flush();
  });
}

function framesOf(frames: StreamFrames, piece: StreamPiece): SseMessage[] {
  if (typeof piece === 'string') return frames.piece(piece);
  if ('refusal' in piece) return frames.refusal ? frames.refusal(piece.refusal) : frames.piece(piece.refusal);
  return frames.toolCalls(piece.toolCalls);
}

/**
 * Streams the answer's pieces in `frames`. The first piece is awaited before the stream opens:
 * the headers, the start frames and that piece then leave in one write, before the middleware
 * after the route runs. One write wakes the client once; headers first and the piece after woke
 * it twice, and on a loaded machine each wake could take robbie's thread away for up to a
 * millisecond before the piece left.
 */
export async function sendStream(
  c: Context<AppEnv>,
  answer: AnswerStream,
  frames: StreamFrames,
  headers: Record<string, string>,
  options: StreamOptions,
): Promise<Response> {
  const { log } = options;
  const pieces = answer.pieces[Symbol.asyncIterator]();
  let next: IteratorResult<StreamPiece> | { failed: unknown };
  try {
    next = await pieces.next();
  } catch (err) {
    next = { failed: err };
  }
  return eventStream(c, headers, options, async (sink) => {
    try {
      for (const m of frames.start()) {
        const behind = sink.send(m);
        if (behind) await behind;
      }
      for (;;) {
        if ('failed' in next) throw next.failed;
        if (next.done) break;
        for (const m of framesOf(frames, next.value)) {
          // Awaited only when the client is behind: an `await` of nothing still costs a turn of
          // the microtask queue for every piece.
          const behind = sink.send(m);
          if (behind) await behind;
        }
        // Only the tick the route answers in has anything to flush: the first piece's.
        sink.flush();
        if (sink.aborted) break;
        next = await pieces.next();
      }
      if (sink.aborted) return;
      const reply = await answer.recorded;
      for (const m of reply.status >= 300 ? frames.failed(reply) : frames.end(reply)) await sink.send(m);
    } catch (err) {
      if (sink.aborted) return;
      const broken = err instanceof Error && err.name === 'ProviderError';
      if (!broken) log.error('stream failed', { err: serializeError(err) });
      const reason = broken ? err.message : 'the answer stopped unexpectedly';
      for (const m of frames.broken(reason)) await sink.send(m);
    } finally {
      // A client gone (or a send that threw) stops the pieces: the model's request is closed and
      // the end recorded as cut.
      if (!('failed' in next) && !next.done) await pieces.return?.(undefined);
    }
  });
}
