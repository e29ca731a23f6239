/** The OTLP settings, the sampler and the span encoding (checked with OpenTelemetry's own decoder). */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { resolveSettings } from '../../src/config/resolve.ts';
import { fromEnv } from '../../src/config/sources.ts';
import { ConfigError } from '../../src/errors.ts';
import { telemetryConfig } from '../../src/telemetry/config.ts';
import { encodeProtobuf } from '../../src/telemetry/otlp-encode.ts';
import type { SpanData } from '../../src/telemetry/span-data.ts';
import { type SpanSink, Tracer } from '../../src/telemetry/tracer.ts';

const configOf = (env: NodeJS.ProcessEnv) => telemetryConfig(resolveSettings([fromEnv(env)]));

describe('OTLP settings', () => {
  it('are off without an endpoint, and take the SDKs’ variables', () => {
    assert.equal(configOf({}), undefined);
    const c = configOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%3D%3D, tenant=t1',
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored,region=eu',
      OTEL_SERVICE_NAME: 'edge',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    assert.equal(c?.url, 'http://127.0.0.1:4318/v1/traces');
    assert.deepEqual(c?.headers, { 'x-api-key': 'abc==', tenant: 't1' });
    assert.equal(c?.resource['service.name'], 'edge');
    assert.equal(c?.resource.region, 'eu');
    assert.equal(c?.timeoutMs, 2500, 'a bare number is milliseconds, as the SDKs read it');
    assert.equal(c?.ratio, 0.25);
    const traces = configOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9999/custom',
    });
    assert.equal(traces?.url, 'http://127.0.0.1:9999/custom', 'the traces endpoint is used as given');
  });

  it('refuse what cannot work, naming the variable and never a header value', () => {
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
    assert.throws(
      () => configOf({ ...on, OTEL_EXPORTER_OTLP_HEADERS: 'authorization Bearer s3cret' }),
      (e: ConfigError) =>
        e instanceof ConfigError &&
        /OTEL_EXPORTER_OTLP_HEADERS/.test(e.message) &&
        !e.message.includes('s3cret'),
    );
    assert.throws(() => configOf({ ...on, OTEL_TRACES_SAMPLER_ARG: '1.5' }), /OTEL_TRACES_SAMPLER_ARG/);
    assert.throws(
      () => configOf({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
      /http\/protobuf, http\/json/,
    );
    assert.throws(() => configOf({ ...on, OTEL_TRACES_SAMPLER: 'jaeger_remote' }), /OTEL_TRACES_SAMPLER/);
  });
});

class Collect implements SpanSink {
  spans: SpanData[] = [];
  add(s: SpanData) {
    this.spans.push(s);
  }
}

describe('sampling', () => {
  const caller = (trace: string, flags: string) => `00-${trace}-00f067aa0ba902b7-${flags}`;
  it('parentbased follows the caller; a new trace is kept by the ratio of its id', () => {
    const sink = new Collect();
    const t = new Tracer(sink, { sampler: 'parentbased_traceidratio', ratio: 0.5, captureContent: false });
    t.server('GET', caller('1'.repeat(32), '01')).end();
    t.server('GET', caller('2'.repeat(32), '00')).end();
    assert.deepEqual(
      sink.spans.map((s) => s.traceId),
      ['1'.repeat(32)],
    );
    // The ratio decides by the id's last 52 bits: low ones are kept, high ones are not.
    const low = `${'a'.repeat(19)}${'0'.repeat(13)}`;
    const high = `${'a'.repeat(19)}${'f'.repeat(13)}`;
    const ratio = new Tracer(sink, { sampler: 'traceidratio', ratio: 0.5, captureContent: false });
    const kept = ratio.server('GET', caller(low, '00'));
    const dropped = ratio.server('GET', caller(high, '01'));
    assert.equal(kept.recorded, true, 'traceidratio ignores the caller’s flag');
    assert.equal(dropped.recorded, false);
    assert.match(dropped.traceparent, new RegExp(`^00-${high}-[0-9a-f]{16}-00$`));
  });

  it('children of a span that is not kept record nothing, and still carry the trace', () => {
    const sink = new Collect();
    const t = new Tracer(sink, { sampler: 'always_off', ratio: 1, captureContent: false });
    const root = t.server('POST', undefined);
    const child = root.child('chat m', 3);
    child.set('x', 1).end();
    root.end();
    assert.equal(sink.spans.length, 0);
    assert.equal(child.traceId, root.traceId);
  });
});

describe('the protobuf encoding', () => {
  it('decodes with opentelemetry-proto’s own definitions: nesting past 127 bytes, UTF-8, every value kind', () => {
    const require = createRequire(import.meta.url);
    const proto = require('otlp-proto/build/src/generated/root.js');
    const Request = proto.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
    const long = 'é€𝄞'.repeat(100);
    const span: SpanData = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      parentSpanId: '00f067aa0ba902b7',
      name: 'chat gpt-4o',
      kind: 3,
      startMs: 1_700_000_000_123.456,
      endMs: 1_700_000_000_125.5,
      attributes: { long, int: 5, big: 2 ** 40, neg: -3, double: 0.25, yes: true, list: ['stop', 'length'] },
      status: 2,
      statusMessage: 'upstream 500',
    };
    const bytes = encodeProtobuf(
      { attributes: { 'service.name': 'robbie' } },
      { name: 'robbie', version: '1' },
      Array.from({ length: 40 }, () => span),
    );
    const o = Request.toObject(Request.decode(bytes), { longs: String, bytes: String });
    const spans = o.resourceSpans[0].scopeSpans[0].spans;
    assert.equal(spans.length, 40);
    const s = spans[39];
    assert.equal(Buffer.from(s.traceId, 'base64').toString('hex'), span.traceId);
    assert.equal(Buffer.from(s.parentSpanId, 'base64').toString('hex'), span.parentSpanId);
    assert.equal(s.startTimeUnixNano, '1700000000123456000');
    assert.equal(s.endTimeUnixNano, '1700000000125500000');
    const attrs = Object.fromEntries(
      s.attributes.map((kv: { key: string; value: Record<string, unknown> }) => [kv.key, kv.value]),
    );
    assert.equal(attrs.long.stringValue, long);
    assert.equal(attrs.int.intValue, '5');
    assert.equal(attrs.big.intValue, String(2 ** 40));
    assert.equal(attrs.neg.intValue, '-3');
    assert.equal(attrs.double.doubleValue, 0.25);
    assert.equal(attrs.yes.boolValue, true);
    assert.deepEqual(attrs.list.arrayValue.values, [{ stringValue: 'stop' }, { stringValue: 'length' }]);
    assert.deepEqual(s.status, { message: 'upstream 500', code: 2 });
    assert.equal(o.resourceSpans[0].resource.attributes[0].value.stringValue, 'robbie');
  });
});
