/**
 * The price table: what a model's tokens cost, per million, prompt and completion apart, as the
 * user sets it (`--prices-file`, and each provider's `prices` in the providers file), by model or
 * by `provider/model`. A model without a price has an unknown cost: recorded as unknown, never as 0.
 */
import type { TokenUsage } from '../api/providers/types.ts';

export interface Price {
  /** Per million prompt tokens. */
  input: number;
  /** Per million completion tokens. */
  output: number;
}

export class Prices {
  readonly #table: ReadonlyMap<string, Price>;

  constructor(table: ReadonlyMap<string, Price> = new Map()) {
    this.#table = table;
  }

  /**
   * The cost of this usage of `model` served by `provider` (its own price for the model first), or
   * null when its price or the split of its usage is unknown.
   */
  cost(provider: string | undefined, model: string, usage: TokenUsage): number | null {
    const price = (provider && this.#table.get(`${provider}/${model}`)) || this.#table.get(model);
    if (!price) return null;
    if (usage.prompt === null && usage.completion === null) return null;
    return ((usage.prompt ?? 0) * price.input + (usage.completion ?? 0) * price.output) / 1_000_000;
  }
}

/** The prices file's entries checked: `{"model": {"input": 0.15, "output": 0.6}}`; `refuse` says why not. */
export function pricesFrom(parsed: unknown, refuse: (problem: string) => Error): Map<string, Price> {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw refuse('must name a JSON object of {"model": {"input": n, "output": n}} (per million tokens)');
  }
  const table = new Map<string, Price>();
  for (const [model, p] of Object.entries(parsed)) {
    const o = (p ?? {}) as Record<string, unknown>;
    const ok = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
    if (!ok(o.input) || !ok(o.output))
      throw refuse(`${model}: "input" and "output" must be prices of at least 0`);
    table.set(model, { input: o.input as number, output: o.output as number });
  }
  return table;
}
