/**
 * A process's tracing from its settings: a tracer whose spans go to the OTLP exporter, or, with no
 * endpoint set, one that records nothing (tracing off costs an id per span and nothing more).
 *
 * The exporter is robbie's own rather than the OpenTelemetry JS SDK's. Measured on this project's
 * 2-core machines with Node 24: importing @opentelemetry/sdk-trace 3.1, its OTLP protobuf exporter
 * and resources takes 140–200 ms, and its spans cost 20–30 µs per request of three spans
 * (BatchSpanProcessor and ProtobufTraceSerializer, `npm run bench -- traces` shows robbie's); its
 * BatchSpanProcessor keeps its dropped-span count private, and the SDK reads process.env itself
 * where robbie's settings come from flags, env files and the supervisor.
 */
import type { Logger } from '../logger/logger.ts';
import { VERSION } from '../runtime/version.ts';
import type { TelemetryConfig } from './config.ts';
import { SpanExporter } from './exporter.ts';
import { NO_TRACING, Tracer } from './tracer.ts';

export interface Tracing {
  tracer: Tracer;
  /** Undefined when tracing is off. */
  exporter: SpanExporter | undefined;
}

export function startTracing(config: TelemetryConfig | undefined, log: Logger): Tracing {
  if (!config) return { tracer: NO_TRACING, exporter: undefined };
  const exporter = new SpanExporter(config, { name: 'robbie', version: VERSION }, (message) =>
    log.warn(message),
  );
  log.debug('tracing', {
    to: new URL(config.url).origin,
    protocol: config.protocol,
    sampler: config.sampler,
  });
  return { tracer: new Tracer(exporter, config), exporter };
}
