/**
 * Traces over OTLP from the built binary: a receiver on loopback decodes what robbie sends with
 * the OpenTelemetry project's own definitions and checks the span tree, names, attributes and the
 * caller's trace id; a collector that is slow or gone changes no answer and loses no request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FakeModel, startFakeModel } from '../helpers/fake-model.ts';
import { type ReceivedSpan, type Receiver, startReceiver } from '../helpers/otlp-receiver.ts';
import { freePort, killAll, sleep, waitFor } from '../helpers/process.ts';
import { sqliteRows } from '../helpers/serve.ts';
import { serveInTempHome, startSupervisor } from '../helpers/supervisor.ts';

after(killAll);

const KEY = 'alice:alice-key-1234567890';
const auth = { authorization: 'Bearer alice-key-1234567890', 'content-type': 'application/json' };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

/** The spans of one trace, once its SERVER span and `more` other spans have arrived. */
async function traceOf(rx: Receiver, traceId: string, more: number): Promise<ReceivedSpan[]> {
  return waitFor(
    `the receiver to get the spans of trace ${traceId}`,
    () => {
      const spans = rx.spans.filter((s) => s.traceId === traceId);
      return spans.some((s) => s.kind === 2) && spans.length >= more + 1 ? spans : undefined;
    },
    20_000,
  );
}

const server = (spans: ReceivedSpan[]) => spans.find((s) => s.kind === 2) as ReceivedSpan;
const clients = (spans: ReceivedSpan[]) => spans.filter((s) => s.kind === 3);

