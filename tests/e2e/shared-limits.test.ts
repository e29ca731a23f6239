/**
 * Limits and the killswitch shared by every instance on one store: `--instances 2` on the embedded
 * SQLite file (through a warm-standby takeover), and two `robbie serve` on one PostgreSQL (as two
 * machines would be), with the database stopped under them.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startFakeModel } from '../helpers/fake-model.ts';
import { clusterOrSkip } from '../helpers/postgres.ts';
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
import { startSupervisor, statusOf, tempHome } from '../helpers/supervisor.ts';

after(killAll);

const ADMIN = 'admin-key-fleet-0987654321';

/** Each user its own key (ignored where no keys are configured): limits follow the key. */
const keyOf = (user: string) => `key-of-${user}-0123456789`;
const KEYS = ['allan', 'beatrix', 'carla', 'dora'].map((u) => `${u}:${keyOf(u)}`).join(',');

function ask(port: number, i: number, user = 'allan'): Promise<number> {
  return fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': keyOf(user) },
    body: JSON.stringify({
      request_id: `fleet-${user}-${i}-${Math.random().toString(36).slice(2)}`,
      source: 'chat',
      ai_service: 'chat',
      user_id: user,
      payload: { input: `question ${i}` },
    }),
    signal: AbortSignal.timeout(10_000),
  }).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  });
}

function killswitch(port: number, action: 'activate' | 'deactivate'): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/code/api/killswitch/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ADMIN },
    body: JSON.stringify({ reason: 'fleet drill', activated_by: 'ops' }),
  });
}

async function killswitchActive(port: number): Promise<boolean> {
  const r = await fetch(`http://127.0.0.1:${port}/code/api/killswitch/status`, {
    headers: { 'x-api-key': ADMIN },
    signal: AbortSignal.timeout(2000),
  });
  return ((await r.json()) as { killswitch: { is_active: boolean } }).killswitch.is_active;
}

