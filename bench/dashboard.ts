/**
 * The dashboard's data endpoint under load: `robbie supervise` (defaults, an instant fake model,
 * SQLite) takes 1,000 universal requests per second from autocannon while another client reads
 * /dashboard/data with the admin key ten times a second, as an open page does once a second.
 */
import { join } from 'node:path';
import { startFakeModel } from '../tests/helpers/fake-model.ts';
import { freePort, spawnRobbieLogged, stopProc, waitHealthy } from '../tests/helpers/process.ts';
import { tempHome } from '../tests/helpers/supervisor.ts';
import { percentile, type Row, universalLoad } from './lib.ts';

const SECONDS = 10;
const RATE = 1000;
const ADMIN = 'bench-admin-key-1234567890';

interface ChildView {
  id: string;
  pid: number | null;
  restarts: { total: number };
}

async function childrenOf(port: number): Promise<ChildView[]> {
  const res = await fetch(`http://127.0.0.1:${port}/dashboard/data`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  const data = (await res.json()) as { status?: { ok: boolean; value?: { children: ChildView[] } } | null };
  return data.status?.value?.children ?? [];
}

/** Kills the serving child and reads the data until it counts the restart: how stale the data can be. */
async function restartShownAfter(port: number): Promise<number | undefined> {
  const serving = (await childrenOf(port)).find((c) => c.id === 'serve-0');
  if (!serving?.pid) return undefined;
  const killedAt = performance.now();
  process.kill(serving.pid, 'SIGKILL');
  for (let i = 0; i < 500 && performance.now() - killedAt < 10_000; i++) {
    const now = (await childrenOf(port).catch(() => [])).find((c) => c.id === 'serve-0');
    if (now && now.restarts.total > serving.restarts.total) return performance.now() - killedAt;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

export async function benchDashboard(): Promise<Row[]> {
  const fake = await startFakeModel();
  const { home, cleanup } = tempHome();
  const port = await freePort();
  const proc = spawnRobbieLogged(
    ['supervise', '--port', String(port), '--home', home],
    join(home, 'out.log'),
    {
      OLLAMA_URL: fake.url,
      ROBBIE_ADMIN_KEY: ADMIN,
      // The default limit (120 a minute per key) would refuse the load in its first second.
      ROBBIE_RATE_LIMIT: '100000000/1m',
    },
  );
  try {
    await waitHealthy(port, 30_000);
    const load = universalLoad(port, 32, SECONDS, undefined, undefined, RATE);
    // Reads of the data alternate with reads of /livez, the cheapest route: the same queue of
    // requests ahead of each, so the difference is the data endpoint's own cost.
    const times: number[] = [];
    const floor: number[] = [];
    let failed = 0;
    const until = performance.now() + (SECONDS - 1) * 1000;
    // The first second of load is its ramp: the reads start after it.
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < 10 * SECONDS && performance.now() < until; i++) {
      for (const [path, into] of [
        ['/dashboard/data', times],
        ['/livez', floor],
      ] as const) {
        const t0 = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}${path}`, {
          headers: { authorization: `Bearer ${ADMIN}` },
        });
        await res.arrayBuffer();
        if (res.ok) into.push(performance.now() - t0);
        else failed++;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const result = await load;
    const restartShown = await restartShownAfter(port);
    times.sort((a, b) => a - b);
    floor.sort((a, b) => a - b);
    return [
      {
        scenario: `GET /dashboard/data under ${RATE} universal requests/s (robbie supervise, defaults but ROBBIE_RATE_LIMIT=100000000/1m, SQLite)`,
        metric: 'ms p50 / p99',
        value: `${percentile(times, 50).toFixed(2)} / ${percentile(times, 99).toFixed(2)}`,
        note: `${times.length} reads (${failed} failed), max ${(times.at(-1) ?? 0).toFixed(2)} ms; the load: ${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms, errors ${result.errors + result.non2xx}`,
      },
      {
        scenario: 'same run, GET /livez between them (the floor: the same queue, no work)',
        metric: 'ms p50 / p99',
        value: `${percentile(floor, 50).toFixed(2)} / ${percentile(floor, 99).toFixed(2)}`,
        note: `${floor.length} reads, max ${(floor.at(-1) ?? 0).toFixed(2)} ms`,
      },
      {
        scenario: 'same run, after the load: the serving child killed with SIGKILL',
        metric: 'ms until /dashboard/data counts the restart',
        value: restartShown === undefined ? 'not shown in 10 s' : restartShown.toFixed(0),
        note: 'read every 20 ms; an open page reads it once a second, so it shows the restart within that much more',
      },
    ];
  } finally {
    await stopProc(proc, 'SIGTERM', 20_000);
    await fake.close();
    cleanup();
  }
}
