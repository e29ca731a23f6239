/**
 * ExportTraceServiceRequest in OTLP's two HTTP encodings: protobuf (the collectors' default) and
 * JSON. Written by hand for the few messages a span needs (opentelemetry-proto's
 * trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto): the OpenTelemetry JS
 * SDK's serializer takes the SDK's own span objects, and the SDK costs what robbie does not
 * spend (telemetry.ts says what was measured). The test receiver decodes what this writes with
 * the project's own generated definitions.
 */
import type { Attributes, AttributeValue, Resource, SpanData } from './span-data.ts';

export interface Scope {
  name: string;
  version: string;
}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH = 2;

/** A protobuf writer: nested messages are written in place, their length put in front when they close. */
class Writer {
  // A Buffer, for its in-place hex and UTF-8 writes (an id a Buffer.from less each).
  #buf = Buffer.alloc(4096);
  #view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  #pos = 0;
  readonly #open: number[] = [];

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = Buffer.alloc(size);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
    this.#view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  #varint(n: number): void {
    this.#room(10);
    if (n < 0) {
      // A negative int64 is its 64-bit two's complement: ten bytes.
      let v = BigInt.asUintN(64, BigInt(n));
      while (v > 0x7fn) {
        this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      this.#buf[this.#pos++] = Number(v);
      return;
    }
    // Division, not shifts: JavaScript's shifts stop at 32 bits.
    while (n > 0x7f) {
      this.#buf[this.#pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.#buf[this.#pos++] = n;
  }

  #tag(field: number, wire: number): void {
    this.#varint(field * 8 + wire);
  }

  uint(field: number, n: number): void {
    this.#tag(field, VARINT);
    this.#varint(n);
  }

  bool(field: number, b: boolean): void {
    this.uint(field, b ? 1 : 0);
  }

  double(field: number, n: number): void {
    this.#tag(field, FIXED64);
    this.#room(8);
    this.#view.setFloat64(this.#pos, n, true);
    this.#pos += 8;
  }

  /** Unix nanoseconds from epoch milliseconds. */
  nanos(field: number, ms: number): void {
    this.#tag(field, FIXED64);
    this.#room(8);
    this.#view.setBigUint64(this.#pos, nanosOf(ms), true);
    this.#pos += 8;
  }

  string(field: number, s: string): void {
    this.#tag(field, LENGTH);
    const max = s.length * 3;
    this.#room(10 + max);
    // Written after a length that fits the longest encoding, then moved up if shorter.
    const lengthAt = this.#pos;
    const room = varintSize(max);
    const written = this.#buf.write(s, lengthAt + room, 'utf8');
    const size = varintSize(written);
    if (size < room) this.#buf.copyWithin(lengthAt + size, lengthAt + room, lengthAt + room + written);
    this.#varint(written);
    this.#pos = lengthAt + size + written;
  }

  hex(field: number, hex: string): void {
    const length = hex.length >> 1;
    this.#tag(field, LENGTH);
    this.#varint(length);
    this.#room(length);
    this.#pos += this.#buf.write(hex, this.#pos, length, 'hex');
  }

  /** Opens an embedded message; `close` ends it. */
  open(field: number): void {
    this.#tag(field, LENGTH);
    this.#open.push(this.#pos);
  }

  close(): void {
    const start = this.#open.pop();
    if (start === undefined) throw new Error('no message is open');
    const length = this.#pos - start;
    const size = varintSize(length);
    // Room for the moved content and for the writer's own margin, so writing the length never grows the buffer.
    this.#room(size + 10);
    this.#buf.copyWithin(start + size, start, this.#pos);
    const end = this.#pos + size;
    this.#pos = start;
    this.#varint(length);
    this.#pos = end;
  }

  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }
}

function varintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Nanoseconds to the microsecond: an epoch in milliseconds holds no finer fraction as a double. */
function nanosOf(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e3)) * 1000n;
}

function anyValue(w: Writer, field: number, v: AttributeValue): void {
  w.open(field);
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') w.bool(2, v);
  else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) w.uint(3, v);
    else w.double(4, v);
  } else {
    w.open(5);
    for (const item of v) anyValue(w, 1, item);
    w.close();
  }
  w.close();
}

function attributes(w: Writer, field: number, attrs: Attributes): void {
  for (const key in attrs) {
    const value = attrs[key];
    if (value === undefined) continue;
    w.open(field);
    w.string(1, key);
    anyValue(w, 2, value);
    w.close();
  }
}

/** OTLP/HTTP protobuf: `application/x-protobuf`. */
export function encodeProtobuf(resource: Resource, scope: Scope, spans: readonly SpanData[]): Uint8Array {
  const w = new Writer();
  w.open(1); // ResourceSpans
  w.open(1); // Resource
  attributes(w, 1, resource.attributes);
  w.close();
  w.open(2); // ScopeSpans
  w.open(1); // InstrumentationScope
  w.string(1, scope.name);
  w.string(2, scope.version);
  w.close();
  for (const s of spans) {
    w.open(2);
    w.hex(1, s.traceId);
    w.hex(2, s.spanId);
    if (s.parentSpanId) w.hex(4, s.parentSpanId);
    w.string(5, s.name);
    w.uint(6, s.kind);
    w.nanos(7, s.startMs);
    w.nanos(8, s.endMs);
    attributes(w, 9, s.attributes);
    if (s.status !== 0 || s.statusMessage) {
      w.open(15);
      if (s.statusMessage) w.string(2, s.statusMessage);
      w.uint(3, s.status);
      w.close();
    }
    w.close();
  }
  w.close();
  w.close();
  return w.finish();
}

type JsonAny =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: JsonAny[] } };

function jsonAny(v: AttributeValue): JsonAny {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  return { arrayValue: { values: v.map(jsonAny) } };
}

function jsonAttributes(attrs: Attributes): { key: string; value: JsonAny }[] {
  return Object.entries(attrs).map(([key, value]) => ({ key, value: jsonAny(value) }));
}

/** OTLP/HTTP JSON (`application/json`): ids in hex, 64-bit integers as strings. */
export function encodeJson(resource: Resource, scope: Scope, spans: readonly SpanData[]): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: jsonAttributes(resource.attributes) },
        scopeSpans: [
          {
            scope,
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: s.kind,
              startTimeUnixNano: String(nanosOf(s.startMs)),
              endTimeUnixNano: String(nanosOf(s.endMs)),
              attributes: jsonAttributes(s.attributes),
              status: { code: s.status, ...(s.statusMessage ? { message: s.statusMessage } : {}) },
            })),
          },
        ],
      },
    ],
  });
}
