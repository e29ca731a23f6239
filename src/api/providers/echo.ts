/**
 * The `echo` provider, for trying the pipeline with no model server (ROBBIE_PROVIDER=echo): it
 * answers with the input, and a small deterministic embedding.
 */
import { createHash } from 'node:crypto';
import type { ChatRequest, ChatResult, EmbedResult, Provider } from './types.ts';

export class EchoProvider implements Provider {
  readonly name = 'echo';
  readonly endpoint = undefined;

  async chat(req: ChatRequest): Promise<ChatResult> {
    return { text: `echo: ${req.input}`, tokens: req.input.split(/\s+/).filter(Boolean).length };
  }

  async embed(_model: string, input: string): Promise<EmbedResult> {
    const digest = createHash('sha256').update(input).digest();
    const embedding = Array.from(
      { length: 8 },
      (_, i) => Math.round(((digest[i] as number) / 255) * 2000 - 1000) / 1000,
    );
    return { embedding, tokens: input.split(/\s+/).filter(Boolean).length };
  }
}
