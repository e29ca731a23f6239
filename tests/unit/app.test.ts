import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp } from '../../src/api/app.ts';
import { newLifecycle } from '../../src/api/lifecycle.ts';
import { createLogger } from '../../src/logger/logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ format: 'json', level: 'debug', sink: (l) => lines.push(JSON.parse(l)) });
  return { log, lines };
}

describe('the API app', () => {
  it('answers 500 {error, request_id} for an unexpected error, and logs the stack', async () => {
    const { log, lines } = capture();
    const app = createApp({ version: '1.2.3', log, lifecycle: newLifecycle() });
    app.get('/boom', () => {
      throw new Error('connect ECONNREFUSED postgres://robbie:hunter2@db:5432/x');
    });
    const res = await app.request('/boom', { headers: { 'X-Request-Id': 'req-1' } });
    assert.equal(res.status, 500);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(body, { error: 'internal_error', request_id: 'req-1' });
    const logged = lines.find((l) => l.msg === 'unhandled error');
    assert.ok(logged, 'the error is logged');
    const err = logged.err as Record<string, string>;
    assert.match(err.stack ?? '', /at /);
    assert.equal(logged.request_id, 'req-1');
    assert.doesNotMatch(JSON.stringify(logged), /hunter2/, 'the password never reaches the log');
  });

  it('reports degraded when a check is down, and still answers 200', async () => {
    const { log } = capture();
    const app = createApp({
      version: '1.2.3',
      log,
      lifecycle: newLifecycle(),
      checks: {
        database: () => ({ status: 'down', error: 'unreachable' }),
        cache: async () => ({ status: 'up' }),
      },
    });
    const res = await app.request('/health');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; checks: Record<string, { status: string }> };
    assert.equal(body.status, 'degraded');
    assert.equal(body.checks.database?.status, 'down');
    assert.equal(body.checks.cache?.status, 'up');
  });

  it('a check that throws counts as down instead of breaking /health', async () => {
    const { log } = capture();
    const app = createApp({
      version: '1',
      log,
      lifecycle: newLifecycle(),
      checks: {
        flaky: () => {
          throw new Error('boom');
        },
      },
    });
    const body = (await (await app.request('/health')).json()) as {
      status: string;
      checks: Record<string, unknown>;
    };
    assert.equal(body.status, 'degraded');
    assert.deepEqual(body.checks.flaky, { status: 'down', error: 'check failed' });
  });

  it('/readyz turns 503 while draining; /livez stays 200', async () => {
    const { log } = capture();
    const lifecycle = newLifecycle();
    const app = createApp({ version: '1', log, lifecycle });
    assert.equal((await app.request('/readyz')).status, 200);
    lifecycle.draining = true;
    assert.equal((await app.request('/readyz')).status, 503);
    assert.equal((await app.request('/livez')).status, 200);
  });

  it('logs probe requests at debug level and others at info', async () => {
    const { log, lines } = capture();
    const app = createApp({ version: '1', log, lifecycle: newLifecycle() });
    await app.request('/livez');
    await app.request('/health');
    const levels = lines.filter((l) => l.msg === 'request').map((l) => [l.path, l.level]);
    assert.deepEqual(levels, [
      ['/livez', 'debug'],
      ['/health', 'info'],
    ]);
  });
});
