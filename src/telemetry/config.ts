/**
 * What the OTEL_* settings ask for, checked once: where spans go and how, which traces are kept,
 * and the resource every span is from. Undefined when no endpoint is set: tracing is off.
 */
import type { Resolved } from '../config/resolve.ts';
import { settingError } from '../config/resolve.ts';
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

/** `k=v,k2=v2` with URL-encoded values (W3C Baggage's form, as the OTEL_* variables use it); undefined if malformed. */
function pairs(items: readonly string[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) return undefined;
    try {
      out[item.slice(0, eq).trim()] = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return out;
}

export function telemetryConfig(s: Resolved): TelemetryConfig | undefined {
  const v = s.values;
  const base = v['otel-endpoint'];
  const url = v['otel-traces-endpoint'] ?? (base ? `${base}/v1/traces` : undefined);
  if (!url) return undefined;
  const headers = pairs(v['otel-headers'] ?? []);
  if (!headers)
    throw settingError(
      'otel-headers',
      s.origins['otel-headers'],
      'must be key=value pairs separated by commas',
    );
  const attrs = pairs(v['otel-resource-attributes'] ?? []);
  if (!attrs) {
    throw settingError(
      'otel-resource-attributes',
      s.origins['otel-resource-attributes'],
      'must be key=value pairs separated by commas',
    );
  }
  const arg = v['otel-traces-sampler-arg'];
  const ratio = arg === undefined ? 1 : Number(arg);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1 || arg?.trim() === '') {
    throw settingError(
      'otel-traces-sampler-arg',
      s.origins['otel-traces-sampler-arg'],
      `must be a number from 0 to 1 (got '${arg}')`,
    );
  }
  return {
    url,
    protocol: v['otel-protocol'],
    headers,
    timeoutMs: v['otel-timeout'],
    scheduleDelayMs: v['otel-schedule-delay'],
    maxQueue: v['otel-max-queue'],
    // OTEL_SERVICE_NAME wins over a service.name among the attributes, as the SDKs do.
    resource: { ...attrs, 'service.name': v['otel-service-name'], 'service.version': VERSION },
    sampler: v['otel-traces-sampler'],
    ratio,
    captureContent: v['otel-capture-content'],
  };
}