describe('traces over OTLP (protobuf)', () => {
  let fake: FakeModel;
  let second: FakeModel;
  let rx: Receiver;
  let api: { port: number; home: string; stop: () => Promise<void> };
  const url = (p: string) => `http://127.0.0.1:${api.port}${p}`;
  before(async () => {
    fake = await startFakeModel();
    second = await startFakeModel();
    rx = await startReceiver();
    api = await serveInTempHome({
      OLLAMA_URL: fake.url,
      ROBBIE_PROVIDER: 'ollama',
      ROBBIE_FALLBACK: 'openai',
      OPENAI_BASE_URL: `${second.url}/v1`,
      ROBBIE_API_KEYS: KEY,
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SERVICE_NAME: 'gateway-under-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=ai%20platform',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
  });
  after(async () => {
    await api.stop();
    await fake.close();
    await second.close();
    await rx.close();
  });

  it('a universal request: a SERVER span continuing the caller, a CLIENT span per attempt, the store write', async () => {
    const res = await fetch(url('/api/v2/universal/request'), {
      method: 'POST',
      headers: { ...auth, traceparent: `00-${TRACE}-${CALLER_SPAN}-01` },
      body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'my secret plan' } }),
    });
    assert.equal(res.status, 200);
    const spans = await traceOf(rx, TRACE, 2);
    const root = server(spans);
    assert.equal(root.parentSpanId, CALLER_SPAN, 'the SERVER span continues the caller’s span');
    assert.equal(root.name, 'POST /api/v2/universal/request');
    assert.equal(root.attributes['http.response.status_code'], 200);
    assert.equal(root.attributes['robbie.key'], 'alice');
    assert.equal(root.resource['service.name'], 'gateway-under-test');
    assert.equal(root.resource['deployment.environment.name'], 'test');
    assert.equal(root.resource.team, 'ai platform');
    assert.equal(root.contentType, 'application/x-protobuf');
    const [attempt] = clients(spans);
    assert.ok(attempt);
    assert.equal(attempt.parentSpanId, root.spanId);
    assert.equal(attempt.name, 'chat llama3.1:8b');
    assert.equal(attempt.attributes['gen_ai.operation.name'], 'chat');
    assert.equal(attempt.attributes['gen_ai.provider.name'], 'ollama');
    assert.equal(attempt.attributes['gen_ai.request.model'], 'llama3.1:8b');
    assert.equal(attempt.attributes['gen_ai.response.model'], 'llama3.1:8b');
    assert.equal(attempt.attributes['gen_ai.usage.input_tokens'], 5);
    assert.equal(attempt.attributes['gen_ai.usage.output_tokens'], 7);
    assert.ok(attempt.startNs >= root.startNs && attempt.endNs <= root.endNs);
    // The provider was called as the attempt's child.
    assert.equal(fake.calls.at(-1)?.headers.traceparent, `00-${TRACE}-${attempt.spanId}-01`);
    const write = spans.find((s) => s.name === 'store write');
    assert.equal(write?.parentSpanId, root.spanId);
    assert.equal(write?.attributes['robbie.store.where'], 'database');
    // Message content only when the user opts in.
    for (const s of spans) {
      assert.ok(!JSON.stringify(s.attributes).includes('my secret plan'), `${s.name} carries no content`);
    }
  });

  it('an OpenAI stream: the attempt span lasts as long as the stream and carries its usage', async () => {
    const trace = 'a'.repeat(31) + '1';
    const res = await fetch(url('/v1/chat/completions'), {
      method: 'POST',
      headers: { ...auth, traceparent: `00-${trace}-${CALLER_SPAN}-01` },
      body: JSON.stringify({
        model: 'chat',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'count to three' }],
      }),
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /\[DONE\]/);
    const spans = await traceOf(rx, trace, 2);
    const root = server(spans);
    assert.equal(root.name, 'POST /v1/chat/completions');
    const [attempt] = clients(spans);
    assert.equal(attempt?.name, 'chat llama3.1:8b');
    assert.equal(attempt?.attributes['gen_ai.usage.output_tokens'], 7);
    // The stream's record is written after the handler returned: the SERVER span waits for it.
    const write = spans.find((s) => s.name === 'store write') as ReceivedSpan;
    assert.ok(root.endNs >= write.endNs, 'the SERVER span ends once the stream is recorded');
  });

  it('a fallback: the failed attempt and the one that answered, each its own CLIENT span', async () => {
    fake.mode = { kind: 'fail', status: 500 };
    const trace = 'b'.repeat(31) + '2';
    try {
      const res = await fetch(url('/api/v2/universal/request'), {
        method: 'POST',
        headers: { ...auth, traceparent: `00-${trace}-${CALLER_SPAN}-01` },
        body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'hello' } }),
      });
      assert.equal(res.status, 200);
    } finally {
      fake.mode = { kind: 'ok' };
    }
    const spans = await traceOf(rx, trace, 3);
    const attempts = clients(spans).sort((a, b) => Number(a.startNs - b.startNs));
    assert.equal(attempts.length, 2, 'two attempts');
    const [failed, answered] = attempts as [ReceivedSpan, ReceivedSpan];
    assert.equal(failed.attributes['gen_ai.provider.name'], 'ollama');
    assert.equal(failed.attributes['error.type'], 'status');
    assert.equal(failed.status, 2);
    assert.equal(answered.attributes['gen_ai.provider.name'], 'openai');
    assert.equal(answered.name, 'chat gpt-4o-mini');
    assert.equal(answered.attributes['error.type'], undefined);
    assert.equal(second.calls.at(-1)?.headers.traceparent, `00-${trace}-${answered.spanId}-01`);
  });

  it('why the model stopped: gen_ai.response.finish_reasons', async () => {
    const trace = 'f'.repeat(31) + '6';
    const res = await fetch(url('/v1/chat/completions'), {
      method: 'POST',
      headers: { ...auth, traceparent: `00-${trace}-${CALLER_SPAN}-01` },
      body: JSON.stringify({
        model: 'chat',
        messages: [{ role: 'user', content: 'weather in Paris?' }],
        tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }],
      }),
    });
    assert.equal(res.status, 200);
    const [attempt] = clients(await traceOf(rx, trace, 1));
    assert.deepEqual(attempt?.attributes['gen_ai.response.finish_reasons'], ['tool_calls']);
  });

  it('a caller that does not sample its trace gets none recorded (parentbased sampler)', async () => {
    const trace = 'c'.repeat(31) + '3';
    const res = await fetch(url('/api/v2/universal/request'), {
      method: 'POST',
      headers: { ...auth, traceparent: `00-${trace}-${CALLER_SPAN}-00` },
      body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'hello' } }),
    });
    assert.equal(res.status, 200);
    // The provider still hears the trace, unsampled.
    assert.match(String(fake.calls.at(-1)?.headers.traceparent), new RegExp(`^00-${trace}-[0-9a-f]{16}-00$`));
    // A later, sampled request's spans arrive: by then this one's would have too.
    const later = 'd'.repeat(31) + '4';
    await fetch(url('/api/v2/universal/request'), {
      method: 'POST',
      headers: { ...auth, traceparent: `00-${later}-${CALLER_SPAN}-01` },
      body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'hello' } }),
    });
    await traceOf(rx, later, 1);
    assert.equal(rx.spans.filter((s) => s.traceId === trace).length, 0);
  });

  it('counts exported spans in /metrics', async () => {
    const text = await (await fetch(url('/metrics'))).text();
    const exported = Number(/^robbie_trace_spans_exported_total (\d+)/m.exec(text)?.[1]);
    assert.ok(exported >= 8, `exported ${exported}`);
    assert.match(text, /^robbie_trace_spans_dropped_total 0$/m);
  });
});

