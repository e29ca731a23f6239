/** Reading a model server's server-sent events: the OpenAI-compatible and Anthropic streams. */
import { createParser } from 'eventsource-parser';
import type { StreamReader } from './http.ts';
import type { ChatDelta } from './types.ts';

/** A stream of SSE events, each event's data read by the provider as the stream's deltas. */
export abstract class SseReader implements StreamReader {
  readonly #events: string[] = [];
  readonly #parser = createParser({ onEvent: (e) => this.#events.push(e.data) });

  read(text: string): ChatDelta[] {
    this.#parser.feed(text);
    const out: ChatDelta[] = [];
    const events = this.#events;
    try {
      for (const data of events) if (this.event(data, out)) break;
      return out;
    } finally {
      events.length = 0;
    }
  }

  /** Adds what one event's data says to `out`; true once the answer is complete. */
  protected abstract event(data: string, out: ChatDelta[]): boolean;
}
