/**
 * What the OTEL_* settings ask for (each checked by its codec in the settings table): where spans go and how, which traces are kept,
 * and the resource every span is from. Undefined when no endpoint is set: tracing is off.
 */
import type { Resolved } from '../config/resolve.ts';
import type { TRACE_SAMPLERS } from '../config/settings.ts';
import { VERSION } from '../runtime/version.ts';
import type { Attributes } from './span-data.ts';

export interface TelemetryConfig {
  /** The traces URL itself (`…/v1/traces`). */
  url: string;
  protocol: 'http/protobuf' | 'http/json';
  headers: Record<string, string>;
  timeoutMs: number;
  scheduleDelayMs: number;
  maxQueue: number;
  resource: Attributes;
  sampler: (typeof TRACE_SAMPLERS)[number];
  /** The share of new traces kept by the traceidratio samplers, 0 to 1. */
  ratio: number;
  captureContent: boolean;
}

export function telemetryConfig(s: Resolved): TelemetryConfig | undefined {
  const v = s.values;
  const base = v['otel-endpoint'];
  const url = v['otel-traces-endpoint'] ?? (base ? `${base}/v1/traces` : undefined);
  if (!url) return undefined;
  return {
    url,
    protocol: v['otel-protocol'],
    headers: v['otel-headers'] ?? {},
    timeoutMs: v['otel-timeout'],
    scheduleDelayMs: v['otel-schedule-delay'],
    maxQueue: v['otel-max-queue'],
    // OTEL_SERVICE_NAME wins over a service.name among the attributes, as the SDKs do.
    resource: {
      ...v['otel-resource-attributes'],
      'service.name': v['otel-service-name'],
      'service.version': VERSION,
    },
    sampler: v['otel-traces-sampler'],
    ratio: v['otel-traces-sampler-arg'] ?? 1,
    captureContent: v['otel-capture-content'],
  };
}
