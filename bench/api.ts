/**
 * POST /api/v2/universal/request with an instant fake model on loopback: requests per second and
 * latency percentiles, SQLite and PostgreSQL stores, 1 and 32 concurrent clients, robbie's own
 * overhead per request (total minus the model call, from its own histogram) and its CPU per
 * request — and, on PostgreSQL, the same load on the floor of its stack (stack-floor.ts).
 */
import { join } from 'node:path';
import { startFakeModel } from '../tests/helpers/fake-model.ts';
import { postgresMissing, startCluster } from '../tests/helpers/postgres.ts';
import {
  freePort,
  ROOT,
  spawnProc,
  spawnRobbieLogged,
  stopProc,
  waitHealthy,
} from '../tests/helpers/process.ts';
import { tempHome } from '../tests/helpers/supervisor.ts';
import { cpuSeconds, type Row, universalLoad } from './lib.ts';

const SECONDS = 6;

/** Mean model-call time so far, from robbie's own Prometheus histogram. */
async function modelMeanMs(port: number): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const pick = (name: string) =>
    Number(
      new RegExp(
        `^robbie_model_call_duration_seconds_${name}\\{provider="ollama",service="chat",outcome="ok"\\} (\\S+)$`,
        'm',
      ).exec(text)?.[1] ?? 0,
    );
  return { sum: pick('sum') * 1000, count: pick('count') };
}

/** `universalLoad`, and the CPU the process serving it spent per request meanwhile. */
async function measuredLoad(port: number, pid: number, connections: number) {
  const cpuBefore = cpuSeconds(pid);
  const result = await universalLoad(port, connections, SECONDS);
  const cpuUs = ((cpuSeconds(pid) - cpuBefore) * 1e6) / Math.max(1, result.requests.total);
  return { result, cpuUs };
}

const clients = (n: number) => `${n} client${n > 1 ? 's' : ''}`;

async function run(label: string, env: NodeJS.ProcessEnv): Promise<Row[]> {
  const fake = await startFakeModel();
  const { home, cleanup } = tempHome();
  const port = await freePort();
  const proc = spawnRobbieLogged(['serve', '--port', String(port), '--home', home], join(home, 'serve.log'), {
    OLLAMA_URL: fake.url,
    ROBBIE_RATE_LIMIT: '100000000/1m',
    ...env,
  });
  const rows: Row[] = [];
  try {
    await waitHealthy(port, 20_000);
    for (const connections of [1, 32]) {
      const before = await modelMeanMs(port);
      const { result, cpuUs } = await measuredLoad(port, proc.pid, connections);
      const after = await modelMeanMs(port);
      const modelMs = (after.sum - before.sum) / Math.max(1, after.count - before.count);
      const bad = result.errors + result.non2xx;
      rows.push({
        scenario: `POST /api/v2/universal/request, ${label}, ${clients(connections)}`,
        metric: 'requests/s',
        value: `${Math.round(result.requests.average)}`,
        note: `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; model call ${modelMs.toFixed(2)} ms mean → overhead p50 ≈ ${Math.max(0, result.latency.p50 - modelMs).toFixed(2)} ms, p99 ≈ ${Math.max(0, result.latency.p99 - modelMs).toFixed(2)} ms; ${Math.round(cpuUs)} µs CPU per request; errors ${bad}`,
      });
    }
  } finally {
    await stopProc(proc);
    await fake.close();
    cleanup();
  }
  return rows;
}

/** The same load on the floor of robbie's stack (its libraries alone), on the same database. */
async function floor(databaseUrl: string): Promise<Row[]> {
  const fake = await startFakeModel();
  const port = await freePort();
  const proc = spawnProc(process.execPath, [
    join(ROOT, 'bench/stack-floor.ts'),
    String(port),
    fake.url,
    databaseUrl,
  ]);
  const rows: Row[] = [];
  try {
    await waitHealthy(port, 20_000);
    for (const connections of [1, 32]) {
      const { result, cpuUs } = await measuredLoad(port, proc.pid, connections);
      rows.push({
        scenario: `same, the stack's floor (bench/stack-floor.ts: Hono, node-server, undici, postgres.js and nothing else), ${clients(connections)}`,
        metric: 'requests/s',
        value: `${Math.round(result.requests.average)}`,
        note: `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; ${Math.round(cpuUs)} µs CPU per request; errors ${result.errors + result.non2xx}`,
      });
    }
  } finally {
    await stopProc(proc);
    await fake.close();
  }
  return rows;
}

export async function benchApi(): Promise<Row[]> {
  const rows = await run('SQLite store', {});
  if (postgresMissing()) {
    rows.push({
      scenario: 'API with PostgreSQL',
      metric: 'skipped',
      value: '-',
      note: postgresMissing() as string,
    });
    return rows;
  }
  const pg = await startCluster({ fsync: true });
  try {
    rows.push(...(await run('PostgreSQL store', { DATABASE_URL: pg.url })));
    rows.push(...(await floor(pg.url)));
  } finally {
    pg.destroy();
  }
  return rows;
}
