/** PostgreSQL outages against the store: nothing acknowledged is lost, and the store heals itself. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/logger/logger.ts';
import { describePgError } from '../../src/storage/postgres/errors.ts';
import { PostgresStore } from '../../src/storage/postgres/store.ts';
import { POSTGRES_MIGRATIONS, SCHEMA_VERSION } from '../../src/storage/schema.ts';
import { StorageUnavailableError } from '../../src/storage/types.ts';
import { clusterOrSkip, type PgCluster } from '../helpers/postgres.ts';
import { sleep, waitFor } from '../helpers/process.ts';
import { requestRecord } from '../helpers/records.ts';
import { tempHome } from '../helpers/supervisor.ts';

const quiet = createLogger({ format: 'none', level: 'fatal' });

/** How many rows each of `ids` has in ai_request_logs (all ids share `prefix`). */
function countIds(psql: (sql: string) => string, prefix: string): Map<string, number> {
  const out = psql(
    `select request_id, count(*) from ai_request_logs where request_id like '${prefix}%' group by 1`,
  );
  const m = new Map<string, number>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [id, n] = line.split('|');
    m.set(id as string, Number(n));
  }
  return m;
}

/** A throwaway cluster, a state directory and a store for one test, cleaned up whatever happens. */
async function withStore(
  t: { skip: (msg: string) => void },
  body: (ctx: { pg: PgCluster; home: string; store: PostgresStore }) => Promise<void>,
  opts: { down?: boolean } = {},
): Promise<void> {
  const pg = await clusterOrSkip(t);
  if (!pg) return;
  if (opts.down) pg.stop('fast');
  const { home, cleanup } = tempHome();
  const store = new PostgresStore(pg.url, join(home, 'outbox.db'), quiet);
  try {
    await body({ pg, home, store });
  } finally {
    await store.close();
    pg.destroy();
    cleanup();
  }
}

async function up(store: PostgresStore): Promise<void> {
  await waitFor('the database to be seen up', () => store.databaseUp, 20_000, 20);
}

