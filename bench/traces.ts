/**
 * What tracing costs. The API (POST /api/v2/universal/request, 32 clients, an instant fake model,
 * SQLite) with tracing off and on at 100 % sampling to a collector on loopback that takes every
 * export, in interleaved rounds of one run: requests/s, CPU per request, spans exported and
 * dropped. And in-process, the cost of one request's spans (SERVER, CLIENT, store write) with
 * their share of the protobuf encoding.
 */
import { join } from 'node:path';
import { encodeProtobuf } from '../src/telemetry/otlp-encode.ts';
import type { SpanData } from '../src/telemetry/span-data.ts';
import { SpanKind } from '../src/telemetry/span-data.ts';
import { type SpanSink, Tracer } from '../src/telemetry/tracer.ts';
import { startFakeModel } from '../tests/helpers/fake-model.ts';
import {
  freePort,
  spawnProc,
  spawnRobbieLogged,
  stopProc,
  waitFor,
  waitHealthy,
} from '../tests/helpers/process.ts';
import { tempHome } from '../tests/helpers/supervisor.ts';
import { cpuSeconds, median, type Row, universalLoad } from './lib.ts';

const SECONDS = 6;
const ROUNDS = 4;
const CONNECTIONS = 32;

/**
 * A collector in a process of its own (the load generator shares this one's event loop) that
 * reads each export and answers 200 after `delayMs`: a healthy one costs robbie what tracing
 * costs, no more; a slow one shows that requests do not wait for it.
 */
async function sinkCollector(
  delayMs = 0,
): Promise<{ url: string; bytes: () => number; close: () => Promise<void> }> {
  const port = await freePort();
  const code = `let n = 0;
require('node:http').createServer((req, res) => {
  req.on('data', (c) => { n += c.length; });
  req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(), ${delayMs}));
}).listen(${port}, '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => { console.log('bytes ' + n); process.exit(0); });`;
  const proc = spawnProc(process.execPath, ['-e', code]);
  await waitFor('the collector to listen', () => proc.stdout().includes('listening'), 10_000);
  return {
    url: `http://127.0.0.1:${port}`,
    bytes: () => Number(/bytes (\d+)/.exec(proc.stdout())?.[1] ?? 0),
    close: () => stopProc(proc),
  };
}

async function once(fakeUrl: string, env: NodeJS.ProcessEnv) {
  const { home, cleanup } = tempHome();
  const port = await freePort();
  const proc = spawnRobbieLogged(['serve', '--port', String(port), '--home', home], join(home, 'serve.log'), {
    OLLAMA_URL: fakeUrl,
    // The default limit (120 a minute per key) would refuse the load in its first second.
    ROBBIE_RATE_LIMIT: '100000000/1m',
    ...env,
  });
  try {
    await waitHealthy(port, 20_000);
    // Warm-up, so each round measures the same steady state.
    await universalLoad(port, CONNECTIONS, 1);
    const cpu0 = cpuSeconds(proc.pid);
    const r = await universalLoad(port, CONNECTIONS, SECONDS);
    const cpuUs = ((cpuSeconds(proc.pid) - cpu0) * 1e6) / Math.max(1, r.requests.total);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const count = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
    return {
      rps: r.requests.average,
      p99: r.latency.p99,
      cpuUs,
      bad: r.errors + r.non2xx,
      exported: count('robbie_trace_spans_exported_total'),
      dropped: count('robbie_trace_spans_dropped_total'),
    };
  } finally {
    await stopProc(proc);
    cleanup();
  }
}

