/**
 * The fleet: 1, 2 and 3 `robbie serve` instances on one PostgreSQL behind HAProxy (round robin,
 * health checks on /readyz), 32 clients posting uniquely identified requests to an instant fake
 * model; and the cost of the shared rate limit per request (one instance, `--rate-limit-scope`
 * shared, the default, against local), in requests/s and robbie's CPU per request.
 * Everything — PostgreSQL (durable commits), HAProxy, the clients — shares this machine's cores
 * with robbie, which runs with its defaults but for the rate limit (one user's load test would be
 * refused at the default 120/1m).
 */
import { join } from 'node:path';
import { startFakeModel } from '../tests/helpers/fake-model.ts';
import { haproxyMissing, startHaproxy } from '../tests/helpers/haproxy.ts';
import { type PgCluster, postgresMissing, startCluster } from '../tests/helpers/postgres.ts';
import { freePort, type Proc, spawnRobbieLogged, stopProc, waitHealthy } from '../tests/helpers/process.ts';
import { tempHome } from '../tests/helpers/supervisor.ts';
import { cpuSeconds, type Row, universalLoad } from './lib.ts';

const SECONDS = 6;

function load(port: number) {
  return universalLoad(port, 32, SECONDS, () => `user-${Math.floor(Math.random() * 1000)}`);
}

async function instances(pg: PgCluster, modelUrl: string, n: number, env: NodeJS.ProcessEnv = {}) {
  const procs: { proc: Proc; port: number; cleanup: () => void }[] = [];
  for (let i = 0; i < n; i++) {
    const { home, cleanup } = tempHome();
    const port = await freePort();
    const proc = spawnRobbieLogged(
      ['serve', '--port', String(port), '--home', home],
      join(home, 'serve.log'),
      {
        DATABASE_URL: pg.url,
        OLLAMA_URL: modelUrl,
        ROBBIE_RATE_LIMIT: '100000000/1m',
        ROBBIE_INSTANCES: String(n),
        ...env,
      },
    );
    procs.push({ proc, port, cleanup });
  }
  for (const p of procs) await waitHealthy(p.port, 30_000);
  return {
    ports: procs.map((p) => p.port),
    pids: procs.map((p) => p.proc.pid),
    stop: async () => {
      for (const p of procs) {
        await stopProc(p.proc);
        p.cleanup();
      }
    },
  };
}

export async function benchFleet(): Promise<Row[]> {
  const missing = postgresMissing() ?? haproxyMissing();
  if (missing) return [{ scenario: 'fleet behind HAProxy', metric: 'skipped', value: '-', note: missing }];
  const pg = await startCluster({ fsync: true });
  const fake = await startFakeModel();
  const rows: Row[] = [];
  try {
    for (const n of [1, 2, 3]) {
      const fleet = await instances(pg, fake.url, n);
      const lb = await startHaproxy(fleet.ports);
      try {
        const r = await load(lb.port);
        rows.push({
          scenario: `fleet: ${n} instance${n > 1 ? 's' : ''} on one PostgreSQL behind HAProxy, 32 clients`,
          metric: 'requests/s',
          value: `${Math.round(r.requests.average)}`,
          note: `p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms; errors ${r.errors + r.non2xx}`,
        });
      } finally {
        await lb.stop();
        await fleet.stop();
      }
    }
    for (const scope of ['shared', 'local']) {
      const one = await instances(pg, fake.url, 1, { ROBBIE_RATE_LIMIT_SCOPE: scope });
      try {
        const pid = one.pids[0] as number;
        const cpu0 = cpuSeconds(pid);
        const r = await load(one.ports[0] as number);
        const cpu = cpuSeconds(pid) - cpu0;
        const requests = r.requests.total;
        rows.push({
          scenario: `one instance on PostgreSQL, 32 clients, --rate-limit-scope ${scope}${scope === 'shared' ? ' (default)' : ''}`,
          metric: 'requests/s',
          value: `${Math.round(r.requests.average)}`,
          note: `p99 ${r.latency.p99} ms; robbie CPU ${((cpu / Math.max(1, requests)) * 1e6).toFixed(0)} µs per request; errors ${r.errors + r.non2xx}`,
        });
      } finally {
        await one.stop();
      }
    }
  } finally {
    await fake.close();
    pg.destroy();
  }
  return rows;
}
