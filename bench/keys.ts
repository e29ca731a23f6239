/**
 * Keys as principals: what resolving a caller's key costs (in process, with 10,000 keys in the
 * store), how long the registry takes to load them, and the API's throughput on SQLite with one
 * static key against the same with 10,000 keys in the store — rounds interleaved, one run.
 */
import { join } from 'node:path';
import { createLogger } from '../src/logger/logger.ts';
import { SqliteStore } from '../src/storage/sqlite/store.ts';
import { createKey } from '../src/tenancy/keys-admin.ts';
import { KeyRegistry } from '../src/tenancy/registry.ts';
import { startFakeModel } from '../tests/helpers/fake-model.ts';
import { freePort, spawnRobbieLogged, stopProc, waitHealthy } from '../tests/helpers/process.ts';
import { tempHome } from '../tests/helpers/supervisor.ts';
import { cpuSeconds, median, type Row, universalLoad } from './lib.ts';

const KEYS = 10_000;
const SECONDS = 6;
const ROUNDS = 3;
const STATIC = 'bench-static-key-0123456789';

/** A state directory whose store holds `n` keys; returns the secret of the last one. */
async function homeWithKeys(home: string, n: number): Promise<{ secret: string; ms: number }> {
  const store = new SqliteStore(join(home, 'robbie.db'), { durable: () => Promise.resolve() });
  await store.migrate();
  const started = performance.now();
  let secret = '';
  for (let i = 0; i < n; i++)
    secret = (await createKey(store, `tenant-${i}`, { rate_limit: '100000000/1m' })).secret;
  const ms = performance.now() - started;
  await store.close();
  return { secret, ms };
}

async function resolution(home: string, secret: string): Promise<Row[]> {
  const store = new SqliteStore(join(home, 'robbie.db'));
  const quiet = createLogger({ format: 'none', level: 'fatal' });
  const registry = new KeyRegistry([STATIC], store, quiet);
  const loadStart = performance.now();
  await registry.start();
  const loadMs = performance.now() - loadStart;
  const perCall = (key: string) => {
    const n = 200_000;
    for (let i = 0; i < 10_000; i++) registry.resolve(key);
    const t = performance.now();
    for (let i = 0; i < n; i++) registry.resolve(key);
    return ((performance.now() - t) * 1000) / n;
  };
  const hit = median([perCall(secret), perCall(secret), perCall(secret)]);
  const miss = median([perCall('rk-not-a-key'), perCall('rk-not-a-key'), perCall('rk-not-a-key')]);
  registry.close();
  await store.close();
  return [
    {
      scenario: `resolving a caller's key, ${KEYS.toLocaleString('en')} keys in the store (in process: a SHA-256 and a map lookup)`,
      metric: 'µs per request',
      value: hit.toFixed(2),
      note: `a wrong key ${miss.toFixed(2)} µs; loading the ${KEYS.toLocaleString('en')} keys at start ${Math.round(loadMs)} ms`,
    },
  ];
}

async function load(home: string, apiKey: string, keysInStore: number, fakeUrl: string) {
  const port = await freePort();
  const proc = spawnRobbieLogged(['serve', '--port', String(port), '--home', home], join(home, 'serve.log'), {
    OLLAMA_URL: fakeUrl,
    ROBBIE_RATE_LIMIT: '100000000/1m',
    ROBBIE_API_KEYS: STATIC,
  });
  try {
    await waitHealthy(port, 30_000);
    await universalLoad(port, 32, 2, undefined, apiKey); // warm-up
    const cpuBefore = cpuSeconds(proc.pid);
    const r = await universalLoad(port, 32, SECONDS, undefined, apiKey);
    const cpuUs = ((cpuSeconds(proc.pid) - cpuBefore) * 1e6) / Math.max(1, r.requests.total);
    return { rps: r.requests.average, p99: r.latency.p99, cpuUs, bad: r.errors + r.non2xx, keysInStore };
  } finally {
    await stopProc(proc);
  }
}

export async function benchKeys(): Promise<Row[]> {
  const fake = await startFakeModel();
  const plain = tempHome();
  const many = tempHome();
  try {
    const made = await homeWithKeys(many.home, KEYS);
    const rows = await resolution(many.home, made.secret);
    const runs: Record<'one' | 'many', Awaited<ReturnType<typeof load>>[]> = { one: [], many: [] };
    for (let round = 0; round < ROUNDS; round++) {
      runs.one.push(await load(plain.home, STATIC, 0, fake.url));
      runs.many.push(await load(many.home, made.secret, KEYS, fake.url));
    }
    for (const [label, list] of Object.entries(runs)) {
      const rps = list.map((r) => r.rps);
      rows.push({
        scenario: `POST /api/v2/universal/request, SQLite, 32 clients, ${label === 'one' ? 'one static key' : `one of ${KEYS.toLocaleString('en')} keys in the store`}`,
        metric: 'requests/s (median of rounds)',
        value: `${Math.round(median(rps))}`,
        note: `rounds ${rps.map((v) => Math.round(v)).join(' / ')} (interleaved); p99 ${median(list.map((r) => r.p99))} ms; ${Math.round(median(list.map((r) => r.cpuUs)))} µs CPU per request; errors ${list.reduce((a, r) => a + r.bad, 0)}`,
      });
    }
    rows.push({
      scenario: `creating ${KEYS.toLocaleString('en')} keys through robbie's key module (SQLite)`,
      metric: 'ms',
      value: `${Math.round(made.ms)}`,
      note: 'one transaction each, as robbie keys create does (fsync held back here)',
    });
    return rows;
  } finally {
    await fake.close();
    plain.cleanup();
    many.cleanup();
  }
}
