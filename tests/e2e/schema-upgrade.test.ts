/**
 * An `ai_request_logs` table made before robbie, with fewer columns (as the API benchmark and the
 * original system's INSERT create it), is upgraded in place, and the rate-limit windows are made
 * unlogged; a schema robbie cannot prepare is reported as a schema problem, never as
 * "unreachable"; a table dropped behind its back is a 503 with a reason, never a 500.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type FakeModel, startFakeModel } from '../helpers/fake-model.ts';
import { clusterOrSkip } from '../helpers/postgres.ts';
import {
  freePort,
  getJson,
  killAll,
  spawnRobbie,
  stopProc,
  waitFor,
  waitHealthy,
} from '../helpers/process.ts';
import { tempHome } from '../helpers/supervisor.ts';

after(killAll);

const EARLIER = `create table ai_request_logs (
  request_id text, source text, ai_service text, input_summary text, output_summary text,
  processing_time_ms double precision, created_at timestamptz default now());
create index ai_request_logs_request_id on ai_request_logs (request_id);`;

const post = (port: number, id: string) =>
  fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      request_id: id,
      source: 'chat',
      ai_service: 'chat',
      payload: { input: `hi ${id}` },
    }),
    signal: AbortSignal.timeout(10_000),
  });

describe('PostgreSQL schema', () => {
  let fake: FakeModel;
  after(async () => fake?.close());

  it('an earlier, narrower ai_request_logs is upgraded in place and every request recorded', async (t) => {
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    fake = await startFakeModel();
    const { home, cleanup } = tempHome();
    const port = await freePort();
    pg.psql(EARLIER);
    const proc = spawnRobbie(['serve', '--port', String(port), '--home', home], {
      DATABASE_URL: pg.url,
      OLLAMA_URL: fake.url,
    });
    try {
      await waitHealthy(port, 20_000);
      const health = (await getJson(`http://127.0.0.1:${port}/health`)).body as {
        status: string;
        checks: { database: { status: string } };
      };
      assert.equal(health.checks.database.status, 'up', JSON.stringify(health));
      for (let i = 0; i < 5; i++) assert.equal((await post(port, `up-${i}`)).status, 200);
      await waitFor(
        'the rows',
        () => pg.psql("select count(*) from ai_request_logs where request_id like 'up-%'").trim() === '5',
      );
      assert.equal(
        pg
          .psql(
            "select count(*) from ai_request_logs where gatekeeper_status is not null and request_id like 'up-%'",
          )
          .trim(),
        '5',
      );
      // The rate-limit counts are kept without WAL, and counted there: the 5 requests, and what the
      // limiter leased ahead for this busy key (at most an eighth of the default 120 per minute).
      assert.equal(pg.psql("select relpersistence from pg_class where relname = 'rate_windows'").trim(), 'u');
      const counted = Number(pg.psql('select sum(count) from rate_windows').trim());
      assert.ok(counted >= 5 && counted <= 5 + 15, `${counted} counted for 5 requests`);

      // A table dropped behind the migrations' back: 503 with a reason, not a 500.
      pg.psql('drop table ai_request_logs');
      const res = await post(port, 'after-drop');
      assert.notEqual(res.status, 500, await res.clone().text());
      assert.ok(res.status === 200 || res.status === 503, `status ${res.status}`);
    } finally {
      await stopProc(proc);
      cleanup();
      pg.destroy();
    }
  });

  it('a schema robbie cannot prepare is reported as a schema problem with the fix, not as unreachable', async (t) => {
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    fake ??= await startFakeModel();
    const { home, cleanup } = tempHome();
    const port = await freePort();
    // Two rows with one request id: the unique index robbie needs cannot be built.
    pg.psql(
      `${EARLIER} insert into ai_request_logs (request_id, source, ai_service) values ('dup', 'chat', 'chat'), ('dup', 'chat', 'chat');`,
    );
    const proc = spawnRobbie(['serve', '--port', String(port), '--home', home], {
      DATABASE_URL: pg.url,
      OLLAMA_URL: fake.url,
    });
    try {
      await waitHealthy(port, 20_000);
      const health = await waitFor('the schema problem in /health', async () => {
        const h = (await getJson(`http://127.0.0.1:${port}/health`)).body as {
          checks: { database: { status: string; error?: string } };
        };
        return h.checks.database.error ? h : undefined;
      });
      assert.equal(health.checks.database.status, 'down');
      assert.match(
        health.checks.database.error ?? '',
        /^schema problem: 23505: .*fix the table, then robbie db migrate/,
      );
      assert.doesNotMatch(proc.stdout(), /database unreachable/);
      assert.match(proc.stdout(), /database schema cannot be prepared/);
      // The killswitch state was never read from this database: fail closed, with a reason.
      const during = await post(port, 'during');
      const body = (await during.json()) as { error?: { code?: string; message?: string } } & Record<
        string,
        unknown
      >;
      assert.equal(during.status, 503, JSON.stringify(body));
      assert.ok(during.headers.get('retry-after'), 'Retry-After');
      assert.doesNotMatch(JSON.stringify(body), /23505|ai_request_logs/, 'nothing internal in the answer');
    } finally {
      await stopProc(proc);
      cleanup();
      pg.destroy();
    }
  });
});