describe('limits shared across instances', () => {
  it('--instances 2 on SQLite: 20/1h holds across both children and through a takeover', async () => {
    const fake = await startFakeModel();
    const sup = await startSupervisor(['--instances', '2'], {
      // An hour's window: crossing a window's edge mid-test would rightly admit one more (the
      // sliding window weighs the previous window's count a little less at once).
      env: { OLLAMA_URL: fake.url, ROBBIE_RATE_LIMIT: '20/1h' },
    });
    try {
      await waitHealthy(sup.port);
      // Connections are spread over both children by the kernel (SO_REUSEPORT); sent in parallel
      // batches so both serve at once.
      const statuses: number[] = [];
      for (let b = 0; b < 6; b++)
        statuses.push(...(await Promise.all(Array.from({ length: 5 }, (_, i) => ask(sup.port, b * 5 + i)))));
      const ok = statuses.filter((s) => s === 200).length;
      assert.equal(ok, 20, `admitted ${ok} of 30: ${statuses.join(',')}`);
      assert.ok(statuses.every((s) => s === 200 || s === 429));
      // A takeover (the standby promoted in place of a killed child) starts no fresh count.
      const before = await statusOf(sup.home);
      const victim = before.children.find((c) => c.role === 'active');
      assert.ok(victim?.pid);
      process.kill(victim.pid, 'SIGKILL');
      await waitFor(
        'the takeover',
        async () => {
          const s = await statusOf(sup.home);
          return (
            s.children.filter((c) => c.role === 'active' && c.pid !== victim.pid && c.state === 'running')
              .length === 2
          );
        },
        15_000,
      );
      const after = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(sup.port, 100 + i)));
      assert.deepEqual(
        after.filter((s) => s === 200),
        [],
        `after the takeover: ${after.join(',')}`,
      );
      const health = await getJson(`http://127.0.0.1:${sup.port}/health`);
      assert.equal(
        (health.body as { checks: { rate_limit: { scope: string } } }).checks.rate_limit.scope,
        'shared',
      );
    } finally {
      await sup.stop();
      await fake.close();
    }
  });

  it('a request whose instance died mid-answer is answered by another within the claim lease', async (t) => {
    const fake = await startFakeModel();
    fake.mode = { kind: 'slow', ms: 60_000 };
    const { home, cleanup } = tempHome();
    const ports = [await freePort(), await freePort()];
    // Two processes on one SQLite file, as --instances 2 or a standby are.
    const procs = ports.map((port) =>
      spawnRobbie(['serve', '--port', String(port), '--home', home], { OLLAMA_URL: fake.url }),
    );
    try {
      for (const port of ports) await waitHealthy(port, 20_000);
      const body = JSON.stringify({
        request_id: 'died-mid-answer',
        source: 'chat',
        ai_service: 'chat',
        payload: { input: 'the first instance dies answering this' },
      });
      const send = (port: number) =>
        fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(30_000),
        });
      const first = send(ports[0] as number).catch(() => undefined);
      await waitFor('the first instance calls the model', () => fake.calls.length === 1, 10_000, 20);
      (procs[0] as Proc).child.kill('SIGKILL');
      await first;
      fake.mode = { kind: 'ok' };
      const t0 = performance.now();
      const retry = await send(ports[1] as number);
      const ms = performance.now() - t0;
      t.diagnostic(`the retry was answered ${ms.toFixed(0)} ms after the first instance died`);
      assert.equal(retry.status, 200);
      assert.ok(ms < 13_000, `answered after ${ms.toFixed(0)} ms (lease 10 s)`);
      assert.equal(fake.calls.length, 2, 'the dead attempt and the one that answered');
    } finally {
      for (const p of procs) await stopProc(p);
      cleanup();
      await fake.close();
    }
  });

  it('two instances on one PostgreSQL: one limit, a killswitch seen by both within 1 s, a local share while the database is down', async (t) => {
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    const fake = await startFakeModel();
    const homes = [tempHome(), tempHome()];
    const ports = [await freePort(), await freePort()];
    const procs = ports.map((port, i) =>
      spawnRobbie(['serve', '--port', String(port), '--home', (homes[i] as { home: string }).home], {
        DATABASE_URL: pg.url,
        OLLAMA_URL: fake.url,
        ROBBIE_RATE_LIMIT: '20/1h', // as above: no window edge mid-test
        ROBBIE_ADMIN_KEY: ADMIN,
        ROBBIE_API_KEYS: KEYS,
        // As `robbie supervise --instances 2` would tell its children.
        ROBBIE_INSTANCES: '2',
      }),
    );
    try {
      for (const port of ports) await waitHealthy(port, 20_000);
      await waitFor(
        'both on the database',
        async () => {
          for (const port of ports) {
            const h = await getJson(`http://127.0.0.1:${port}/health`);
            if ((h.body as { status: string }).status !== 'healthy') return false;
          }
          return true;
        },
        20_000,
      );

      // One limit: 40 requests alternating between the instances admit 20.
      const statuses: number[] = [];
      for (let b = 0; b < 8; b++) {
        statuses.push(
          ...(await Promise.all(
            Array.from({ length: 5 }, (_, i) => ask(ports[(b * 5 + i) % 2] as number, b * 5 + i)),
          )),
        );
      }
      assert.equal(statuses.filter((s) => s === 200).length, 20, statuses.join(','));

      // The killswitch: set through one, seen by the other within a second, either way.
      for (const [action, expected] of [
        ['activate', true],
        ['deactivate', false],
      ] as const) {
        assert.equal(await killswitchActive(ports[1] as number), !expected);
        assert.equal((await killswitch(ports[0] as number, action)).status, 200);
        const t0 = performance.now();
        await waitFor(
          `the other instance sees ${action}`,
          async () => (await killswitchActive(ports[1] as number)) === expected,
          3000,
          20,
        );
        const ms = performance.now() - t0;
        t.diagnostic(`${action} seen by the other instance after ${ms.toFixed(0)} ms`);
        assert.ok(ms < 1000, `${action} reached the other instance after ${ms.toFixed(0)} ms`);
      }

      // The database stops: each instance keeps 20 / 2 = 10 for another user, and says so.
      pg.stop('immediate');
      await waitFor(
        'the limiter reports its local share',
        async () => {
          await ask(ports[0] as number, 900, 'beatrix');
          const h = await getJson(`http://127.0.0.1:${ports[0]}/health`);
          const rl = (h.body as { checks: { rate_limit: { scope: string } } }).checks.rate_limit;
          return rl.scope === 'local';
        },
        15_000,
        200,
      );
      const h = await getJson(`http://127.0.0.1:${ports[0]}/health`);
      const rl = (h.body as { status: string; checks: { rate_limit: Record<string, unknown> } }).checks
        .rate_limit;
      assert.equal(rl.status, 'down');
      assert.equal(rl.limit, 10);
      assert.match(String(rl.error), /allows 10 per window/);
      const local: number[] = [];
      for (let i = 0; i < 14; i++) local.push(await ask(ports[0] as number, 1000 + i, 'carla'));
      assert.equal(local.filter((s) => s === 200).length, 10, local.join(','));

      // Back: shared again.
      pg.start();
      await waitFor(
        'shared again',
        async () => {
          await ask(ports[0] as number, 2000 + Math.floor(Math.random() * 1000), 'dora');
          const again = await getJson(`http://127.0.0.1:${ports[0]}/health`);
          return (
            (again.body as { checks: { rate_limit: { scope: string } } }).checks.rate_limit.scope === 'shared'
          );
        },
        20_000,
        300,
      );
    } finally {
      for (const p of procs) await stopProc(p);
      for (const h of homes) h.cleanup();
      await fake.close();
      pg.destroy();
      await sleep(0);
    }
  });
});
