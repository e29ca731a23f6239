/**
 * Prometheus metrics (prom-client): HTTP requests and durations by route template, universal
 * requests by outcome, model calls, circuit state, storage state, and the process defaults.
 * Each process has its own registry.
 */
import type { MiddlewareHandler } from 'hono';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ExportCounts } from '../telemetry/exporter.ts';
import { TrafficMeter } from '../telemetry/traffic.ts';
import type { Answer } from './pipeline/outcome.ts';
import type { CircuitState } from './providers/circuit-breaker.ts';
import type { ModelMetrics, Service } from './providers/model-router.ts';
import type { TokenUsage } from './providers/types.ts';
import type { AppEnv } from './types.ts';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };
/** Client-chosen `source` values beyond this many are counted as "other", to bound cardinality. */
const MAX_SOURCES = 50;
/** Key names beyond this many are counted as "other" (10,000 keys must not make 10,000 series). */
const MAX_KEYS = 100;
/**
 * How often the event-loop delay is sampled (prom-client's `nodejs_eventloop_lag_*`), in ms. Its
 * default, 10, wakes an idle process a hundred times a second: 7.6 ms of CPU a second here, doing
 * nothing. A tenth of that still catches any stall long enough to matter to a client.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

export interface StorageGauges {
  info(): Promise<{ database_up: boolean; outbox_pending: number }>;
}

/** The requests the dashboard's traffic counts: the universal route and the OpenAI and Anthropic APIs under /v1. */
export function isGatewayPath(path: string): boolean {
  return path === '/api/v2/universal/request' || path.startsWith('/v1/');
}

export class Metrics implements ModelMetrics {
  readonly registry = new Registry();
  /** This process's traffic since its last sample, for the dashboard's hour of history. */
  readonly traffic = new TrafficMeter();
  readonly #httpTotal: Counter;
  readonly #httpDuration: Histogram;
  readonly #universal: Counter;
  readonly #modelDuration: Histogram;
  readonly #modelFailures: Counter;
  readonly #cache: Counter;
  readonly #firstToken: Histogram;
  readonly #streamDuration: Histogram;
  readonly #streamsCut: Counter;
  readonly #sources = new Set<string>();
  readonly #keys = new Set<string>();
  readonly #keyRequests: Counter;
  readonly #keyTokens: Counter;
  readonly #keyCost: Counter;

