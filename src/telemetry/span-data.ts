/** A finished span as it is exported: OTLP's fields, in robbie's own plain types. */

/** OTLP's SpanKind. */
export const SpanKind = { internal: 1, server: 2, client: 3 } as const;
export type SpanKindValue = (typeof SpanKind)[keyof typeof SpanKind];

/** OTLP's Status.StatusCode: unset, ok, error. */
export type StatusCode = 0 | 1 | 2;

/** What an attribute may hold: OTLP's string, bool, int (a whole number), double, or an array of strings. */
export type AttributeValue = string | number | boolean | readonly string[];
export type Attributes = Record<string, AttributeValue>;

export interface SpanData {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits. */
  spanId: string;
  parentSpanId?: string | undefined;
  name: string;
  kind: SpanKindValue;
  /** Unix epoch milliseconds, with fractions. */
  startMs: number;
  endMs: number;
  attributes: Attributes;
  status: StatusCode;
  statusMessage?: string | undefined;
}

/** What every span of a process is from: `service.name` and the user's resource attributes. */
export interface Resource {
  attributes: Attributes;
}

/** Unix epoch milliseconds now, to the microsecond (the monotonic clock from the process's start). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
