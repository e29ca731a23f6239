import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { requestDeadline } from '../../src/api/pipeline/request-deadline.ts';
import { ProviderError } from '../../src/api/providers/types.ts';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('requestDeadline', () => {
  it('released, it leaves no timer and no listener on the client signal behind', () => {
    const client = new AbortController();
    const before = timers();
    const deadlines = Array.from({ length: 100 }, () => requestDeadline(client.signal, 60_000));
    assert.equal(timers(), before + 100);
    assert.equal(getEventListeners(client.signal, 'abort').length, 100);
    for (const d of deadlines) {
      d.release();
      d.release(); // idempotent
    }
    assert.equal(timers(), before);
    assert.equal(getEventListeners(client.signal, 'abort').length, 0);
    client.abort();
    assert.ok(
      deadlines.every((d) => !d.signal.aborted),
      'a released deadline no longer follows the client',
    );
  });

  it('aborts with a timeout ProviderError when the deadline passes', async () => {
    const client = new AbortController();
    const d = requestDeadline(client.signal, 20);
    await new Promise((resolve) => d.signal.addEventListener('abort', resolve, { once: true }));
    assert.ok(d.signal.reason instanceof ProviderError);
    assert.equal((d.signal.reason as ProviderError).kind, 'timeout');
    assert.equal(getEventListeners(client.signal, 'abort').length, 0);
  });

  it('aborts with the client’s reason when the client goes away, before or after', () => {
    const gone = new ProviderError('cancelled', 'the client went away');
    const client = new AbortController();
    const before = timers();
    const d = requestDeadline(client.signal, 60_000);
    client.abort(gone);
    assert.equal(d.signal.reason, gone);
    assert.equal(timers(), before, 'the deadline timer is cleared');
    const late = requestDeadline(client.signal, 60_000);
    assert.equal(late.signal.reason, gone, 'a client already gone aborts at once');
    assert.equal(timers(), before);
  });
});
