/**
 * Tool calls in answers (OpenAI's `{id, type, function: {name, arguments}}`), redacted as answers
 * are: a secret the model writes into a call's arguments is taken out before the client, the
 * record or the cache see it. Whole, each call's arguments are redacted at once; streamed, each
 * call (by its `index`) has its own StreamRedactor over its argument fragments, and the record
 * keeps the calls put together.
 */
import type { ToolCall } from '../providers/types.ts';
import { redactAnswer } from './answer-redaction.ts';
import { StreamRedactor } from './stream-redaction.ts';

interface Fn {
  name?: unknown;
  arguments?: unknown;
}

const fnOf = (call: ToolCall): Fn | undefined =>
  typeof call.function === 'object' && call.function !== null ? (call.function as Fn) : undefined;

/** Whole tool calls with their arguments redacted, and how many secrets were taken out. */
export function redactToolCalls(calls: ToolCall[]): { calls: ToolCall[]; redactions: number } {
  let redactions = 0;
  const out = calls.map((call) => {
    const fn = fnOf(call);
    if (typeof fn?.arguments !== 'string') return call;
    const cleaned = redactAnswer(fn.arguments);
    redactions += cleaned.redactions;
    return { ...call, function: { ...fn, arguments: cleaned.text } };
  });
  return { calls: out, redactions };
}

/** The tool-call fragments of one stream. */
export class StreamedToolCalls {
  readonly #byIndex = new Map<number, { call: ToolCall; name: string; redactor: StreamRedactor }>();

  /** Fragments as they came, their arguments redacted so far as they can be (held back otherwise). */
  push(fragments: ToolCall[]): ToolCall[] {
    return fragments.map((f) => {
      const index = typeof f.index === 'number' ? f.index : 0;
      let seen = this.#byIndex.get(index);
      if (!seen) {
        seen = { call: { index }, name: '', redactor: new StreamRedactor() };
        this.#byIndex.set(index, seen);
      }
      if (typeof f.id === 'string') seen.call.id = f.id;
      if (typeof f.type === 'string') seen.call.type = f.type;
      const fn = fnOf(f);
      if (!fn) return f;
      if (typeof fn.name === 'string') seen.name += fn.name;
      if (typeof fn.arguments !== 'string') return f;
      return { ...f, function: { ...fn, arguments: seen.redactor.push(fn.arguments) } };
    });
  }

  /** What each call still holds back, as closing fragments (none when nothing was held). */
  end(): ToolCall[] {
    const out: ToolCall[] = [];
    for (const [index, seen] of this.#byIndex) {
      const rest = seen.redactor.end();
      if (rest) out.push({ index, function: { arguments: rest } });
    }
    return out;
  }

  /** Secrets taken out of every call's arguments. */
  get redactions(): number {
    let n = 0;
    for (const seen of this.#byIndex.values()) n += seen.redactor.redactions;
    return n;
  }

  /** The calls put together (what was sent of them), for the record; undefined when there were none. */
  whole(): ToolCall[] | undefined {
    if (this.#byIndex.size === 0) return undefined;
    return [...this.#byIndex.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, seen]) => {
        const { index: _index, ...call } = seen.call;
        return { ...call, function: { name: seen.name, arguments: seen.redactor.text } };
      });
  }
}
