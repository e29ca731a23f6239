import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LEASE_MS, RateLimit, RateLimiter } from '../../src/api/pipeline/rate-limiter.ts';
import { admits, batchVerdict, countedOf, verdict, windowAt } from '../../src/storage/rate-window.ts';

/** The shared rule simulated over time for one key: counts per fixed window, as a store keeps them. */
function simulate(max: number, windowMs: number, times: number[]): boolean[] {
  const counts = new Map<number, number>();
  return times.map((now) => {
    const at = windowAt(now, windowMs);
    const v = verdict(counts.get(at.start - windowMs) ?? 0, counts.get(at.start) ?? 0, at, max, windowMs);
    if (v.allowed) counts.set(at.start, (counts.get(at.start) ?? 0) + 1);
    return v.allowed;
  });
}

describe('the shared rate-limit rule (sliding-window counter)', () => {
  it('admits ceil(previous × weight) + current < max', () => {
    assert.equal(admits(0, 9, 1, 10), true);
    assert.equal(admits(0, 10, 1, 10), false);
    assert.equal(admits(10, 0, 0.5, 10), true);
    assert.equal(admits(10, 5, 0.5, 10), false);
    assert.equal(admits(10, 3, 0.55, 10), true); // ceil(5.5) + 3 = 9
    assert.equal(admits(10, 4, 0.55, 10), false); // ceil(5.5) + 4 = 10
    // A limit of 3 used up at a window's end is still used up just after it.
    assert.equal(admits(3, 0, 1 - 100 / 60_000, 3), false);
  });

  it('says when to come back, and that moment is admitted', () => {
    const windowMs = 60_000;
    for (const [previous, current, elapsed] of [
      [0, 10, 1000],
      [10, 1, 1000],
      [10, 5, 30_000],
      [20, 10, 59_000],
    ] as const) {
      const start = 6_000_000;
      const at = windowAt(start + elapsed, windowMs);
      const v = verdict(previous, current, at, 10, windowMs);
      assert.equal(v.allowed, false);
      const later = windowAt(start + elapsed + v.retryAfterS * 1000, windowMs);
      // In the same window the counts stay; in the next one this window's count is the previous one.
      const [p, c] = later.start === at.start ? [previous, current] : [current, 0];
      assert.ok(
        admits(p, c, later.weight, 10),
        `${previous}/${current} at ${elapsed}: retry ${v.retryAfterS}s`,
      );
    }
  });

  it('holds the configured rate within 10 % over steady and bursty traffic, like a sliding log', () => {
    const max = 20;
    const windowMs = 60_000;
    // 3 requests per second for 10 minutes, steady, then bursts of 40 every 90 s.
    const steady = Array.from({ length: 1800 }, (_, i) => 1_000_000 + i * 333);
    const bursts = Array.from(
      { length: 7 * 40 },
      (_, i) => 2_000_000 + Math.floor(i / 40) * 90_000 + (i % 40) * 10,
    );
    for (const times of [steady, bursts]) {
      const shared = simulate(max, windowMs, times).filter(Boolean).length;
      const log = new RateLimiter();
      const exact = times.filter((t) => log.check('k', max, windowMs, t) === 0).length;
      const minutes = ((times.at(-1) as number) - (times[0] as number)) / windowMs;
      assert.ok(Math.abs(shared - exact) <= exact * 0.1, `shared ${shared} vs sliding log ${exact}`);
      assert.ok(shared <= (minutes + 1) * max * 1.1, `${shared} admitted over ${minutes.toFixed(1)} min`);
    }
  });
});

