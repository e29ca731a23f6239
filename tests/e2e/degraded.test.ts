/** robbie serve with PostgreSQL going away: it keeps answering, and nothing it acknowledged is lost. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SCHEMA_VERSION } from '../../src/storage/schema.ts';
import { type FakeModel, startFakeModel } from '../helpers/fake-model.ts';
import { clusterOrSkip, type PgCluster } from '../helpers/postgres.ts';
import {
  freePort,
  getJson,
  killAll,
  type Proc,
  sleep,
  spawnRobbie,
  stopProc,
  waitFor,
  waitHealthy,
} from '../helpers/process.ts';
import { tempHome } from '../helpers/supervisor.ts';

after(killAll);

async function serve(pg: PgCluster, fake: FakeModel, home: string, port: number): Promise<Proc> {
  const proc = spawnRobbie(['serve', '--port', String(port), '--home', home], {
    DATABASE_URL: pg.url,
    OLLAMA_URL: fake.url,
  });
  await waitHealthy(port, 20_000);
  return proc;
}

async function send(port: number, id: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      request_id: id,
      source: 'chat',
      ai_service: 'chat',
      payload: { input: `message ${id}` },
    }),
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status;
}

function storedCount(pg: PgCluster, prefix: string): Map<string, number> {
  const out = pg.psql(
    `select request_id, count(*) from ai_request_logs where request_id like '${prefix}%' group by 1`,
  );
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id, n] = l.split('|');
        return [id as string, Number(n)];
      }),
  );
}

describe('degraded mode through HTTP', () => {
  it('kill -9 of serve during an outage, then a restart: every acknowledged request reaches PostgreSQL once', async (t) => {
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    const fake = await startFakeModel();
    const { home, cleanup } = tempHome();
    const port = await freePort();
    let proc = await serve(pg, fake, home, port);
    try {
      const acked: string[] = [];
      for (let i = 0; i < 20; i++)
        if ((await send(port, `k-before-${i}`)) === 200) acked.push(`k-before-${i}`);
      pg.stop('fast');
      await waitFor(
        'degraded health',
        async () =>
          ((await getJson(`http://127.0.0.1:${port}/health`)).body as { status: string }).status ===
          'degraded',
      );
      const health = (await getJson(`http://127.0.0.1:${port}/health`)).body as {
        checks: { database: { status: string; error?: string }; outbox: { status: string; pending: number } };
      };
      assert.equal(health.checks.database.status, 'down');
      assert.ok(health.checks.database.error);
      assert.doesNotMatch(JSON.stringify(health), new RegExp(pg.password));
      assert.equal(
        (await getJson(`http://127.0.0.1:${port}/readyz`)).status,
        200,
        'still ready: the API serves',
      );
      for (let i = 0; i < 40; i++) {
        const status = await send(port, `k-during-${i}`);
        assert.equal(status, 200, 'acknowledged while the database is down');
        acked.push(`k-during-${i}`);
      }
      // /health answers from held check results, at most about half a second old.
      const outboxPending = async () =>
        (
          (await getJson(`http://127.0.0.1:${port}/health`)).body as {
            checks: { outbox: { pending: number } };
          }
        ).checks.outbox.pending;
      const pending = await waitFor('the outbox in /health', async () => {
        const n = await outboxPending();
        return n >= 40 ? n : undefined;
      }).catch(() => outboxPending());
      assert.ok(pending >= 40, `outbox pending ${pending}`);
      proc.kill('SIGKILL');
      await proc.exited;
      proc = await serve(pg, fake, home, port);
      pg.start();
      await waitFor(
        'the outbox to drain after the restart',
        async () =>
          (
            (await getJson(`http://127.0.0.1:${port}/health`)).body as {
              checks: { outbox: { pending: number } };
            }
          ).checks.outbox.pending === 0,
        30_000,
        200,
      );
      const counts = storedCount(pg, 'k-');
      const wrong = acked.filter((id) => counts.get(id) !== 1);
      assert.deepEqual(wrong, [], 'every acknowledged request exactly once');
      // A retry of an acknowledged request is answered from the store, the model is not called again.
      const calls = fake.calls.length;
      assert.equal(await send(port, 'k-during-3'), 200);
      assert.equal(fake.calls.length, calls);
    } finally {
      await stopProc(proc);
      await fake.close();
      pg.destroy();
      cleanup();
    }
  });

  it('starting with the database down: serves, refuses with 503 (fail closed) until the killswitch state is known, then heals', async (t) => {
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    pg.stop('fast');
    const fake = await startFakeModel();
    const { home, cleanup } = tempHome();
    const port = await freePort();
    let proc: Proc | undefined;
    try {
      proc = await serve(pg, fake, home, port);
      const health = (await getJson(`http://127.0.0.1:${port}/health`)).body as { status: string };
      assert.equal(health.status, 'degraded');
      const res = await fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          request_id: 'fc-1',
          source: 'chat',
          ai_service: 'chat',
          payload: { input: 'hi' },
        }),
      });
      assert.equal(res.status, 503);
      const body = (await res.json()) as { error: string; reason: string };
      assert.equal(body.error, 'killswitch_unknown');
      assert.equal(fake.calls.length, 0, 'nothing reached the model');
      const stats = (await getJson(`http://127.0.0.1:${port}/api/v2/universal/stats`)).body as {
        degraded: boolean;
        reason: string;
      };
      assert.equal(stats.degraded, true);
      assert.match(stats.reason, /unreachable/);
      pg.start();
      await waitFor(
        'the database to be back',
        async () =>
          ((await getJson(`http://127.0.0.1:${port}/health`)).body as { status: string }).status ===
          'healthy',
        20_000,
        200,
      );
      assert.equal(await send(port, 'fc-1'), 200, 'the same request id goes through now');
      assert.equal(
        pg.psql("select gatekeeper_status from ai_request_logs where request_id = 'fc-1'"),
        'approved',
      );
      assert.equal(
        pg.psql('select max(version) from robbie_schema_migrations'),
        String(SCHEMA_VERSION),
        'migrated by itself',
      );
      await sleep(10);
    } finally {
      if (proc) await stopProc(proc);
      await fake.close();
      pg.destroy();
      cleanup();
    }
  });
});
