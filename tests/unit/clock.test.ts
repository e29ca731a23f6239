/**
 * Timers, the circuit breaker, the killswitch cache and a request's deadline follow the monotonic
 * clock: the wall clock stepped an hour either way (NTP, a VM resumed) neither delays nor hastens
 * them. Each is driven with Date.now() stepped while it runs. /health answers from results no
 * older than the probe period.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { HeldChecks } from '../../src/api/health-checks.ts';
import { CircuitBreaker } from '../../src/api/providers/circuit-breaker.ts';
import { foldKillswitch, KillswitchCache } from '../../src/storage/killswitch.ts';
import { systemClock } from '../../src/supervisor/clock.ts';

const realNow = Date.now;
const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the wall clock stepped ±1 h', () => {
  afterEach(() => {
    Date.now = realNow;
  });

  for (const step of [HOUR, -HOUR]) {
    const label = step > 0 ? 'forward' : 'backward';

    it(`${label}: a supervisor timer fires when it is due`, async () => {
      let fired = false;
      systemClock.after(100, () => {
        fired = true;
      });
      Date.now = () => realNow() + step;
      for (let i = 0; i < 100 && !fired; i++) await sleep(20);
      assert.ok(fired, 'fired within 2 s of a 100 ms timer');
    });

    it(`${label}: an open circuit stays open for its time, then lets a trial through`, async () => {
      const breaker = new CircuitBreaker(1, 300);
      breaker.failure();
      assert.equal(breaker.state, 'open');
      Date.now = () => realNow() + step;
      assert.equal(breaker.state, 'open', 'not closed early by the step');
      assert.ok(breaker.retryAfterMs() <= 300);
      await sleep(350);
      assert.equal(breaker.state, 'half-open', 'not held open by the step');
    });

    it(`${label}: the killswitch cache is fresh for its time, then not`, async () => {
      const cache = new KillswitchCache(200);
      cache.set(foldKillswitch([]));
      Date.now = () => realNow() + step;
      assert.ok(cache.fresh(), 'still fresh after the step');
      await sleep(250);
      assert.equal(cache.fresh(), undefined, 'stale after its time, whatever the step');
    });
  }
});

describe('/health results', () => {
  it('are never older than the probe period: after a quiet spell a call waits for a new run', async () => {
    let runs = 0;
    const held = new HeldChecks({
      database: () => {
        runs++;
        return { status: runs === 1 ? 'up' : 'down' };
      },
    });
    assert.equal((await held.current()).database?.status, 'up');
    assert.equal((await held.current()).database?.status, 'up', 'fresh results are held');
    assert.equal(runs, 1);
    // A quiet spell longer than the probe period (1 s): the held 'up' is no answer any more.
    await sleep(1100);
    assert.equal((await held.current()).database?.status, 'down');
    assert.equal(runs, 2);
  });
});
