/**
 * The `echo` provider, for trying the pipeline with no model server (ROBBIE_PROVIDER=echo), and a
 * last fallback that always answers: it answers with the last user message (streamed word by word),
 * and a small deterministic embedding.
 */
import { hash } from 'node:crypto';
import {
  type ChatDelta,
  type ChatRequest,
  type ChatResult,
  cannotTake,
  type EmbedResult,
  type Provider,
} from '../types.ts';

function lastInput(req: ChatRequest): string {
  for (let i = req.messages.length - 1; i >= 0; i--) {
    const m = req.messages[i];
    if (m?.role === 'user') return m.content;
  }
  return '';
}

function words(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

export class EchoProvider implements Provider {
  readonly name: string;
  readonly endpoint = undefined;

  constructor(name = 'echo') {
    this.name = name;
  }

  /** Echo acts on no request field of its own (tools, response_format, …): it refuses them. */
  #refuseExtra(req: ChatRequest): void {
    const field = Object.keys(req.extra ?? {})[0];
    if (field !== undefined) throw cannotTake(this.name, field);
    // It repeats words: an image would go unseen.
    if (req.messages.some((m) => m.images?.length)) throw cannotTake(this.name, 'images');
  }

  async chat(req: ChatRequest): Promise<ChatResult> {
    this.#refuseExtra(req);
    const input = lastInput(req);
    return { text: `echo: ${input}`, usage: { prompt: words(input), completion: words(input) + 1 } };
  }

  async *chatStream(req: ChatRequest): AsyncGenerator<ChatDelta> {
    this.#refuseExtra(req);
    const input = lastInput(req);
    for (const piece of `echo: ${input}`.split(/(?<=\s)/)) yield { text: piece };
    yield { done: true, usage: { prompt: words(input), completion: words(input) + 1 } };
  }

  async embed(_model: string, inputs: string[]): Promise<EmbedResult> {
    const embeddings = inputs.map((input) => {
      const digest = hash('sha256', input, 'buffer');
      return Array.from(
        { length: 8 },
        (_, i) => Math.round(((digest[i] as number) / 255) * 2000 - 1000) / 1000,
      );
    });
    return { embeddings, usage: { prompt: words(inputs.join(' ')), completion: 0 } };
  }
}