describe('PostgreSQL outages', () => {
  it('writes acknowledged while the server is stopped reach PostgreSQL exactly once after it returns', async (t) => {
    await withStore(t, async ({ pg, store }) => {
      await store.migrate();
      store.start();
      await up(store);
      const acked: string[] = [];
      const where = { database: 0, outbox: 0 };
      let failures = 0;
      let running = true;
      const writer = async () => {
        for (let i = 0; running && i < 100_000; i++) {
          const id = `w-${randomUUID()}`;
          try {
            where[await store.write({ kind: 'request', data: requestRecord(id) })]++;
            acked.push(id);
          } catch {
            failures++;
          }
          await sleep(2);
        }
      };
      const writers = Array.from({ length: 4 }, writer);
      await sleep(400);
      pg.stop('fast');
      await sleep(1500);
      pg.start();
      await sleep(800);
      running = false;
      await Promise.all(writers);
      assert.equal(failures, 0, 'every write was acknowledged somewhere');
      assert.ok(where.outbox > 0, 'the outage sent writes to the outbox');
      assert.ok(where.database > 0);
      await waitFor(
        'the outbox to drain',
        async () => (await store.info()).outbox_pending === 0,
        30_000,
        100,
      );
      const counts = countIds(pg.psql, 'w-');
      const missing = acked.filter((id) => counts.get(id) !== 1);
      assert.deepEqual(
        missing,
        [],
        `${missing.length} of ${acked.length} acknowledged writes are not in PostgreSQL exactly once`,
      );
      t.diagnostic(
        `acknowledged ${acked.length}: ${where.database} direct, ${where.outbox} through the outbox`,
      );
    });
  });

  it('a store started with the database down serves from the outbox, then migrates and drains by itself', async (t) => {
    await withStore(
      t,
      async ({ pg, store }) => {
        await assert.rejects(store.migrate());
        store.start();
        const ids = Array.from({ length: 50 }, () => `down-${randomUUID()}`);
        for (const id of ids)
          assert.equal(await store.write({ kind: 'request', data: requestRecord(id) }), 'outbox');
        const check = await store.checks().database?.();
        assert.equal(check?.status, 'down');
        assert.doesNotMatch(
          JSON.stringify(check),
          new RegExp(pg.password),
          'no password in the health check',
        );
        assert.equal((await store.info()).outbox_pending, 50);
        pg.start();
        await waitFor(
          'migration and drain',
          async () => (await store.info()).outbox_pending === 0,
          30_000,
          100,
        );
        assert.equal(pg.psql('select max(version) from robbie_schema_migrations'), String(SCHEMA_VERSION));
        const counts = countIds(pg.psql, 'down-');
        assert.equal(counts.size, 50);
        assert.ok([...counts.values()].every((n) => n === 1));
      },
      { down: true },
    );
  });

  it('several instances migrating at once all succeed, and the schema is applied once', async (t) => {
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    const { home, cleanup } = tempHome();
    const stores = Array.from(
      { length: 6 },
      (_, i) => new PostgresStore(pg.url, join(home, `outbox-${i}.db`), quiet),
    );
    try {
      const versions = await Promise.all(stores.map((s) => s.migrate()));
      assert.deepEqual(versions, Array(6).fill(SCHEMA_VERSION));
      assert.equal(
        pg.psql('select count(*) from robbie_schema_migrations'),
        String(POSTGRES_MIGRATIONS.length),
      );
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      pg.destroy();
      cleanup();
    }
  });

  it('a database restart in the middle of queries loses nothing', async (t) => {
    await withStore(t, async ({ pg, store }) => {
      await store.migrate();
      store.start();
      await up(store);
      const ids = Array.from({ length: 300 }, () => `r-${randomUUID()}`);
      const writes = ids.map((id, i) =>
        sleep(i * 3).then(() => store.write({ kind: 'request', data: requestRecord(id) })),
      );
      await sleep(150);
      // An immediate stop kills the backend mid-query (in-flight queries see CONNECTION_CLOSED).
      pg.stop('immediate');
      pg.start();
      const results = await Promise.allSettled(writes);
      assert.deepEqual(
        results.filter((r) => r.status === 'rejected'),
        [],
      );
      await waitFor(
        'the outbox to drain',
        async () => (await store.info()).outbox_pending === 0,
        30_000,
        100,
      );
      const counts = countIds(pg.psql, 'r-');
      assert.equal(counts.size, ids.length);
      assert.ok([...counts.values()].every((n) => n === 1));
    });
  });

  it('fails closed on the killswitch when it cannot be read and nothing is cached', async (t) => {
    await withStore(
      t,
      async ({ store }) => {
        await assert.rejects(store.killswitch(), StorageUnavailableError);
      },
      { down: true },
    );
  });

  it('an outbox on a full or read-only disk refuses the write with a reason, never drops it silently', async (t) => {
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    pg.stop('fast');
    const { home, cleanup } = tempHome();
    const mnt = join(home, 'small');
    mkdirSync(mnt);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=192k', 'tmpfs', mnt], { encoding: 'utf8' });
    if (mount.status !== 0) {
      if (process.env.CI) assert.fail(`cannot mount a small tmpfs for this test: ${mount.stderr}`);
      t.skip(`skipped: cannot mount a tmpfs here (${mount.stderr.trim()})`);
      pg.destroy();
      cleanup();
      return;
    }
    const store = new PostgresStore(pg.url, join(mnt, 'outbox.db'), quiet);
    try {
      let error: unknown;
      const big = 'x'.repeat(4000);
      for (let i = 0; i < 500 && !error; i++) {
        try {
          await store.write({ kind: 'request', data: requestRecord(`full-${i}`, { input_summary: big }) });
        } catch (err) {
          error = err;
        }
      }
      assert.ok(error instanceof StorageUnavailableError, `got ${String(error)}`);
      assert.match((error as Error).message, /outbox cannot be written: disk full/);
      assert.equal((await store.checks().outbox?.())?.status, 'down');
      // A state directory on a read-only file system: the outbox cannot even be created.
      const ro = join(home, 'ro');
      mkdirSync(ro);
      assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro]).status, 0);
      const roStore = new PostgresStore(pg.url, join(ro, 'outbox.db'), quiet);
      try {
        await assert.rejects(
          roStore.write({ kind: 'request', data: requestRecord('ro-1') }),
          /outbox cannot be written: read-only file system/,
        );
        assert.equal((await roStore.checks().outbox?.())?.status, 'down');
      } finally {
        await roStore.close();
        spawnSync('umount', ['-l', ro]);
      }
    } finally {
      await store.close();
      spawnSync('umount', ['-l', mnt]);
      pg.destroy();
      cleanup();
    }
  });

  it('never puts the connection password in an error description', async () => {
    const err = Object.assign(new Error('connect failed for postgres://robbie:S3cr3t-pw@db:5432/x'), {
      code: 'ECONNREFUSED',
    });
    assert.doesNotMatch(describePgError(err), /S3cr3t-pw/);
  });
});