/** One request's spans in-process: three spans made, ended, and a third of a 512-span batch encoded per span. */
function perRequestUs(): number {
  const batch: SpanData[] = [];
  const sink: SpanSink = {
    add(s) {
      batch.push(s);
      if (batch.length >= 512) {
        encodeProtobuf({ attributes: { 'service.name': 'robbie' } }, { name: 'robbie', version: '0' }, batch);
        batch.length = 0;
      }
    },
  };
  const tracer = new Tracer(sink, { sampler: 'always_on', ratio: 1, captureContent: false });
  const n = 50_000;
  const run = () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const root = tracer.server('POST', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
      root.set('http.request.method', 'POST').set('url.path', '/api/v2/universal/request');
      const a = root.child('chat llama3.1:8b', SpanKind.client);
      a.set('gen_ai.operation.name', 'chat')
        .set('gen_ai.provider.name', 'ollama')
        .set('gen_ai.request.model', 'llama3.1:8b')
        .set('robbie.provider', 'ollama');
      void a.traceparent;
      a.set('gen_ai.response.model', 'llama3.1:8b')
        .set('gen_ai.usage.input_tokens', 12)
        .set('gen_ai.usage.output_tokens', 40)
        .end();
      root.child('store write', SpanKind.internal).set('robbie.store.where', 'database').end();
      root
        .set('http.route', '/api/v2/universal/request')
        .set('http.response.status_code', 200)
        .set('robbie.request_id', 'r')
        .set('robbie.key', 'alice')
        .end();
    }
    return ((performance.now() - t0) * 1000) / n;
  };
  run();
  return median([run(), run(), run()]);
}

export async function benchTraces(): Promise<Row[]> {
  const fake = await startFakeModel();
  const collector = await sinkCollector();
  const slowCollector = await sinkCollector(5000);
  const off: Awaited<ReturnType<typeof once>>[] = [];
  const on: Awaited<ReturnType<typeof once>>[] = [];
  const slow: Awaited<ReturnType<typeof once>>[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      off.push(await once(fake.url, {}));
      on.push(
        await once(fake.url, {
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_TRACES_SAMPLER: 'always_on',
        }),
      );
      slow.push(
        await once(fake.url, {
          OTEL_EXPORTER_OTLP_ENDPOINT: slowCollector.url,
          OTEL_TRACES_SAMPLER: 'always_on',
        }),
      );
    }
  } finally {
    await fake.close();
    await collector.close();
    await slowCollector.close();
  }
  const rps = (xs: typeof off) => xs.map((x) => x.rps);
  const ratios = on.map((x, i) => x.rps / (off[i] as (typeof off)[number]).rps);
  const fmt = (xs: number[]) => xs.map((x) => Math.round(x)).join(' / ');
  const spans = on.reduce((a, x) => a + x.exported, 0);
  const dropped = on.reduce((a, x) => a + x.dropped, 0);
  return [
    {
      scenario: `universal API, ${CONNECTIONS} clients, tracing off (${ROUNDS} interleaved rounds)`,
      metric: 'requests/s',
      value: `${Math.round(median(rps(off)))}`,
      note: `rounds ${fmt(rps(off))}; ${Math.round(median(off.map((x) => x.cpuUs)))} µs CPU per request; p99 ${median(off.map((x) => x.p99))} ms; errors ${off.reduce((a, x) => a + x.bad, 0)}`,
    },
    {
      scenario: 'same, tracing on: 100 % sampled, OTLP protobuf to a collector on loopback',
      metric: 'requests/s',
      value: `${Math.round(median(rps(on)))}`,
      note: `rounds ${fmt(rps(on))}; on/off per round ${ratios.map((r) => r.toFixed(3)).join(' / ')} (median ${median(ratios).toFixed(3)}); ${Math.round(median(on.map((x) => x.cpuUs)))} µs CPU per request; ${spans} spans exported, ${dropped} dropped; ${Math.round(collector.bytes() / 1024)} KiB sent; errors ${on.reduce((a, x) => a + x.bad, 0)}`,
    },
    {
      scenario: 'same, tracing on, to a collector that answers each export after 5 s',
      metric: 'requests/s',
      value: `${Math.round(median(rps(slow)))}`,
      note: `rounds ${fmt(rps(slow))}; slow/off per round ${slow.map((x, i) => (x.rps / (off[i] as (typeof off)[number]).rps).toFixed(3)).join(' / ')}; p99 ${median(slow.map((x) => x.p99))} ms (off: ${median(off.map((x) => x.p99))} ms); ${slow.reduce((a, x) => a + x.dropped, 0)} spans dropped, ${slow.reduce((a, x) => a + x.exported, 0)} exported; errors ${slow.reduce((a, x) => a + x.bad, 0)}`,
    },
    {
      scenario: "one request's spans in-process (SERVER, CLIENT, store write; their share of the encoding)",
      metric: 'µs per request',
      value: perRequestUs().toFixed(1),
      note: 'the OpenTelemetry JS SDK 3.1 (BatchSpanProcessor + ProtobufTraceSerializer) took 20–30 µs for the same three spans on this machine type',
    },
  ];
}
