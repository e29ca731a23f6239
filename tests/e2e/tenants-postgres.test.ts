/**
 * Keys as tenants across two `robbie serve` instances on one PostgreSQL, as two machines would be:
 * a request id is per key on both, a key's limit and its budget hold exactly across them with
 * requests racing at the edge, and a key revoked through one is refused by the other at once (a
 * notification; the poll behind it bounds the wait at a second).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type FakeModel, startFakeModel } from '../helpers/fake-model.ts';
import { clusterOrSkip, type PgCluster } from '../helpers/postgres.ts';
import {
  freePort,
  killAll,
  type Proc,
  runRobbie,
  spawnRobbie,
  stopProc,
  waitHealthy,
} from '../helpers/process.ts';
import { tempHome } from '../helpers/supervisor.ts';

after(killAll);

const KEY_A = 'pg-tenant-a-0123456789';
const KEY_B = 'pg-tenant-b-0123456789';
const ADMIN = 'pg-tenant-admin-0987654321';

interface Instance {
  port: number;
  proc: Proc;
  cleanup: () => void;
}

async function instance(pg: PgCluster, fake: FakeModel, env: NodeJS.ProcessEnv = {}): Promise<Instance> {
  const { home, cleanup } = tempHome('robbie-pg-tenants-');
  const port = await freePort();
  const proc = spawnRobbie(['serve', '--port', String(port), '--home', home], {
    DATABASE_URL: pg.url,
    OLLAMA_URL: fake.url,
    ROBBIE_API_KEYS: `alpha:${KEY_A},beta:${KEY_B}`,
    ROBBIE_ADMIN_KEY: ADMIN,
    ...env,
  });
  await waitHealthy(port, 20_000);
  return { port, proc, cleanup };
}

function ask(port: number, key: string, body: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'hi' }, ...body }),
    signal: AbortSignal.timeout(15_000),
  });
}

describe('keys as tenants across two instances on PostgreSQL', () => {
  it('ids per key, limits and budgets exact across instances, a revocation seen by the other at once', async (t) => {
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    const fake = await startFakeModel();
    fake.pieceMs = 0;
    const env = { ROBBIE_RATE_LIMIT: '8/1h', ROBBIE_CACHE: 'analysis' };
    const one = await instance(pg, fake, env);
    const two = await instance(pg, fake, env);
    try {
      // The same request id from two keys, on two instances: two requests, each key its own answer.
      const calls = fake.calls.length;
      const a = await ask(one.port, KEY_A, { request_id: 'pg-shared', payload: { input: 'A on one' } });
      const b = await ask(two.port, KEY_B, { request_id: 'pg-shared', payload: { input: 'B on two' } });
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.equal(b.headers.get('idempotent-replayed'), null);
      assert.match(JSON.stringify(await b.json()), /fake answer to: B on two/);
      const replay = await ask(two.port, KEY_A, { request_id: 'pg-shared', payload: { input: 'A on one' } });
      assert.equal(
        replay.headers.get('idempotent-replayed'),
        'true',
        'A’s retry on the other instance replays',
      );
      assert.match(JSON.stringify(await replay.json()), /fake answer to: A on one/);
      assert.equal(fake.calls.length, calls + 2);
      // Usage as the provider reported it (5 prompt, 7 completion tokens each), per key.
      assert.equal(
        pg.psql(
          "select sum(prompt_tokens) || '/' || sum(completion_tokens) from ai_request_logs where key_name = 'beta'",
        ),
        '5/7',
      );

      // The answer cache, shared by the instances, is not shared by the keys.
      const cached = { ai_service: 'analysis', payload: { input: 'the same question' } };
      assert.equal((await ask(one.port, KEY_A, cached)).headers.get('x-robbie-cache'), null);
      assert.equal(
        (await ask(two.port, KEY_A, cached)).headers.get('x-robbie-cache'),
        'hit',
        'A, other instance',
      );
      assert.equal(
        (await ask(two.port, KEY_B, cached)).headers.get('x-robbie-cache'),
        null,
        'B never gets A’s',
      );

      // Key A's limit (8/1h, three used above) holds across both instances, whatever user_id says;
      // B's window is its own.
      const racing = await Promise.all(
        Array.from({ length: 12 }, (_, i) => ask(i % 2 ? one.port : two.port, KEY_A, { user_id: `u-${i}` })),
      );
      const statuses = racing.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, 5, statuses.join(','));
      assert.ok(statuses.every((s) => s === 200 || s === 429));
      assert.equal((await ask(two.port, KEY_B)).status, 200);

      // A budget of 90 tokens, each request exactly 9 (1 prompt, its max_tokens 8), raced from both
      // instances: exactly 10 admitted, and exactly 90 spent.
      const cliHome = tempHome('robbie-pg-cli-');
      const made = await runRobbie(
        [
          'keys',
          'create',
          'budgeted',
          '--budget-tokens',
          '90',
          '--rate-limit',
          '1000/1h',
          '--json',
          '--home',
          cliHome.home,
        ],
        { DATABASE_URL: pg.url },
      );
      cliHome.cleanup();
      assert.equal(made.code, 0, made.stderr);
      const secret = (JSON.parse(made.stdout) as { secret: string }).secret;
      fake.usage = (body) => ({
        prompt: 1,
        completion: Number((body.options as { num_predict?: number })?.num_predict ?? 8),
      });
      const budgetBody = { payload: { input: 'hi', parameters: { max_tokens: 8 } } };
      // Both instances know the key (created by the CLI: a notification, or the poll).
      for (const port of [one.port, two.port]) {
        const deadline = Date.now() + 5000;
        while (
          (
            await fetch(`http://127.0.0.1:${port}/api/v2/universal/health`, {
              headers: { 'x-api-key': secret },
            })
          ).status !== 200
        ) {
          assert.ok(Date.now() < deadline, 'the new key reached the instance within 5 s');
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      const raced = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          ask(i % 2 ? one.port : two.port, secret, { ...budgetBody, user_id: `b-${i}` }),
        ),
      );
      const admitted = raced.filter((r) => r.status === 200).length;
      const refused = raced.filter((r) => r.status === 429);
      // A request may be refused while others hold the rest; none may be admitted past the budget.
      assert.ok(admitted <= 10 && admitted >= 1, `admitted ${admitted}`);
      for (const r of refused) assert.equal(((await r.json()) as { error: string }).error, 'budget_exceeded');
      // Sequentially, the rest fills it exactly.
      for (let i = 0; i < 20 && admitted + i < 10; i++)
        assert.equal(
          (await ask(i % 2 ? one.port : two.port, secret, { ...budgetBody, user_id: `s-${i}` })).status,
          200,
        );
      assert.equal((await ask(one.port, secret, budgetBody)).status, 429);
      assert.equal(pg.psql("select sum(tokens_used) from ai_request_logs where key_name = 'budgeted'"), '90');
      assert.equal(
        pg.psql(
          "select sum(tokens) from key_spend k join api_keys a on a.id = k.key_id where a.name = 'budgeted'",
        ),
        '90',
      );

      // Revoked through instance one's admin API: instance two refuses it too.
      const revoked = await fetch(`http://127.0.0.1:${one.port}/admin/keys/budgeted/revoke`, {
        method: 'POST',
        headers: { 'x-api-key': ADMIN },
      });
      assert.equal(revoked.status, 200);
      const since = performance.now();
      for (;;) {
        const r = await fetch(`http://127.0.0.1:${two.port}/api/v2/universal/health`, {
          headers: { 'x-api-key': secret },
        });
        if (r.status === 401) break;
        assert.ok(
          performance.now() - since < 2000,
          'refused by the other instance within 2 s (bounded wait)',
        );
        await new Promise((r2) => setTimeout(r2, 5));
      }
      t.diagnostic(`revocation reached the other instance in ${Math.round(performance.now() - since)} ms`);
    } finally {
      await Promise.all([stopProc(one.proc), stopProc(two.proc)]);
      one.cleanup();
      two.cleanup();
      await fake.close();
      pg.destroy();
    }
  });
});
