/**
 * Acknowledged durable writes: SQLite store, PostgreSQL store, and PostgreSQL down (outbox), with 1
 * and 32 concurrent writers; the drain of 10,000 outbox rows; and pgbench's own single-row insert
 * rate on the same server (fsync on) for scale.
 */

import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../src/logger/logger.ts';
import { PostgresStore } from '../src/storage/postgres/store.ts';
import { SqliteStore } from '../src/storage/sqlite/store.ts';
import type { Store } from '../src/storage/types.ts';
import { type PgCluster, postgresMissing, startCluster } from '../tests/helpers/postgres.ts';
import { waitFor } from '../tests/helpers/process.ts';
import { requestRecord } from '../tests/helpers/records.ts';
import { tempHome } from '../tests/helpers/supervisor.ts';
import { percentile, type Row } from './lib.ts';

const quiet = createLogger({ format: 'none', level: 'fatal' });
const SECONDS = 4;

async function hammer(store: Store, clients: number): Promise<{ rate: number; p99: number; where: string }> {
  const latencies: number[] = [];
  const where = new Set<string>();
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < 10_000_000 && performance.now() < deadline; i++) {
        const t0 = performance.now();
        where.add(await store.write({ kind: 'request', data: requestRecord(`bench-${randomUUID()}`) }));
        latencies.push(performance.now() - t0);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rate: latencies.length / SECONDS, p99: percentile(latencies, 99), where: [...where].join('+') };
}

function pgbench(pg: PgCluster, clients: number): number {
  const script = join(pg.dir, 'insert.sql');
  writeFileSync(
    script,
    "insert into ai_request_logs (request_id, source, ai_service, gatekeeper_status, http_status, response) values (md5(random()::text || clock_timestamp()::text), 'chat', 'chat', 'approved', 200, '{}');\n",
    { mode: 0o644 },
  );
  const out = pg.tool('pgbench', [
    '-n',
    '-h',
    pg.dir,
    '-p',
    String(pg.port),
    '-U',
    'robbie',
    '-f',
    script,
    '-c',
    String(clients),
    '-j',
    '2',
    '-T',
    String(SECONDS),
    'robbie',
  ]);
  return Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
}

export async function benchStorage(): Promise<Row[]> {
  const rows: Row[] = [];
  const { home, cleanup } = tempHome();
  try {
    const sqlite = new SqliteStore(join(home, 'robbie.db'));
    await sqlite.migrate();
    for (const clients of [1, 32]) {
      const r = await hammer(sqlite, clients);
      rows.push({
        scenario: `durable writes, SQLite store, ${clients} client${clients > 1 ? 's' : ''}`,
        metric: 'writes/s',
        value: `${Math.round(r.rate)}`,
        note: `p99 ${r.p99.toFixed(2)} ms (WAL, one fsync per group commit before it is acknowledged)`,
      });
    }
    await sqlite.close();

    const missing = postgresMissing();
    if (missing) {
      rows.push({ scenario: 'PostgreSQL scenarios', metric: 'skipped', value: '-', note: missing });
      return rows;
    }
    const pg = await startCluster({ fsync: true });
    try {
      const store = new PostgresStore(pg.url, join(home, 'outbox.db'), quiet);
      await store.migrate();
      store.start();
      await waitFor('database up', () => store.databaseUp, 10_000);
      const pgb: Record<number, number> = {
        1: pgbench(pg, 1),
        32: pgbench(pg, 32),
      };
      for (const clients of [1, 32]) {
        const r = await hammer(store, clients);
        const base = pgb[clients] as number;
        rows.push({
          scenario: `durable writes, PostgreSQL store, ${clients} client${clients > 1 ? 's' : ''}`,
          metric: 'writes/s',
          value: `${Math.round(r.rate)}`,
          note: `p99 ${r.p99.toFixed(2)} ms; pgbench single-row inserts: ${Math.round(base)}/s → robbie at ${((r.rate / base) * 100).toFixed(0)} %`,
        });
      }
      const stopAndWait = async () => {
        pg.stop('fast');
        await waitFor('database seen down', async () => {
          await store.write({ kind: 'request', data: requestRecord(`probe-${randomUUID()}`) });
          return !store.databaseUp;
        });
      };
      // 10,000 rows waiting in the outbox, then the database comes back.
      await stopAndWait();
      const fill = 10_000 - (await store.info()).outbox_pending;
      await Promise.all(
        Array.from({ length: 32 }, async (_, w) => {
          for (let i = w; i < fill; i += 32)
            await store.write({ kind: 'request', data: requestRecord(`drain-${randomUUID()}`) });
        }),
      );
      const total = (await store.info()).outbox_pending;
      pg.start();
      const t0 = performance.now();
      await waitFor('the drain', async () => (await store.info()).outbox_pending === 0, 120_000, 20);
      const drainS = (performance.now() - t0) / 1000;
      rows.push({
        scenario: `outbox drain after the database returns (${total} rows)`,
        metric: 'time',
        value: `${drainS.toFixed(2)} s`,
        note: 'from the restart, including up to 2 s for the probe to notice the database is back',
      });
      await stopAndWait();
      for (const clients of [1, 32]) {
        const r = await hammer(store, clients);
        rows.push({
          scenario: `durable writes, PostgreSQL down (outbox), ${clients} client${clients > 1 ? 's' : ''}`,
          metric: 'writes/s',
          value: `${Math.round(r.rate)}`,
          note: `p99 ${r.p99.toFixed(2)} ms, acknowledged via ${r.where}`,
        });
      }
      await store.close();
    } finally {
      pg.destroy();
    }
  } finally {
    cleanup();
  }
  return rows;
}