describe('PostgreSQL: one record the database refuses never costs its neighbours', () => {
  // A processing time beyond PostgreSQL's integer: nothing robbie builds, handed to the store
  // directly as any record the database refuses would be. (U+0000, refused by text and jsonb, is
  // replaced by the store itself: see without-nul.ts.)
  const poison = (id: string) => requestRecord(id, { processing_time_ms: 2 ** 31 });

  it('in a group commit, only the refused write fails; the other 29 are stored', async (t) => {
    await withStore(t, async ({ pg, store }) => {
      await store.migrate();
      store.start();
      await up(store);
      const prefix = `iso-${randomUUID().slice(0, 8)}-`;
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) =>
          store.write({
            kind: 'request',
            data: i === 7 ? poison(`${prefix}${i}`) : requestRecord(`${prefix}${i}`),
          }),
        ),
      );
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
      assert.deepEqual(failed, [7]);
      assert.ok(
        (results[7] as PromiseRejectedResult).reason instanceof StorageUnavailableError,
        'refused as a storage failure (503), not an internal error',
      );
      assert.equal(countIds(pg.psql, prefix).size, 29);
    });
  });

  it('an outbox row the database refuses is quarantined, never blocks the rows behind it, and can be requeued', async (t) => {
    await withStore(
      t,
      async ({ pg, store }) => {
        store.start();
        const prefix = `q-${randomUUID().slice(0, 8)}-`;
        // Acknowledged from the outbox while the database is down: the bad one in the middle.
        for (let i = 0; i < 20; i++) {
          const data = i === 5 ? poison(`${prefix}${i}`) : requestRecord(`${prefix}${i}`);
          assert.equal(await store.write({ kind: 'request', data }), 'outbox');
        }
        pg.start();
        await up(store);
        await waitFor(
          'the good rows to be replayed',
          () => countIds(pg.psql, prefix).size === 19,
          20_000,
          100,
        );
        const info = await store.info();
        assert.equal(info.outbox_pending, 0, 'nothing waits behind the refused row');
        assert.equal(info.outbox_quarantined, 1);
        const check = await store.checks().outbox?.();
        assert.equal(check?.status, 'down', '/health says degraded');
        assert.match(String(check?.error), /1 outbox row\(s\) refused by the database and quarantined/);
        // Still acknowledged: a retry of the quarantined request gets its answer.
        assert.ok(await store.findResponse('', `${prefix}5`));
        // New writes go straight to the database again.
        assert.equal(await store.write({ kind: 'request', data: requestRecord(`${prefix}new`) }), 'database');
        assert.equal(await store.requeueQuarantined(), 1);
        assert.equal((await store.info()).outbox_quarantined, 0);
      },
      { down: true },
    );
  });
});