  constructor(
    version: string,
    circuits: () => { provider: string; state: CircuitState }[],
    storage: StorageGauges | undefined,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    new Gauge({ name: 'robbie_build_info', help: 'robbie build', labelNames: ['version'], registers }).set(
      { version },
      1,
    );
    this.#httpTotal = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: BUCKETS,
      registers,
    });
    this.#universal = new Counter({
      name: 'robbie_universal_requests_total',
      help: 'Universal requests by outcome, AI service and source',
      labelNames: ['status', 'service', 'source'],
      registers,
    });
    this.#modelDuration = new Histogram({
      name: 'robbie_model_call_duration_seconds',
      help: 'Model calls by provider, service and outcome',
      labelNames: ['provider', 'service', 'outcome'],
      buckets: BUCKETS,
      registers,
    });
    this.#modelFailures = new Counter({
      name: 'robbie_model_call_failures_total',
      help: 'Failed model calls by provider and reason (timeout, unavailable, circuit_open)',
      labelNames: ['provider', 'reason'],
      registers,
    });
    this.#cache = new Counter({
      name: 'robbie_answer_cache_total',
      help: 'Answer cache lookups: hit, miss, and stale (served while every provider was down)',
      labelNames: ['result'],
      registers,
    });
    this.#firstToken = new Histogram({
      name: 'robbie_stream_first_token_seconds',
      help: 'Streamed answers: time from the request to the first piece sent, by provider',
      labelNames: ['provider'],
      buckets: BUCKETS,
      registers,
    });
    this.#streamDuration = new Histogram({
      name: 'robbie_stream_duration_seconds',
      help: 'Streamed answers: time from the request to the end of the stream, by how it ended',
      labelNames: ['provider', 'end'],
      buckets: BUCKETS,
      registers,
    });
    this.#streamsCut = new Counter({
      name: 'robbie_streams_aborted_total',
      help: 'Streamed answers that ended early: cut (the client left) or broken (the provider stopped)',
      labelNames: ['provider', 'end'],
      registers,
    });
    this.#keyRequests = new Counter({
      name: 'robbie_key_requests_total',
      help: 'Requests by API key name (the first 100 keys seen; later ones as "other") and outcome',
      labelNames: ['key', 'status'],
      registers,
    });
    this.#keyTokens = new Counter({
      name: 'robbie_key_tokens_total',
      help: 'Tokens by API key name and type (prompt, completion), as the providers reported them',
      labelNames: ['key', 'type'],
      registers,
    });
    this.#keyCost = new Counter({
      name: 'robbie_key_cost_total',
      help: 'Cost by API key name, from the price table (requests of unknown price not counted)',
      labelNames: ['key'],
      registers,
    });
    new Gauge({
      name: 'robbie_model_circuit_state',
      help: 'Circuit breaker per provider: 0 closed, 1 half-open, 2 open',
      labelNames: ['provider'],
      registers,
      collect() {
        for (const c of circuits()) this.set({ provider: c.provider }, CIRCUIT_VALUE[c.state]);
      },
    });
    if (storage) {
      const up = new Gauge({ name: 'robbie_database_up', help: '1 when the database answers', registers });
      new Gauge({
        name: 'robbie_outbox_pending',
        help: 'Writes waiting in the local outbox for the database',
        registers,
        async collect() {
          const info = await storage.info().catch(() => undefined);
          if (!info) return;
          this.set(info.outbox_pending);
          up.set(info.database_up ? 1 : 0);
        },
      });
    }
  }

  /** The span exporter's counts, read at each scrape: spans exported, and dropped (a full queue, a failed export). */
  traceExport(counts: ExportCounts): void {
    for (const [name, field, help] of [
      ['robbie_trace_spans_exported_total', 'exported', 'Spans the OTLP collector accepted'],
      [
        'robbie_trace_spans_dropped_total',
        'dropped',
        'Spans not exported: the queue was full or their export failed',
      ],
    ] as const) {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(counts[field]);
        },
      });
    }
  }

  middleware(): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      const start = performance.now();
      await next();
      if (isGatewayPath(c.req.path)) this.traffic.request(performance.now() - start, c.res.status);
      const labels = {
        method: c.req.method,
        route: c.req.routePath || 'unmatched',
        status: String(c.res.status),
      };
      if (c.res.status === 404 && labels.route === '/*') labels.route = 'unmatched';
      this.#httpTotal.inc(labels);
      this.#httpDuration.observe(labels, (performance.now() - start) / 1000);
    };
  }

  universal(status: string, service: string, source: string): void {
    if (!this.#sources.has(source) && this.#sources.size < MAX_SOURCES) this.#sources.add(source);
    this.#universal.inc({ status, service, source: this.#sources.has(source) ? source : 'other' });
  }

  /** A key's request, its outcome and what it used. */
  keyRequest(name: string, status: string, usage: TokenUsage | null, cost: number | null = null): void {
    if (!this.#keys.has(name) && this.#keys.size < MAX_KEYS) this.#keys.add(name);
    const key = this.#keys.has(name) ? name : 'other';
    this.#keyRequests.inc({ key, status });
    if (usage?.prompt) this.#keyTokens.inc({ key, type: 'prompt' }, usage.prompt);
    if (usage?.completion) this.#keyTokens.inc({ key, type: 'completion' }, usage.completion);
    if (cost) this.#keyCost.inc({ key }, cost);
  }

  observe(provider: string, service: Service, seconds: number, outcome: 'ok' | 'error'): void {
    this.#modelDuration.observe({ provider, service, outcome }, seconds);
  }

  failure(provider: string, reason: string): void {
    this.#modelFailures.inc({ provider, reason });
  }

  cache(result: 'hit' | 'miss' | 'stale'): void {
    this.#cache.inc({ result });
  }

  /** A model's answer as it was served: streams report their first piece, duration and end. */
  answered(a: Answer): void {
    if (!a.stream) return;
    if (a.firstTokenMs !== undefined)
      this.#firstToken.observe({ provider: a.provider }, a.firstTokenMs / 1000);
    this.#streamDuration.observe({ provider: a.provider, end: a.stream }, a.latencyMs / 1000);
    if (a.stream !== 'complete') this.#streamsCut.inc({ provider: a.provider, end: a.stream });
  }
}
