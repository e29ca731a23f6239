/**
 * Spans as robbie makes them: a SERVER span per request continuing the caller's `traceparent`,
 * CLIENT spans per model attempt under it, INTERNAL spans for the store and the cache, and the
 * supervisor's events. A span that is not sampled still has ids (the `traceparent` sent on to the
 * provider carries them) but records nothing; with tracing off every span is such a one.
 */
import type { TelemetryConfig } from './config.ts';
import {
  type Attributes,
  type AttributeValue,
  nowMs,
  type SpanData,
  SpanKind,
  type SpanKindValue,
} from './span-data.ts';
import { type ParentContext, parseTraceparent, randomHex } from './trace-context.ts';

/** Where finished spans go (the exporter). */
export interface SpanSink {
  add(span: SpanData): void;
}

export class Span {
  readonly traceId: string;
  readonly sampled: boolean;
  /** Made when first read: a span that records nothing and calls nobody (a store write with tracing off) needs none. */
  #spanId: string | undefined;
  /** Undefined when the span records nothing. */
  readonly #data: SpanData | undefined;
  readonly #sink: SpanSink | undefined;

  /** Whether its spans may carry message content (the user opted in). */
  readonly captureContent: boolean;

  constructor(
    traceId: string,
    sampled: boolean,
    recording: { sink: SpanSink; name: string; kind: SpanKindValue; parent?: string | undefined } | undefined,
    attributes?: Attributes,
    captureContent = false,
  ) {
    this.traceId = traceId;
    this.sampled = sampled;
    this.captureContent = captureContent;
    this.#sink = recording?.sink;
    this.#data = recording
      ? {
          traceId,
          spanId: this.spanId,
          parentSpanId: recording.parent,
          name: recording.name,
          kind: recording.kind,
          startMs: nowMs(),
          endMs: 0,
          attributes: attributes ? { ...attributes } : {},
          status: 0,
        }
      : undefined;
  }

  get spanId(): string {
    this.#spanId ??= randomHex(8);
    return this.#spanId;
  }

  /** Whether the span is kept: callers skip work that only a span would read. */
  get recorded(): boolean {
    return this.#data !== undefined;
  }

  /** The span's data while it may still change (not ended). */
  get #open(): SpanData | undefined {
    const d = this.#data;
    return d && d.endMs === 0 ? d : undefined;
  }

  /** The W3C context that makes a callee's span this one's child. */
  get traceparent(): string {
    return `00-${this.traceId}-${this.spanId}-${this.sampled ? '01' : '00'}`;
  }

  set(key: string, value: AttributeValue | undefined | null): this {
    const d = this.#open;
    if (d && value !== undefined && value !== null) d.attributes[key] = value;
    return this;
  }

  rename(name: string): this {
    const d = this.#open;
    if (d) d.name = name;
    return this;
  }

  /** An error ended what the span covers: `error.type` names its kind, the status says error. */
  fail(type: string, message?: string): this {
    const d = this.#open;
    if (!d) return this;
    d.attributes['error.type'] = type;
    d.status = 2;
    if (message) d.statusMessage = message.slice(0, 200);
    return this;
  }

  /** A span under this one, recorded when this one is (even once this one has ended: a stream outlives its request's handler). */
  child(name: string, kind: SpanKindValue, attributes?: Attributes): Span {
    const sink = this.#sink;
    return new Span(
      this.traceId,
      this.sampled,
      sink && this.#data ? { sink, name, kind, parent: this.spanId } : undefined,
      attributes,
      this.captureContent,
    );
  }

  /** Ends the span (once) and hands it to the exporter. */
  end(): void {
    const d = this.#open;
    if (!d) return;
    d.endMs = nowMs();
    this.#sink?.add(d);
  }
}

type Sampler = TelemetryConfig['sampler'];

export class Tracer {
  readonly #sink: SpanSink | undefined;
  readonly #sampler: Sampler;
  readonly #ratio: number;
  /** Whether spans may carry message content (the user opted in). */
  readonly captureContent: boolean;

  constructor(sink?: SpanSink, config?: Pick<TelemetryConfig, 'sampler' | 'ratio' | 'captureContent'>) {
    this.#sink = sink;
    this.#sampler = config?.sampler ?? 'parentbased_always_on';
    this.#ratio = config?.ratio ?? 1;
    this.captureContent = config?.captureContent ?? false;
  }

  get enabled(): boolean {
    return this.#sink !== undefined;
  }

  /** The sampling decision for a span without a parent in this process. */
  #keep(traceId: string, parent: ParentContext | undefined): boolean {
    const s = this.#sampler;
    if (parent && s.startsWith('parentbased_')) return parent.sampled;
    if (s.endsWith('always_on')) return true;
    if (s.endsWith('always_off')) return false;
    // The trace id's last 52 bits as a fraction: the same trace is kept or not everywhere.
    return Number.parseInt(traceId.slice(19), 16) / 2 ** 52 < this.#ratio;
  }

  /** A SERVER span for a request: the caller's trace continues when its `traceparent` is valid. */
  server(name: string, traceparent: string | undefined, attributes?: Attributes): Span {
    const parent = parseTraceparent(traceparent);
    const traceId = parent?.traceId ?? randomHex(16);
    const sampled = this.#keep(traceId, parent);
    const sink = this.#sink;
    return new Span(
      traceId,
      sampled,
      sink && sampled ? { sink, name, kind: SpanKind.server, parent: parent?.spanId } : undefined,
      attributes,
      this.captureContent,
    );
  }

  /** Something that happened at one instant (a supervisor event): a span of its own trace, ended at once. */
  event(name: string, attributes: Attributes): void {
    const sink = this.#sink;
    if (!sink) return;
    const traceId = randomHex(16);
    if (!this.#keep(traceId, undefined)) return;
    new Span(traceId, true, { sink, name, kind: SpanKind.internal }, attributes).end();
  }
}

/** Tracing off: spans with ids, recording nothing. */
export const NO_TRACING = new Tracer();
