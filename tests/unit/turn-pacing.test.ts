import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp } from '../../src/api/app.ts';
import { newLifecycle } from '../../src/api/lifecycle.ts';
import { RELEASE_PER_TURN, TURN_BUDGET_MS } from '../../src/api/middleware/turn-pacing.ts';
import { createLogger } from '../../src/logger/logger.ts';

/** Counts event-loop turns (one setImmediate a turn) until stopped. */
function turnCounter() {
  let turn = 0;
  let running = true;
  const tick = () => {
    turn++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get now() {
      return turn;
    },
    stop() {
      running = false;
    },
  };
}

/** Holds the event loop for `ms`, as a request's own work does. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the request's work
  }
}

describe('turn pacing', () => {
  it('takes a burst of model requests in over several turns, first come first, while a probe and a lone request never wait', async () => {
    const app = createApp({
      version: '1',
      log: createLogger({ format: 'json', level: 'error', sink: () => undefined }),
      lifecycle: newLifecycle(),
    });
    const turns = turnCounter();
    try {
      const ran: { id: number; turn: number }[] = [];
      // Each request holds the loop for well over a third of the budget: a turn takes in a few.
      const work = TURN_BUDGET_MS / 2;
      app.post('/v1/work/:id', (c) => {
        ran.push({ id: Number(c.req.param('id')), turn: turns.now });
        busy(work);
        return c.json({ ok: true });
      });
      const burst = 40;
      const issuedAt = turns.now;
      const answers = Array.from({ length: burst }, (_, id) =>
        app.request(`/v1/work/${id}`, { method: 'POST' }),
      );
      // A probe sent behind the burst is answered before the burst's last request has even begun.
      const probe = await app.request('/livez');
      assert.equal(probe.status, 200);
      assert.ok(ran.length < burst, `the probe waited for ${ran.length} of ${burst} model requests`);
      for (const res of await Promise.all(answers)) assert.equal(res.status, 200);

      assert.deepEqual(
        ran.map((r) => r.id),
        Array.from({ length: burst }, (_, i) => i),
        'first come, first served',
      );
      const perTurn = new Map<number, number>();
      for (const r of ran) perTurn.set(r.turn, (perTurn.get(r.turn) ?? 0) + 1);
      const first = perTurn.get(issuedAt) ?? 0;
      assert.ok(first >= 1 && first < burst, `the burst's own turn took ${first}`);
      for (const [turn, n] of perTurn)
        if (turn !== issuedAt) assert.ok(n <= RELEASE_PER_TURN, `turn ${turn} took ${n} waiting requests`);
      assert.ok(
        perTurn.size >= Math.ceil((burst - first) / RELEASE_PER_TURN),
        'the rest went over later turns',
      );

      // Alone, a request runs in the turn it came in.
      await new Promise((r) => setImmediate(r));
      const at = turns.now;
      const alone = app.request('/v1/work/99', { method: 'POST' });
      assert.equal(ran.at(-1)?.id, 99, 'begun at once');
      assert.equal(ran.at(-1)?.turn, at);
      assert.equal((await alone).status, 200);
    } finally {
      turns.stop();
    }
  });
});
