/** The dashboard's parts that need no server: its sessions and the traffic history it draws. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  csrfToken,
  newSession,
  SESSION_MS,
  validCsrf,
  validSession,
} from '../../src/api/dashboard/session.ts';
import { isTrafficSample, TrafficHistory, TrafficMeter } from '../../src/telemetry/traffic.ts';

describe('dashboard sessions', () => {
  const KEY = 'admin-key-1234567890';
  it('are signed by the admin key, expire, and cannot be altered', () => {
    const now = 1_800_000_000_000;
    const s = newSession(KEY, now);
    assert.equal(validSession(KEY, s, now + 1000), true);
    assert.equal(validSession(KEY, s, now + SESSION_MS + 1), false, 'expired');
    assert.equal(validSession('another-admin-key-000', s, now), false, 'a new admin key ends every session');
    const [expires, mac] = s.split('.') as [string, string];
    assert.equal(
      validSession(KEY, `${Number(expires) + 86_400_000}.${mac}`, now),
      false,
      'a longer expiry is refused',
    );
    for (const bad of [undefined, '', '.', 'abc', `${expires}.`, `x.${mac}`])
      assert.equal(validSession(KEY, bad, now), false);
  });
  it('give a CSRF token of their own', () => {
    const a = newSession(KEY, 1);
    const b = newSession(KEY, 2);
    assert.equal(validCsrf(KEY, a, csrfToken(KEY, a)), true);
    assert.equal(validCsrf(KEY, a, csrfToken(KEY, b)), false);
    assert.equal(validCsrf(KEY, a, undefined), false);
  });
});

describe('traffic history', () => {
  it('keeps an hour of 10-second buckets with their percentiles, usage per key and source', () => {
    const meter = new TrafficMeter();
    const history = new TrafficHistory();
    const t0 = Date.UTC(2026, 11, 6, 12, 0, 0);
    for (let i = 0; i < 100; i++) meter.request(i < 98 ? 4 : 900, i < 3 ? 503 : 200);
    meter.usage('alice', 'email', 12);
    meter.usage('bob', 'sms', 3);
    meter.usage('alice', 'sms', 5);
    const sample = meter.take(t0 + 1000);
    assert.ok(
      sample && isTrafficSample(JSON.parse(JSON.stringify(sample))),
      'a sample survives the IPC channel',
    );
    assert.equal(meter.take(), undefined, 'nothing since');
    history.add({ ...sample, at: t0 });
    const s = history.series(t0 + 5000);
    assert.equal(s.buckets, 360);
    assert.equal(s.points.length, 1);
    assert.deepEqual(s.hour, { at: s.from, requests: 100, errors: 3, p50: 5, p99: 1000 });
    assert.deepEqual(s.keys, { alice: { requests: 2, tokens: 17 }, bob: { requests: 1, tokens: 3 } });
    assert.deepEqual(s.sources.sms, { requests: 2, tokens: 8 });
    // An hour later it is gone.
    assert.equal(history.series(t0 + 3_600_000 + 10_000).hour.requests, 0);
  });
  it('counts past 100 keys as "other"', () => {
    const meter = new TrafficMeter();
    for (let i = 0; i < 150; i++) meter.usage(`key-${i}`, 'api', 1);
    const s = meter.take();
    assert.equal(Object.keys(s?.keys ?? {}).length, 101);
    assert.deepEqual(s?.keys.other, { requests: 50, tokens: 50 });
  });
});
