/**
 * The chunks of an upstream answer's body as its `data` events deliver them, one at a time to one
 * reader. Node's own async iterator over a Readable pulls every chunk through `read()`, a
 * `readable` event and a `process.nextTick`; for a streamed answer, whose chunks are one piece
 * each, that was about 1.5 KB of garbage and a few µs per piece (500 streams of 2,000 pieces:
 * the allocation profile of the serving child, `npm run bench -- streams`). Here a chunk that
 * arrives while the reader waits is handed to it at once; one that arrives before is queued, and
 * past HIGH queued chunks the body is paused until the reader catches up.
 */
import type { Readable } from 'node:stream';

const HIGH = 16;

export class BodyChunks {
  readonly #body: Readable;
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #failure: unknown;
  #waiter: { resolve: (c: Uint8Array | undefined) => void; reject: (e: unknown) => void } | undefined;

  constructor(body: Readable) {
    this.#body = body;
    body.on('data', (chunk: Uint8Array) => {
      const w = this.#waiter;
      if (w) {
        this.#waiter = undefined;
        w.resolve(chunk);
        return;
      }
      this.#queue.push(chunk);
      if (this.#queue.length >= HIGH) body.pause();
    });
    body.once('end', () => {
      this.#ended = true;
      this.#settle(undefined);
    });
    body.on('error', (err) => this.#fail(err));
    body.once('close', () => {
      if (!this.#ended) this.#fail(new Error('the body closed before its end'));
    });
  }

  /**
   * The next chunk: at once when one is queued (no promise), else a promise of it. `undefined` at
   * the body's end; what broke the body is thrown.
   */
  next(): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    const chunk = this.#queue.shift();
    if (this.#queue.length === 0 && this.#body.isPaused() && !this.#ended) this.#body.resume();
    if (chunk !== undefined) return chunk;
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#ended) return undefined;
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #settle(chunk: Uint8Array | undefined): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve(chunk);
  }

  #fail(err: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = err;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(err);
  }
}
