/**
 * Which models a provider serves: a list, any name (`*`), or what the upstream itself lists
 * (OpenAI's `GET /models`, Ollama's `GET /api/tags`), discovered in the background — at start,
 * then every `ROBBIE_MODELS_REFRESH` — and never on a request's path. The models the settings name for the
 * services are served too, whatever the upstream lists.
 */
import type { Serves } from './providers-config.ts';

/** How long a listing may take before it is given up (the previous list stays). */
const LISTING_TIMEOUT_MS = 10_000;

export class Catalog {
  readonly #serves: Serves;
  readonly #configured: ReadonlySet<string>;
  /** The upstream's own list, once read; undefined until then (or when it cannot be read). */
  #listed: ReadonlySet<string> | undefined;
  readonly #list: ((signal: AbortSignal) => Promise<string[]>) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    serves: Serves,
    configured: Iterable<string>,
    list?: (signal: AbortSignal) => Promise<string[]>,
  ) {
    this.#serves = serves;
    this.#configured = new Set(configured);
    this.#list = serves === 'discover' ? list : undefined;
  }

  /**
   * Serves `model`: configured, listed, or any name for `*`. Until the upstream's list has been
   * read (it is down, or slow to answer), any name is tried: the upstream refuses one it lacks.
   */
  serves(model: string): boolean {
    if (this.#configured.has(model)) return true;
    if (this.#serves === '*') return true;
    if (Array.isArray(this.#serves)) return this.#serves.includes(model);
    return this.#listed === undefined || this.#listed.has(model);
  }

  /** The names it is known to serve (for GET /v1/models): configured, listed, discovered. */
  known(): string[] {
    const names = new Set(this.#configured);
    if (Array.isArray(this.#serves)) for (const m of this.#serves) names.add(m);
    for (const m of this.#listed ?? []) names.add(m);
    return [...names];
  }

  /** Reads the upstream's list now, then every `everyMs` (the timer never keeps the process up). */
  start(everyMs: number, onError: (error: string) => void): void {
    if (!this.#list || this.#timer) return;
    const read = async () => {
      try {
        const listed = await (this.#list as (signal: AbortSignal) => Promise<string[]>)(
          AbortSignal.timeout(LISTING_TIMEOUT_MS),
        );
        this.#listed = new Set(listed);
      } catch (err) {
        onError(err instanceof Error ? err.message : String(err));
      }
    };
    void read();
    this.#timer = setInterval(read, everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
