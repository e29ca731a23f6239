import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { CUT_AFTER_MS, requestDeadline } from '../../src/api/pipeline/request-deadline.ts';
import { ProviderError } from '../../src/api/providers/types.ts';

describe('requestDeadline', () => {
  it('released, it fires no more and leaves no listener on the client signal behind', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const client = new AbortController();
    const deadlines = Array.from({ length: 100 }, () => requestDeadline(client.signal, 60_000));
    assert.equal(getEventListeners(client.signal, 'abort').length, 100);
    for (const d of deadlines) {
      d.release();
      d.release(); // idempotent
    }
    assert.equal(getEventListeners(client.signal, 'abort').length, 0);
    t.mock.timers.tick(120_000);
    client.abort();
    assert.ok(
      deadlines.every((d) => !d.signal.aborted),
      'a released deadline neither times out nor follows the client',
    );
  });

  it('each progress counts the deadline again from then: a steady stream is never cut, a silent one is', async () => {
    // Real timers (the mock ones do not refresh), with margins far above any pause of the loop.
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const d = requestDeadline(new AbortController().signal, 500);
    for (let i = 0; i < 30; i++) {
      await sleep(50);
      d.progress();
    }
    assert.equal(d.signal.aborted, false, '1.5 s of pieces 50 ms apart under a 500 ms deadline');
    await sleep(1500);
    assert.ok(d.signal.reason instanceof ProviderError && d.signal.reason.kind === 'timeout');
    d.progress();
    d.release();
  });

  it('aborts with a timeout ProviderError when the deadline passes', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const client = new AbortController();
    const d = requestDeadline(client.signal, 20);
    t.mock.timers.tick(19);
    assert.equal(d.signal.aborted, false);
    t.mock.timers.tick(1);
    assert.ok(d.signal.reason instanceof ProviderError);
    assert.equal((d.signal.reason as ProviderError).kind, 'timeout');
    assert.equal(getEventListeners(client.signal, 'abort').length, 0);
  });

  it('aborts with the client’s reason CUT_AFTER_MS after the client goes away, released or not', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const gone = new ProviderError('cancelled', 'the client went away');
    const client = new AbortController();
    const d = requestDeadline(client.signal, 60_000);
    const released = requestDeadline(client.signal, 60_000);
    client.abort(gone);
    released.release();
    assert.equal(d.signal.aborted, false, 'the next request goes first');
    t.mock.timers.tick(CUT_AFTER_MS);
    assert.equal(d.signal.reason, gone);
    assert.equal(released.signal.reason, gone, 'whatever was started for the client is let go');
    const late = requestDeadline(client.signal, 60_000);
    assert.equal(late.signal.reason, gone, 'a client already gone aborts at once');
  });
});
