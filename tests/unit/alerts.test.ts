import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Composed } from '../../src/alerts/alert.ts';
import { Alerter } from '../../src/alerts/alerter.ts';
import type { Channel } from '../../src/alerts/channels.ts';
import { DatabaseWatch } from '../../src/alerts/database-watch.ts';
import { createLogger } from '../../src/logger/logger.ts';
import { FakeClock } from '../helpers/fake-supervision.ts';

const log = createLogger({ format: 'none', level: 'fatal' });
const origin = { host: 'box', service: '/var/lib/robbie' };

function recorder(failures = 0): Channel & { got: Composed[]; tries: number } {
  const c = {
    name: 'test',
    got: [] as Composed[],
    tries: 0,
    async send(a: Composed) {
      c.tries++;
      if (c.tries <= failures) throw new Error('receiver down');
      c.got.push(a);
      return 'ok';
    },
  };
  return c;
}

describe('the alerter', () => {
  it('sends the same alert to every channel, once per event and child per window, counting the rest', async () => {
    let now = 0;
    const a = recorder();
    const b = recorder();
    const alerter = new Alerter([a, b], { dedupeMs: 60_000, log, origin, now: () => now });
    for (let i = 0; i < 5; i++) alerter.notify({ event: 'crash', child: 'serve-0', message: 'crashed' });
    alerter.notify({ event: 'crash', child: 'serve-1', message: 'crashed' });
    now = 61_000;
    alerter.notify({ event: 'crash', child: 'serve-0', message: 'crashed again' });
    await alerter.drain();
    assert.equal(a.got.length, 3);
    assert.deepEqual(
      a.got.map((x) => x.subject),
      b.got.map((x) => x.subject),
    );
    assert.equal(a.got[0]?.subject, '[robbie] box serve-0: crashed');
    assert.match(a.got[2]?.text ?? '', /and 4 similar alert\(s\) suppressed/);
    assert.equal(a.got[2]?.fields.suppressed, 4);
    assert.match(a.got[0]?.text ?? '', /more: +robbie errors --since 15m --source serve-0/);
  });

  it('retries a failing receiver with backoff, and gives up after the last try', async () => {
    const flaky = recorder(2);
    const alerter = new Alerter([flaky], { dedupeMs: 0, log, origin, retryDelaysMs: [5, 5] });
    alerter.notify({ event: 'hang', child: 'serve-0', message: 'hung' });
    await alerter.drain();
    assert.equal(flaky.tries, 3);
    assert.equal(flaky.got.length, 1);
    const dead = recorder(100);
    const gone = new Alerter([dead], { dedupeMs: 0, log, origin, retryDelaysMs: [1, 1] });
    gone.notify({ event: 'hang', message: 'hung' });
    await gone.drain();
    assert.equal(dead.tries, 3);
  });

  it('returns at once however slow the receiver, and bounds its queue', async () => {
    let release = () => {};
    const stuck: Channel & { tries: number } = {
      name: 'stuck',
      tries: 0,
      send() {
        stuck.tries++;
        return new Promise((r) => {
          release = () => r('ok');
        });
      },
    };
    const alerter = new Alerter([stuck], { dedupeMs: 0, log, origin, retryDelaysMs: [] });
    // notify returns although the first send never finishes; the rest wait (at most 50) behind it.
    for (let i = 0; i < 200; i++) alerter.notify({ event: 'crash', child: `c${i}`, message: 'x' });
    await new Promise((r) => setImmediate(r));
    assert.equal(stuck.tries, 1, 'one at a time');
    release();
    await alerter.drain(100);
  });
});

describe('database alerts', () => {
  it('alert only for an outage longer than the threshold, and then for its end', async () => {
    const clock = new FakeClock();
    const got: string[] = [];
    const watch = new DatabaseWatch(60_000, (a) => got.push(a.event), clock);
    // A blip: down and back within the threshold alerts nobody.
    watch.onEvent('serve-0', 1, { kind: 'database-down', error: 'ECONNREFUSED', since: 't0' });
    await clock.advance(10_000);
    watch.onEvent('serve-0', 1, { kind: 'database-up', down_since: 't0' });
    await clock.advance(120_000);
    assert.deepEqual(got, []);
    // An outage: one alert after the threshold however many children report it, one when back.
    watch.onEvent('serve-0', 1, { kind: 'database-down', error: 'ECONNREFUSED', since: 't1' });
    watch.onEvent('standby', 2, { kind: 'database-down', error: 'ECONNREFUSED', since: 't1' });
    await clock.advance(60_000);
    assert.deepEqual(got, ['database-down']);
    watch.onEvent('serve-0', 1, { kind: 'database-up', down_since: 't1' });
    assert.deepEqual(got, ['database-down', 'database-up']);
    watch.onEvent('serve-0', 1, { kind: 'quarantined', count: 1, reason: 'value too long' });
    assert.deepEqual(got, ['database-down', 'database-up', 'quarantined']);
  });
});
