/**
 * Finished spans sent to the collector in batches, off the request path: `add` only queues (a
 * bounded queue; past it spans are dropped and counted), and one export at a time runs from a
 * timer or when a batch is full. A collector that is down, slow or refusing costs spans, never a
 * request: an export is bounded by its timeout and its failure drops that batch (counted).
 */
import { Pool } from 'undici';
import type { TelemetryConfig } from './config.ts';
import { encodeJson, encodeProtobuf, type Scope } from './otlp-encode.ts';
import type { Resource, SpanData } from './span-data.ts';
import type { SpanSink } from './tracer.ts';

/** Spans per export request (the SDKs' OTEL_BSP_MAX_EXPORT_BATCH_SIZE default). */
const BATCH = 512;

export interface ExportCounts {
  /** Spans the collector accepted. */
  exported: number;
  /** Spans lost: the queue was full, or their export failed. */
  dropped: number;
}

export class SpanExporter implements SpanSink {
  readonly #config: TelemetryConfig;
  readonly #resource: Resource;
  readonly #scope: Scope;
  readonly #onError: (message: string) => void;
  #queue: SpanData[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastError = '';
  readonly counts: ExportCounts = { exported: 0, dropped: 0 };
  /**
   * One kept-alive connection to the collector (one export runs at a time): undici's request, as
   * the providers use it. Node's fetch cost 3.5 % of the API's CPU at 100 % sampling, most of
   * tracing's cost (a CPU profile under `npm run bench -- traces`).
   */
  readonly #pool: Pool;
  readonly #path: string;

  constructor(config: TelemetryConfig, scope: Scope, onError: (message: string) => void) {
    this.#config = config;
    const url = new URL(config.url);
    this.#pool = new Pool(url.origin, { connections: 1, keepAliveTimeout: 30_000 });
    this.#path = `${url.pathname}${url.search}`;
    this.#resource = { attributes: config.resource };
    this.#scope = scope;
    this.#onError = onError;
  }

  add(span: SpanData): void {
    if (this.#queue.length >= this.#config.maxQueue) {
      this.counts.dropped++;
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= BATCH) this.#kick();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#kick(), this.#config.scheduleDelayMs);
      this.#timer.unref();
    }
  }

  /** Starts an export now, unless one is running (it goes on with the rest when done). */
  #kick(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  /** Exports everything queued now, a batch at a time. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, BATCH);
      await this.#send(batch);
    }
  }

  async #send(batch: SpanData[]): Promise<void> {
    const c = this.#config;
    const json = c.protocol === 'http/json';
    try {
      const body = json
        ? encodeJson(this.#resource, this.#scope, batch)
        : encodeProtobuf(this.#resource, this.#scope, batch);
      const res = await this.#pool.request({
        path: this.#path,
        method: 'POST',
        headers: { ...c.headers, 'content-type': json ? 'application/json' : 'application/x-protobuf' },
        body,
        signal: AbortSignal.timeout(c.timeoutMs),
      });
      await res.body.dump();
      if (res.statusCode < 200 || res.statusCode >= 300)
        throw new Error(`the collector answered ${res.statusCode}`);
      this.counts.exported += batch.length;
      this.#lastError = '';
    } catch (err) {
      this.counts.dropped += batch.length;
      const message =
        err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
          ? `no answer within ${c.timeoutMs} ms`
          : err instanceof Error && err.message.startsWith('the collector')
            ? err.message
            : 'the collector cannot be reached';
      // One line per change of trouble, not one per batch.
      if (message !== this.#lastError)
        this.#onError(`spans not exported to ${new URL(c.url).origin}: ${message}`);
      this.#lastError = message;
    }
  }

  /** Exports what is queued, waiting at most `ms` (shutdown). */
  async flush(ms: number): Promise<void> {
    this.#kick();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      (async () => {
        for (let i = 0; i < 100 && (this.#running || this.#queue.length > 0); i++) {
          await this.#running;
          if (this.#queue.length > 0 && !this.#running) this.#kick();
        }
      })(),
      new Promise((r) => {
        timer = setTimeout(r, ms);
      }),
    ]);
    clearTimeout(timer);
  }
}
