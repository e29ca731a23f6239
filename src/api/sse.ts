/**
 * Sends a streamed answer as server-sent events (Hono's streamSSE), in a route's frames. A client
 * that goes away stops the stream at once: the pipeline's pieces are closed, which closes the
 * upstream model request, and the end is recorded as `cut`.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Logger } from '../logger/logger.ts';
import { serializeError } from '../logger/serialize-error.ts';
import type { Reply } from './pipeline/outcome.ts';
import type { AnswerStream } from './pipeline/pipeline.ts';
import type { AppEnv } from './types.ts';

export interface SseMessage {
  data: string;
  event?: string;
}

export interface StreamFrames {
  /** Sent before the first piece (e.g. the assistant role). */
  start(): SseMessage[];
  piece(text: string): SseMessage;
  /** After the last piece: the recorded reply's closing frames. */
  end(reply: Reply): SseMessage[];
  /** The provider broke off mid-answer. */
  broken(reason: string): SseMessage[];
}

/** Frames known in full (a replayed or cached answer to a client that asked for a stream). */
export function sendFrames(
  c: Context<AppEnv>,
  messages: SseMessage[],
  headers: Record<string, string>,
): Response {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  return streamSSE(c, async (stream) => {
    for (const m of messages) {
      if (stream.aborted) return;
      await stream.writeSSE(m);
    }
  });
}

export function sendStream(
  c: Context<AppEnv>,
  answer: AnswerStream,
  frames: StreamFrames,
  headers: Record<string, string>,
  log: Logger,
): Response {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (stream) => {
    try {
      for (const m of frames.start()) await stream.writeSSE(m);
      for await (const text of answer.pieces) {
        if (stream.aborted) break;
        await stream.writeSSE(frames.piece(text));
        if (stream.aborted) break;
      }
      if (stream.aborted) return;
      const reply = await answer.recorded;
      for (const m of frames.end(reply)) await stream.writeSSE(m);
    } catch (err) {
      if (stream.aborted) return;
      const reason =
        err instanceof Error && err.name === 'ProviderError'
          ? err.message
          : 'the answer stopped unexpectedly';
      if (!(err instanceof Error && err.name === 'ProviderError')) {
        log.error('stream failed', { err: serializeError(err) });
      }
      for (const m of frames.broken(reason)) await stream.writeSSE(m).catch(() => undefined);
    }
  });
}
