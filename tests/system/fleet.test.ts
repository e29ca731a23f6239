/**
 * A fleet on one machine: three `robbie supervise` instances on one PostgreSQL behind HAProxy
 * (health checks on /readyz). Under a bounded load of uniquely identified requests an instance's
 * child is SIGKILLed, PostgreSQL restarts, one instance reloads and another is SIGKILLed whole and
 * started again. Then: every 2xx answer has its row; one user's limit holds across the instances;
 * a request id sent ten times at once reaches the model once; a killswitch set through one
 * instance blocks on all within a second.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startFakeModel } from '../helpers/fake-model.ts';
import { haproxyMissing, startHaproxy } from '../helpers/haproxy.ts';
import { clusterOrSkip } from '../helpers/postgres.ts';
import {
  freePort,
  getJson,
  killAll,
  type Proc,
  runRobbie,
  sleep,
  spawnRobbie,
  stopProc,
  waitFor,
  waitHealthy,
} from '../helpers/process.ts';
import { statusOf, tempHome } from '../helpers/supervisor.ts';

after(killAll);

const ADMIN = 'fleet-admin-key-0987654321';
const LIMIT = 30;
const missing = haproxyMissing();

interface Instance {
  home: string;
  port: number;
  proc: Proc;
}

describe('a fleet behind HAProxy', { skip: !process.env.CI && missing ? missing : false }, () => {
  it('3 instances on one PostgreSQL: kills, a database restart and a reload lose no answered request; limits, duplicates and the killswitch hold fleet-wide', async (t) => {
    if (missing) throw new Error(`${missing} (CI=true: this test must run)`);
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    const fake = await startFakeModel();
    const homes = [tempHome(), tempHome(), tempHome()];
    const env = {
      DATABASE_URL: pg.url,
      OLLAMA_URL: fake.url,
      // No keys: every caller is the one anonymous principal, so the limit under test is the one
      // per end user inside it (a user's own window, shared by the fleet).
      ROBBIE_RATE_LIMIT: '1000000/1m',
      ROBBIE_RATE_LIMIT_USER: `${LIMIT}/1m`,
      ROBBIE_ADMIN_KEY: ADMIN,
    };
    const start = (home: string, port: number): Proc =>
      spawnRobbie(['supervise', '--home', home, '--port', String(port)], env);
    const instances: Instance[] = [];
    for (const h of homes) {
      const port = await freePort();
      instances.push({ home: h.home, port, proc: start(h.home, port) });
    }
    for (const i of instances) await waitHealthy(i.port, 30_000);
    const lb = await startHaproxy(instances.map((i) => i.port));
    const base = `http://127.0.0.1:${lb.port}`;
    const post = (body: Record<string, unknown>) =>
      fetch(`${base}/api/v2/universal/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: 'chat', ai_service: 'chat', ...body }),
        signal: AbortSignal.timeout(15_000),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

    try {
      // The load: 6 workers, unique request ids, spread over many users (each far below the limit).
      const answered: string[] = [];
      const failures: string[] = [];
      let running = true;
      let n = 0;
      const worker = async (w: number) => {
        for (let k = 0; running && k < 10_000; k++) {
          const id = `fleet-${w}-${k}`;
          try {
            const r = await post({
              request_id: id,
              user_id: `user-${n++ % 400}`,
              payload: { input: `load ${id}` },
            });
            if (r.status === 200) answered.push(id);
            else failures.push(`${id}: HTTP ${r.status} ${String(r.body.error ?? '')}`);
          } catch (err) {
            failures.push(`${id}: ${String((err as Error).cause ?? err)}`);
          }
        }
      };
      const load = Array.from({ length: 6 }, (_, w) => worker(w));

      await sleep(2000);
      // 1. SIGKILL of instance 0's serving child: its standby takes over.
      const victim = (await statusOf((instances[0] as Instance).home)).children.find(
        (c) => c.role === 'active',
      );
      assert.ok(victim?.pid);
      process.kill(victim.pid, 'SIGKILL');
      await sleep(2000);
      // 2. PostgreSQL restarts: writes go to each instance's outbox meanwhile.
      pg.stop('fast');
      await sleep(1000);
      pg.start();
      await sleep(2000);
      // 3. A rolling reload of instance 1.
      const reload = await runRobbie(['reload', '--home', (instances[1] as Instance).home], {}, 60_000);
      assert.equal(reload.code, 0, reload.stderr);
      await sleep(1000);
      // 4. Instance 2 SIGKILLed whole (its children follow it), then started again.
      const third = instances[2] as Instance;
      third.proc.child.kill('SIGKILL');
      await third.proc.exited;
      await sleep(1500);
      third.proc = start(third.home, third.port);
      await waitHealthy(third.port, 30_000);
      await sleep(1500);
      running = false;
      await Promise.all(load);
      t.diagnostic(`${answered.length} answered, ${failures.length} not: ${failures.slice(0, 5).join('; ')}`);
      assert.ok(answered.length > 200, `answered ${answered.length}`);
      // A request refused during the chaos is the client's to retry; none may be lost once answered.
      assert.ok(
        failures.length <= answered.length * 0.02,
        `${failures.length} failures: ${failures.slice(0, 10).join('; ')}`,
      );

      // Every 2xx has its row (outboxes drained once PostgreSQL is back).
      const want = new Set(answered);
      await waitFor(
        'every answered request in ai_request_logs',
        () => {
          const rows = pg.psql("select request_id from ai_request_logs where request_id like 'fleet-%'");
          const have = new Set(rows.split('\n').map((r) => r.trim()));
          return [...want].every((id) => have.has(id));
        },
        30_000,
        500,
      );
      const dupRows = pg
        .psql(
          "select count(*) from (select request_id from ai_request_logs where request_id like 'fleet-%' group by 1 having count(*) > 1) d",
        )
        .trim();
      assert.equal(dupRows, '0');

      // One user's limit across the fleet: LIMIT of 2×LIMIT, whichever instance answers.
      const limited: number[] = [];
      for (let b = 0; b < 6; b++) {
        limited.push(
          ...(await Promise.all(
            Array.from({ length: 10 }, (_, i) =>
              post({
                request_id: `limit-${b}-${i}`,
                user_id: 'one-user',
                payload: { input: 'count me' },
              }).then((r) => r.status),
            ),
          )),
        );
      }
      const admitted = limited.filter((s) => s === 200).length;
      t.diagnostic(
        `one user, ${limited.length} requests through the balancer: ${admitted} admitted (limit ${LIMIT}/1m)`,
      );
      assert.ok(Math.abs(admitted - LIMIT) <= LIMIT * 0.1, `admitted ${admitted}`);

      // The same request id ten times at once, through the balancer: one model call.
      const input = `only once ${Date.now()}`;
      const before = fake.calls.filter((c) => JSON.stringify(c.body).includes(input)).length;
      const same = await Promise.all(
        Array.from({ length: 10 }, () =>
          post({ request_id: 'fleet-duplicate', user_id: 'dup-user', payload: { input } }),
        ),
      );
      assert.ok(
        same.every((r) => r.status === 200),
        same.map((r) => r.status).join(','),
      );
      assert.equal(new Set(same.map((r) => JSON.stringify(r.body.response))).size, 1, 'one answer');
      assert.equal(fake.calls.filter((c) => JSON.stringify(c.body).includes(input)).length - before, 1);

      // The killswitch, through the balancer (whichever instance), blocks on every instance.
      const on = await fetch(`${base}/code/api/killswitch/activate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': ADMIN },
        body: JSON.stringify({ reason: 'fleet drill', activated_by: 'ops' }),
      });
      assert.equal(on.status, 200);
      const t0 = performance.now();
      await waitFor(
        'every instance blocks',
        async () => {
          for (const i of instances) {
            const s = await getJson(`http://127.0.0.1:${i.port}/code/api/killswitch/status`);
            if (!(s.body as { killswitch: { is_active: boolean } }).killswitch.is_active) return false;
          }
          return true;
        },
        3000,
        20,
      );
      const seenMs = performance.now() - t0;
      t.diagnostic(`killswitch on every instance after ${seenMs.toFixed(0)} ms`);
      assert.ok(seenMs < 1000);
      for (const i of instances) {
        const r = await fetch(`http://127.0.0.1:${i.port}/api/v2/universal/request`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            source: 'chat',
            ai_service: 'chat',
            user_id: 'ks',
            payload: { input: 'blocked?' },
          }),
        });
        assert.equal(((await r.json()) as { status: string }).status, 'blocked');
      }
    } finally {
      await lb.stop();
      for (const i of instances) await stopProc(i.proc, 'SIGTERM', 20_000);
      for (const h of homes) h.cleanup();
      await fake.close();
      pg.destroy();
    }
  });
});
