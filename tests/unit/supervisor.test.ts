/**
 * The restart policy, row by row of the README's table, on a Supervisor driving fake children
 * with a fake clock (tests/helpers/fake-supervision.ts): exact decisions and delays, no processes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERVING_SEMI_SPACE_MB, withServingHeap } from '../../src/runtime/serving-heap.ts';
import { DEFAULT_BACKOFF } from '../../src/supervisor/backoff.ts';
import { decide } from '../../src/supervisor/restart-decision.ts';
import { type FakeChild, fakeSupervisor } from '../helpers/fake-supervision.ts';

const state = (h: ReturnType<typeof fakeSupervisor>, index = 0) =>
  h.sup.status().children.filter((c) => c.role === 'active')[index];

describe('restart decision (pure)', () => {
  const base = {
    policy: 'always' as const,
    reason: 'crash' as const,
    startFailure: false,
    consecutiveStartFailures: 0,
    startFailuresInWindow: 0,
    maxRestarts: 10,
    giveUp: false,
    cooldownMs: 60_000,
    backoff: DEFAULT_BACKOFF,
    standbyReady: false,
    random: 0.5,
  };
  it('covers every row of the policy table', () => {
    assert.deepEqual(decide({ ...base, reason: 'config' }), { kind: 'config-error' });
    assert.deepEqual(decide({ ...base, reason: 'config', policy: 'never' }), { kind: 'config-error' });
    assert.deepEqual(decide({ ...base, policy: 'never' }), { kind: 'stay' });
    assert.deepEqual(decide({ ...base, policy: 'on-failure', reason: 'exit' }), { kind: 'stay' });
    assert.deepEqual(decide({ ...base, policy: 'on-failure' }), { kind: 'start', delayMs: 0 });
    assert.deepEqual(decide({ ...base, standbyReady: true }), { kind: 'promote' });
    assert.deepEqual(decide({ ...base, reason: 'hang' }), { kind: 'start', delayMs: 0 });
    const sf = { ...base, startFailure: true };
    assert.deepEqual(decide({ ...sf, consecutiveStartFailures: 1, startFailuresInWindow: 1 }), {
      kind: 'start',
      delayMs: 0,
    });
    assert.deepEqual(decide({ ...sf, consecutiveStartFailures: 3, startFailuresInWindow: 3 }), {
      kind: 'start',
      delayMs: 500,
    });
    assert.deepEqual(
      decide({ ...sf, consecutiveStartFailures: 3, startFailuresInWindow: 3, standbyReady: true }),
      {
        kind: 'promote',
      },
    );
    assert.deepEqual(decide({ ...sf, consecutiveStartFailures: 11, startFailuresInWindow: 11 }), {
      kind: 'cooldown',
      delayMs: 60_000,
    });
    assert.deepEqual(
      decide({ ...sf, consecutiveStartFailures: 11, startFailuresInWindow: 11, standbyReady: true }),
      { kind: 'cooldown', delayMs: 60_000 },
      'the limit bounds a loop even with a standby',
    );
    assert.deepEqual(decide({ ...sf, startFailuresInWindow: 11, giveUp: true }), { kind: 'give-up' });
  });
});

describe('supervisor with fake children: failures after serving', () => {
  it('promotes the ready standby at once, every time, however many crashes came before', async () => {
    const h = fakeSupervisor();
    h.sup.start();
    await h.clock.advance(500);
    assert.equal(state(h)?.state, 'running');
    for (let i = 0; i < 12; i++) {
      await h.clock.advance(2000);
      const victim = h.active() as FakeChild;
      assert.ok(h.standby(), `a standby is ready before crash ${i + 1}`);
      victim.kill();
      // No fake time passes: the replacement is immediate.
      await h.clock.advance(0);
      const now = state(h);
      assert.equal(now?.state, 'running', `crash ${i + 1}: running again at once`);
      assert.notEqual(now?.pid, victim.pid);
      assert.equal(now?.backoff_ms, null);
    }
    assert.equal(state(h)?.restarts.total, 12);
    assert.ok(
      h.alerts.some((a) => a.event === 'restart-rate'),
      'an abnormal rate is alerted',
    );
    assert.equal(h.alerts.filter((a) => a.event === 'cooldown').length, 0, 'never a cool-down');
  });

  it('without a standby, a fresh child starts at once after a crash and after a clean exit', async () => {
    const h = fakeSupervisor({ standby: false });
    h.sup.start();
    await h.clock.advance(5000);
    const first = h.active() as FakeChild;
    first.exit(1);
    await h.clock.advance(0);
    assert.equal(h.of('active').length, 2, 'started again with no delay');
    assert.equal(state(h)?.state, 'starting');
    await h.clock.advance(5000);
    (h.active() as FakeChild).exit(0);
    await h.clock.advance(0);
    assert.equal(h.of('active').length, 3);
    assert.equal(state(h)?.last_exit?.reason, 'exit');
  });

  it('a hung child is killed and replaced within 5 s of its last good probe, also after crashes', async () => {
    const h = fakeSupervisor();
    h.sup.start();
    await h.clock.advance(3000);
    for (let i = 0; i < 3; i++) {
      (h.active() as FakeChild).kill();
      await h.clock.advance(2000);
    }
    const hung = h.active() as FakeChild;
    const lastGood = state(h)?.last_probe?.time as string;
    hung.answering = false;
    await h.clock.advance(5000);
    assert.ok(!hung.alive, 'the hung child was killed');
    assert.equal(hung.exitSignal(), 'SIGKILL');
    const s = state(h);
    assert.equal(s?.last_exit?.reason, 'hang');
    const killedAt = Date.parse(s?.last_exit?.time as string);
    assert.ok(
      killedAt - Date.parse(lastGood) <= 5000,
      `replaced ${killedAt - Date.parse(lastGood)} ms after`,
    );
    assert.equal(s?.state, 'running');
    assert.ok(h.alerts.some((a) => a.event === 'hang'));
  });
});

describe('supervisor with fake children: failures to start', () => {
  it('a child that exits before it is ready backs off 0, 250, 500, 1000 ms…, then cools down and tries again', async () => {
    const h = fakeSupervisor(
      { standby: false, 'max-restarts': '5', 'restart-window': '60s', cooldown: '10s' },
      { onSpawn: (c, hh) => hh.clock.after(10, () => c.exit(1)) },
    );
    h.sup.start();
    const starts: number[] = [];
    for (let t = 0; t < 9000; t += 10) {
      await h.clock.advance(10);
      starts.length = 0;
      for (const c of h.spawned) starts.push(c.startedAt);
    }
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] as number) - 10);
    assert.deepEqual(gaps, [0, 250, 500, 1000, 2000], `delays after each failure: ${gaps}`);
    assert.equal(state(h)?.state, 'cooldown');
    assert.ok(state(h)?.next_restart_at);
    assert.equal(h.alerts.filter((a) => a.event === 'cooldown').length, 1);
    const before = h.spawned.length;
    await h.clock.advance(10_000);
    assert.ok(h.spawned.length > before, 'it tries again after the cool-down, with a fresh budget');
  });

  it('a child that dies within the minimum uptime after ready is a start failure (backoff)', async () => {
    const h = fakeSupervisor(
      { standby: false },
      {
        onSpawn: (c, hh) => {
          hh.clock.after(100, () => c.ready());
          hh.clock.after(400, () => c.exit(1));
        },
      },
    );
    h.sup.start();
    await h.clock.advance(450); // first: ready at 100, dead at 400 → restart at once (first failure)
    assert.equal(h.spawned.length, 2);
    await h.clock.advance(400); // second dies at 850 → waits 250 ms
    assert.equal(state(h)?.state, 'backoff');
    assert.equal(state(h)?.backoff_ms, 250);
  });

  it('a child that never becomes ready is killed at --start-timeout as hung, and that is a start failure', async () => {
    const h = fakeSupervisor({ standby: false, 'start-timeout': '2s' }, { onSpawn: () => {} });
    h.sup.start();
    await h.clock.advance(2000);
    const first = h.spawned[0] as FakeChild;
    assert.ok(!first.alive);
    assert.equal(state(h)?.last_exit?.reason, 'hang');
    await h.clock.advance(2000); // the second one too, then a backoff
    assert.equal(state(h)?.state, 'backoff');
  });

  it('a standby that never takes the port when promoted counts as hung and is replaced', async () => {
    const h = fakeSupervisor();
    h.sup.start();
    await h.clock.advance(2000);
    const spare = h.standby() as FakeChild;
    spare.listensOnActivate = false;
    (h.active() as FakeChild).kill();
    await h.clock.advance(0);
    assert.ok(spare.activated);
    await h.clock.advance(5000);
    assert.ok(!spare.alive, 'the stuck promoted standby was killed');
    await h.clock.advance(1000);
    assert.equal(state(h)?.state, 'running');
  });
});

describe('supervisor with fake children: exit 78, policies, give-up', () => {
  it('exit 78 stops the supervisor with 78 and status config_error, with an alert, and no restart', async () => {
    const h = fakeSupervisor({ standby: false });
    h.sup.start();
    await h.clock.advance(5000);
    (h.active() as FakeChild).exit(78);
    await h.clock.advance(100);
    assert.equal(await h.sup.stopped, 78);
    assert.equal(h.spawned.length, 1, 'not restarted');
    assert.equal(state(h)?.state, 'config_error');
    assert.ok(h.alerts.some((a) => a.event === 'config-refused'));
  });

  it('--restart never: a failed child stays down and the supervisor exits 1; on-failure exits 0 after a clean exit', async () => {
    const never = fakeSupervisor({ standby: false, restart: 'never' });
    never.sup.start();
    await never.clock.advance(5000);
    (never.active() as FakeChild).exit(3);
    await never.clock.advance(0);
    assert.equal(await never.sup.stopped, 1);
    assert.equal(never.spawned.length, 1);
    const clean = fakeSupervisor({ standby: false, restart: 'on-failure' });
    clean.sup.start();
    await clean.clock.advance(5000);
    (clean.active() as FakeChild).exit(0);
    await clean.clock.advance(0);
    assert.equal(await clean.sup.stopped, 0);
  });

  it('--give-up: at the limit the supervisor stops with 1', async () => {
    const h = fakeSupervisor(
      { standby: false, 'max-restarts': '2', 'give-up': true },
      { onSpawn: (c, hh) => hh.clock.after(10, () => c.exit(1)) },
    );
    h.sup.start();
    await h.clock.advance(5000);
    assert.equal(await h.sup.stopped, 1);
    assert.ok(h.alerts.some((a) => a.event === 'gave-up'));
  });
});

describe('supervisor with fake children: reload and restart', () => {
  it('reload: each new child is ready before the old one is stopped', async () => {
    const h = fakeSupervisor({ instances: '2' });
    h.sup.start();
    await h.clock.advance(1000);
    const old = [h.active(0), h.active(1)] as FakeChild[];
    const done = h.sup.reload();
    await h.clock.advance(50);
    assert.ok(
      old.every((c) => c.alive),
      'nothing stopped before a replacement is ready',
    );
    await h.clock.advance(1000);
    const result = await done;
    assert.equal(result.reloaded.length, 2);
    assert.ok(old.every((c) => c.stopped));
    assert.equal(state(h, 0)?.state, 'running');
    assert.equal(state(h, 1)?.state, 'running');
  });

  it('a child hung after a reload is replaced within 5 s of its last good probe', async () => {
    const h = fakeSupervisor();
    h.sup.start();
    await h.clock.advance(1000);
    const done = h.sup.reload();
    await h.clock.advance(1000);
    await done;
    await h.clock.advance(3000);
    const hung = h.active() as FakeChild;
    const lastGood = Date.parse(state(h)?.last_probe?.time as string);
    hung.answering = false;
    await h.clock.advance(5000);
    assert.ok(!hung.alive);
    const s = state(h);
    assert.equal(s?.last_exit?.reason, 'hang');
    assert.ok(Date.parse(s?.last_exit?.time as string) - lastGood <= 5000);
    assert.equal(s?.state, 'running');
  });

  it('reload is aborted when the new child cannot start, and the old one keeps serving', async () => {
    let fail = false;
    const h = fakeSupervisor(
      { standby: false },
      {
        onSpawn: (c, hh) => {
          if (fail) hh.clock.after(10, () => c.exit(1));
          else hh.clock.after(100, () => c.ready());
        },
      },
    );
    h.sup.start();
    await h.clock.advance(1000);
    const old = h.active() as FakeChild;
    fail = true;
    const done = h.sup.reload();
    done.catch(() => {}); // asserted below, once time has moved
    await h.clock.advance(100);
    await assert.rejects(
      done,
      /reload aborted: the new serve-0 exited while starting.*the old one keeps serving/,
    );
    assert.ok(old.alive);
    assert.equal(h.active(), old);
  });

  it('restart ends a cool-down at once and starts with a fresh budget', async () => {
    let fail = true;
    const h = fakeSupervisor(
      { standby: false, 'max-restarts': '2', cooldown: '1h' },
      {
        onSpawn: (c, hh) => {
          if (fail) hh.clock.after(10, () => c.exit(1));
          else hh.clock.after(100, () => c.ready());
        },
      },
    );
    h.sup.start();
    await h.clock.advance(5000);
    assert.equal(state(h)?.state, 'cooldown');
    fail = false;
    const done = h.sup.restart();
    await h.clock.advance(200);
    await done;
    assert.equal(state(h)?.state, 'running');
  });
});

describe("the serving child's heap", () => {
  const flag = `--max-semi-space-size=${SERVING_SEMI_SPACE_MB}`;
  it("bounds the young generation for Node and Deno, after the user's own options", () => {
    assert.deepEqual(withServingHeap({ PATH: '/bin' }), {
      PATH: '/bin',
      NODE_OPTIONS: flag,
      DENO_V8_FLAGS: flag,
    });
    const mine = withServingHeap({ NODE_OPTIONS: '--enable-source-maps', DENO_V8_FLAGS: '--jitless' });
    assert.equal(mine.NODE_OPTIONS, `--enable-source-maps ${flag}`);
    assert.equal(mine.DENO_V8_FLAGS, `--jitless,${flag}`);
  });
  it('keeps a bound the user set', () => {
    const mine = withServingHeap({ NODE_OPTIONS: '--max-semi-space-size=64' });
    assert.equal(mine.NODE_OPTIONS, '--max-semi-space-size=64');
  });
});