describe('RateLimit', () => {
  it('asks the store, keeps a local share while the store fails, and says so', async () => {
    let down = false;
    const changes: boolean[] = [];
    const store = {
      calls: 0,
      async rateHit(_k: string, _m: number, _w: number, n: number) {
        this.calls++;
        if (down) throw new Error('database unreachable');
        return {
          admitted: this.calls <= 3 ? n : 0,
          retryAfterS: this.calls <= 3 ? 0 : 7,
          windowStart: 0,
        };
      },
      async rateGiveBack() {},
      async pruneRateWindows() {},
    };
    const limit = new RateLimit(store, { max: 9, windowMs: 60_000, instances: 3 }, (shared) =>
      changes.push(shared),
    );
    assert.equal(await limit.check('k'), 0);
    assert.deepEqual(limit.health(), { status: 'up', scope: 'shared', limit: 9 });
    down = true;
    // Local share: 9 / 3 instances = 3 in the window.
    assert.deepEqual([await limit.check('k'), await limit.check('k'), await limit.check('k')], [0, 0, 0]);
    assert.ok((await limit.check('k')) > 0);
    const h = limit.health();
    assert.equal(h.status, 'down');
    assert.equal(h.scope, 'local');
    assert.equal(h.limit, 3);
    assert.match(String(h.error), /database unreachable.*allows 3 per window/);
    down = false;
    assert.equal(await limit.check('k'), 7);
    assert.equal(limit.health().status, 'up');
    assert.deepEqual(changes, [false, true]);
  });

  it("counts a key's concurrent requests together: one round trip, first come first admitted", async () => {
    const seen: number[] = [];
    let total = 0;
    const store = {
      async rateHit(_k: string, max: number, _w: number, n: number) {
        seen.push(n);
        await new Promise((r) => setTimeout(r, 5));
        const admitted = Math.max(0, Math.min(n, max - total));
        total += admitted;
        return { admitted, retryAfterS: admitted < n ? 9 : 0, windowStart: 0 };
      },
      async rateGiveBack() {},
      async pruneRateWindows() {},
    };
    const limit = new RateLimit(store, { max: 4, windowMs: 60_000, instances: 1 });
    const first = await Promise.all(Array.from({ length: 10 }, () => limit.check('busy')));
    assert.deepEqual(first, [0, 0, 0, 0, 9, 9, 9, 9, 9, 9]);
    assert.deepEqual(seen, [10], 'one count for ten requests');
    // Requests that come while a count is on its way wait for the next one, together.
    const a = limit.check('other');
    await new Promise((r) => setImmediate(r));
    const rest = [limit.check('other'), limit.check('other')];
    await Promise.all([a, ...rest]);
    assert.deepEqual(seen, [10, 1, 2]);
  });

  it('with --rate-limit-scope local never asks the store and keeps its share', async () => {
    const limit = new RateLimit(undefined, { max: 4, windowMs: 60_000, instances: 2 });
    assert.deepEqual([await limit.check('k'), await limit.check('k')], [0, 0]);
    assert.ok((await limit.check('k')) > 0);
    assert.deepEqual(limit.health(), { status: 'up', scope: 'local', limit: 2, configured: 'local' });
  });

  it('leases ahead for a busy key: fewer round trips, never more than the limit, the unused given back', async () => {
    const clock = { t: 6_000_000 };
    const store = windowsStore(clock);
    const limit = new RateLimit(store, { max: 1000, windowMs: 60_000, instances: 1, now: () => clock.t });
    let admitted = 0;
    for (let i = 0; i < 300; i++) {
      if ((await limit.check('k')) === 0) admitted++;
      clock.t += 1;
    }
    assert.equal(admitted, 300);
    assert.ok(store.hits < 40, `${store.hits} counts for 300 requests one after another`);
    assert.ok(store.counted() >= 300, 'what was leased is counted at once');
    await limit.close();
    assert.equal(store.counted(), 300, 'the lease left unused is given back');
  });

  it('a key that is not busy (a request every 300 ms) never leases: one count per request, nothing given back', async () => {
    const clock = { t: 6_000_000 };
    const store = windowsStore(clock);
    let givenBack = 0;
    const giveBack = store.rateGiveBack.bind(store);
    store.rateGiveBack = async (k: string, w: number, n: number) => {
      givenBack += n;
      await giveBack(k, w, n);
    };
    const limit = new RateLimit(store, { max: 1000, windowMs: 60_000, instances: 1, now: () => clock.t });
    for (let i = 0; i < 20; i++) {
      assert.equal(await limit.check('k'), 0);
      clock.t += 300;
    }
    await limit.close();
    assert.equal(store.hits, 20);
    assert.equal(givenBack, 0);
    assert.equal(store.counted(), 20);
  });

  it('near the limit every request is counted one by one: exactly the limit, across instances', async () => {
    const clock = { t: 6_000_000 };
    const store = windowsStore(clock);
    const a = new RateLimit(store, { max: 200, windowMs: 60_000, instances: 2, now: () => clock.t });
    const b = new RateLimit(store, { max: 200, windowMs: 60_000, instances: 2, now: () => clock.t });
    let admitted = 0;
    for (let i = 0; i < 300; i++) {
      const [x, y] = await Promise.all([a.check('k'), b.check('k')]);
      admitted += (x === 0 ? 1 : 0) + (y === 0 ? 1 : 0);
      clock.t += 1;
    }
    await Promise.all([a.close(), b.close()]);
    assert.equal(store.counted(), admitted, 'the store counts what was admitted, nothing leased');
    assert.ok(admitted <= 200, `${admitted} admitted of a limit of 200`);
    assert.ok(admitted >= 190, `${admitted}: leases held back at most a few near the limit`);
  });

  it('a lease never takes what the window has left: another instance may have used the room', async () => {
    const clock = { t: 6_000_000 };
    const store = windowsStore(clock);
    const opts = { max: 200, windowMs: 3_600_000, instances: 2, now: () => clock.t };
    const a = new RateLimit(store, opts);
    const b = new RateLimit(store, opts);
    const admittedBy = async (limit: RateLimit, n: number) => {
      let ok = 0;
      for (let i = 0; i < n; i++) {
        if ((await limit.check('k')) === 0) ok++;
        clock.t += 1;
      }
      return ok;
    };
    // A counts three times in a row (busy: it leases one ahead, and uses it); B then takes all but
    // two of the rest, which A has not seen.
    let admitted = await admittedBy(a, 4);
    admitted += await admittedBy(b, 194);
    assert.equal(store.counted(), 198);
    // A's next count, still busy, would lease one ahead of its request: the window's last admission.
    admitted += await admittedBy(a, 1);
    admitted += await admittedBy(b, 5);
    assert.equal(admitted, 200, `${admitted} admitted of 204 under 200/1h`);
    await Promise.all([a.close(), b.close()]);
    assert.equal(store.counted(), 200);
  });

  it('a limit under 32 per instance never leases: each request is counted, exactly the limit', async () => {
    const clock = { t: 6_000_000 };
    const store = windowsStore(clock);
    const opts = { max: 20, windowMs: 3_600_000, instances: 2, now: () => clock.t };
    const limits = [new RateLimit(store, opts), new RateLimit(store, opts)];
    let admitted = 0;
    // Six bursts of five, each request on its own turn, alternating instances.
    for (let i = 0; i < 30; i++) {
      if ((await (limits[i % 2] as RateLimit).check('k')) === 0) admitted++;
      clock.t += i % 5 === 4 ? 20 : 1;
    }
    assert.equal(admitted, 20);
    assert.equal(store.hits, 30, 'one count per request');
    await Promise.all(limits.map((l) => l.close()));
    assert.equal(store.counted(), 20);
  });

  it('a lease ends with its time or its window, and what it left is given back', async () => {
    const clock = { t: 6_000_000 };
    const store = windowsStore(clock);
    const limit = new RateLimit(store, { max: 10_000, windowMs: 60_000, instances: 1, now: () => clock.t });
    for (let i = 0; i < 50; i++) assert.equal(await limit.check('k'), 0);
    const before = store.hits;
    clock.t += LEASE_MS + 1;
    assert.equal(await limit.check('k'), 0);
    assert.equal(store.hits, before + 1, 'an expired lease is not used');
    assert.equal(store.counted(), 51 + leasedLeft(store, 51), 'only the new lease is still out');
    // The window moves on: the lease counted in the old one is not used in the new one.
    clock.t = 6_060_000;
    const hits = store.hits;
    assert.equal(await limit.check('k'), 0);
    assert.equal(store.hits, hits + 1);
    await limit.close();
    assert.equal(store.counted(), 52);
  });
});

/** The shared windows as a store keeps them, on a fake clock; `counted()` sums every window. */
function windowsStore(clock: { t: number }) {
  const counts = new Map<number, number>();
  return {
    hits: 0,
    async rateHit(_k: string, max: number, windowMs: number, n: number, ahead = 0) {
      this.hits++;
      await new Promise((r) => setImmediate(r));
      const at = windowAt(clock.t, windowMs);
      const previous = counts.get(at.start - windowMs) ?? 0;
      const current = counts.get(at.start) ?? 0;
      const admitted = countedOf(previous, current, at.weight, max, n, ahead);
      counts.set(at.start, current + admitted);
      return batchVerdict(previous, current, admitted, n, at, max, windowMs);
    },
    async rateGiveBack(_k: string, windowStart: number, n: number) {
      counts.set(windowStart, Math.max(0, (counts.get(windowStart) ?? 0) - n));
    },
    async pruneRateWindows() {},
    counted: () => [...counts.values()].reduce((a, b) => a + b, 0),
  };
}

/** What is counted beyond the `used` requests: the lease still out. */
function leasedLeft(store: { counted(): number }, used: number): number {
  return store.counted() - used;
}