describe('traces: JSON, content on request, and a collector that is slow or gone', () => {
  it('OTLP/JSON with message content when opted in', async () => {
    const fake = await startFakeModel();
    const rx = await startReceiver();
    const api = await serveInTempHome({
      OLLAMA_URL: fake.url,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${rx.url}/v1/traces`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    try {
      const trace = 'e'.repeat(31) + '5';
      const res = await fetch(`http://127.0.0.1:${api.port}/api/v2/universal/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: `00-${trace}-${CALLER_SPAN}-01` },
        body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'what is OTLP?' } }),
      });
      assert.equal(res.status, 200);
      const spans = await traceOf(rx, trace, 1);
      const root = server(spans);
      assert.equal(root.contentType, 'application/json');
      assert.match(String(root.attributes['gen_ai.input.messages']), /what is OTLP\?/);
      assert.match(String(root.attributes['gen_ai.output.messages']), /fake answer to: what is OTLP\?/);
    } finally {
      await api.stop();
      await fake.close();
      await rx.close();
    }
  });

  for (const collector of ['slow', 'gone'] as const) {
    it(`a collector that is ${collector === 'slow' ? 'answering in 5 s' : 'down'}: every request answered and recorded, none waits for it`, async () => {
      const fake = await startFakeModel();
      const rx = await startReceiver();
      rx.delayMs = 5000;
      const endpoint = collector === 'slow' ? rx.url : `http://127.0.0.1:${await freePort()}`;
      const api = await serveInTempHome({
        OLLAMA_URL: fake.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '50',
        // A queue this small fills at once: spans are dropped, never waited for.
        OTEL_BSP_MAX_QUEUE_SIZE: '8',
      });
      try {
        const slowest: number[] = [];
        for (let round = 0; round < 10; round++) {
          const batch = await Promise.all(
            Array.from({ length: 6 }, async (_, i) => {
              const t0 = performance.now();
              const res = await fetch(`http://127.0.0.1:${api.port}/api/v2/universal/request`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({
                  request_id: `${collector}-${round}-${i}`,
                  source: 'chat',
                  ai_service: 'chat',
                  payload: { input: 'hello' },
                }),
                signal: AbortSignal.timeout(15_000),
              });
              assert.equal(res.status, 200);
              await res.arrayBuffer();
              return performance.now() - t0;
            }),
          );
          slowest.push(Math.max(...batch));
          await sleep(20);
        }
        // The collector's 5 s never reaches a request: each is far from it (a bound, not a speed).
        assert.ok(Math.max(...slowest) < 2500, `slowest request ${Math.round(Math.max(...slowest))} ms`);
        const rows = sqliteRows(
          api.home,
          `select count(*) as n from ai_request_logs where request_id like '${collector}-%'`,
        );
        assert.equal(rows[0]?.n, 60, 'every request recorded');
        const text = await (await fetch(`http://127.0.0.1:${api.port}/metrics`)).text();
        const dropped = Number(/^robbie_trace_spans_dropped_total (\d+)/m.exec(text)?.[1]);
        assert.ok(dropped > 0, `dropped spans are counted (${dropped})`);
      } finally {
        await api.stop();
        await fake.close();
        await rx.close();
      }
    });
  }
});

describe('supervisor events as spans', () => {
  it('start, crash and promotion under the same service resource', async () => {
    const rx = await startReceiver();
    const fake = await startFakeModel();
    const sup = await startSupervisor([], {
      env: {
        OLLAMA_URL: fake.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_SERVICE_NAME: 'robbie-sup-test',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    try {
      const child = await sup.active();
      await waitFor('the standby to be ready', async () => {
        const s = await sup.status();
        return s.children.some((c) => c.role === 'standby' && c.state === 'ready');
      });
      process.kill(child.pid as number, 'SIGKILL');
      const names = await waitFor(
        'the crash and the promotion as spans',
        () => {
          const n = rx.spans.map((s) => s.name);
          return n.includes('supervisor crash') && n.includes('supervisor promotion') ? n : undefined;
        },
        20_000,
      );
      assert.ok(names.includes('supervisor start'));
      const crash = rx.spans.find((s) => s.name === 'supervisor crash') as ReceivedSpan;
      assert.equal(crash.resource['service.name'], 'robbie-sup-test');
      assert.equal(crash.attributes['robbie.child_pid'], child.pid);
      assert.equal(crash.attributes['robbie.signal'], 'SIGKILL');
    } finally {
      await sup.stop();
      await fake.close();
      await rx.close();
    }
  });
});
