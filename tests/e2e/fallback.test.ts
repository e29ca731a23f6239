/**
 * Providers in a chain, through the built binary: Ollama first, an OpenAI-compatible endpoint
 * second — when the first is down, slow, failing, rate limiting or its circuit is open, the second
 * answers within the request's one deadline; with both down, 503 and Retry-After. And the answer
 * cache: a hit without a model call, an earlier answer (stale) while both providers are down, and
 * expiry.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startFakeModel } from '../helpers/fake-model.ts';
import { BINARY, killAll, sleep, waitFor } from '../helpers/process.ts';
import { ADMIN, errorOf, postUniversal, type Served, serveWith } from '../helpers/serve.ts';

after(killAll);

const MSG = [{ role: 'user' as const, content: 'which provider?' }];

async function chain(env: NodeJS.ProcessEnv = {}) {
  const primary = await startFakeModel();
  const secondary = await startFakeModel();
  secondary.reply = (input) => `secondary says: ${input}`;
  const api = await serveWith({
    ROBBIE_PROVIDER: 'ollama',
    OLLAMA_URL: primary.url,
    ROBBIE_FALLBACK: 'openai',
    OPENAI_BASE_URL: `${secondary.url}/v1`,
    ROBBIE_RATE_LIMIT: '1000/1m',
    ...env,
  });
  const close = async () => {
    await api.stop();
    await primary.close();
    await secondary.close();
  };
  return { primary, secondary, api, close };
}

async function ask(api: Served, extra: Record<string, string> = {}) {
  const started = performance.now();
  const { data, response } = await api.client.chat.completions
    .create({ model: 'chat', messages: MSG }, { headers: extra })
    .withResponse();
  return {
    text: data.choices[0]?.message.content,
    provider: response.headers.get('x-robbie-provider'),
    model: data.model,
    ms: performance.now() - started,
    cache: response.headers.get('x-robbie-cache'),
  };
}

describe('fallback across providers within one deadline', () => {
  it('primary 5xx: the secondary answers with its own model, and says so', async () => {
    const { primary, secondary, api, close } = await chain();
    try {
      primary.mode = { kind: 'fail', status: 500 };
      const r = await ask(api);
      assert.equal(r.provider, 'openai');
      assert.equal(r.text, 'secondary says: which provider?');
      assert.equal(r.model, 'gpt-4o-mini');
      assert.equal(secondary.calls.at(-1)?.body.model, 'gpt-4o-mini');
      assert.equal(api.rows("select provider from ai_request_logs where provider = 'openai'").length, 1);
      const health = (await (await fetch(`http://127.0.0.1:${api.port}/health`)).json()) as {
        checks: { model: { status: string; providers: { name: string }[] } };
      };
      assert.equal(health.checks.model.status, 'up');
      assert.deepEqual(
        health.checks.model.providers.map((p) => p.name),
        ['ollama', 'openai'],
      );
    } finally {
      await close();
    }
  });

  it('primary slow: cut at its share of the deadline, and the secondary answers within it', async () => {
    const { primary, api, close } = await chain();
    try {
      primary.mode = { kind: 'slow', ms: 5000 };
      // The client's deadline (what the SDK's own timeout sends) shortens the budget to 2 s.
      const r = await ask(api, { 'X-Robbie-Timeout': '2s' });
      assert.equal(r.provider, 'openai');
      assert.ok(r.ms >= 900 && r.ms < 2000, `answered in ${Math.round(r.ms)} ms`);
    } finally {
      await close();
    }
  });

  it('primary down (refused): the secondary answers at once', async () => {
    // Port 9 (discard): nothing listens there, unlike a port found free a moment ago.
    const dead = 'http://127.0.0.1:9';
    const { api, close } = await chain({ OLLAMA_URL: dead });
    try {
      const r = await ask(api);
      assert.equal(r.provider, 'openai');
      assert.ok(r.ms < 1000, `answered in ${Math.round(r.ms)} ms`);
    } finally {
      await close();
    }
  });

  it("primary's circuit open: it is skipped without a call", async () => {
    const { primary, api, close } = await chain();
    try {
      primary.mode = { kind: 'fail', status: 502 };
      for (let i = 0; i < 5; i++) assert.equal((await ask(api)).provider, 'openai');
      const calls = primary.calls.length;
      const r = await ask(api);
      assert.equal(r.provider, 'openai');
      assert.equal(primary.calls.length, calls, 'the open circuit does not call the primary');
    } finally {
      await close();
    }
  });

  it("primary's 429 Retry-After is honoured: paused, the secondary serves meanwhile", async () => {
    const { primary, api, close } = await chain();
    try {
      primary.mode = { kind: 'rate-limited', retryAfterS: 30 };
      assert.equal((await ask(api)).provider, 'openai');
      const calls = primary.calls.length;
      assert.equal((await ask(api)).provider, 'openai');
      assert.equal(primary.calls.length, calls, 'not asked again before its Retry-After');
    } finally {
      await close();
    }
  });

  it('a stream falls back before its first piece', async () => {
    const { primary, api, close } = await chain();
    try {
      primary.mode = { kind: 'fail', status: 500 };
      const stream = await api.client.chat.completions.create({ model: 'chat', messages: MSG, stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      assert.equal(text, 'secondary says: which provider?');
    } finally {
      await close();
    }
  });

  it('a primary failing on one call only: that call falls back, the next is the primary again', async () => {
    const { primary, api, close } = await chain();
    try {
      primary.failOnCall = 2;
      const served = [];
      for (let i = 0; i < 3; i++) served.push((await ask(api)).provider);
      assert.deepEqual(served, ['ollama', 'openai', 'ollama']);
    } finally {
      await close();
    }
  });

  it('a stream that stalls after its first pieces ends at the deadline with an error event, recorded broken', async () => {
    const { primary, api, close } = await chain();
    try {
      primary.mode = { kind: 'stall', after: 2 };
      const closed = primary.closedEarly.length;
      const started = performance.now();
      const stream = await api.client.chat.completions.create(
        { model: 'chat', messages: MSG, stream: true },
        { headers: { 'X-Robbie-Timeout': '1s' } },
      );
      let text = '';
      await assert.rejects(async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      }, /deadline/);
      const ms = performance.now() - started;
      assert.equal(text, 'fake answer ');
      assert.ok(ms >= 900 && ms < 2500, `ended after ${Math.round(ms)} ms`);
      // robbie cuts the upstream request at the deadline; the fake model may see it close just
      // after the client has its error event.
      await waitFor(
        'the upstream request to be closed',
        () => primary.closedEarly.length === closed + 1,
        2000,
      );
      const row = await waitFor(
        'the broken row',
        () => api.rows("select * from ai_request_logs where stream = 'broken'")[0],
      );
      assert.equal(row.provider, 'ollama');
    } finally {
      await close();
    }
  });

  it('both down: 503 with Retry-After, recorded as unavailable', async () => {
    const { primary, secondary, api, close } = await chain();
    try {
      primary.mode = { kind: 'fail', status: 500 };
      secondary.mode = { kind: 'fail', status: 503 };
      const err = await errorOf(api.client.chat.completions.create({ model: 'chat', messages: MSG }));
      assert.equal(err.status, 503);
      assert.ok(Number(err.headers?.get('retry-after')) >= 1);
      assert.match(err.message, /no provider answered/);
      const universal = await postUniversal(api.port, {
        source: 'chat',
        ai_service: 'chat',
        payload: { input: 'x' },
      });
      assert.equal(universal.status, 503);
      assert.ok(Number(universal.headers.get('retry-after')) >= 1);
      assert.equal(((await universal.json()) as { error: string }).error, 'model_unavailable');
      assert.equal(
        api.rows("select * from ai_request_logs where gatekeeper_status = 'unavailable'").length,
        2,
      );
    } finally {
      await close();
    }
  });
});

describe('named providers from the providers file', () => {
  it('two OpenAI-compatible endpoints in one chain, each with its own key and model', async () => {
    const first = await startFakeModel();
    const second = await startFakeModel();
    second.reply = (input) => `second says: ${input}`;
    const dir = mkdtempSync(join(tmpdir(), 'robbie-providers-'));
    const file = join(dir, 'providers.json');
    writeFileSync(
      file,
      JSON.stringify([
        {
          name: 'first',
          kind: 'openai',
          url: `${first.url}/v1`,
          api_key_env: 'FIRST_KEY',
          models: { chat: 'm-first' },
        },
        {
          name: 'second',
          kind: 'openai',
          url: `${second.url}/v1`,
          api_key_env: 'SECOND_KEY',
          models: { chat: 'm-second' },
        },
      ]),
    );
    const api = await serveWith({
      ROBBIE_PROVIDERS_FILE: file,
      ROBBIE_PROVIDER: 'first',
      ROBBIE_FALLBACK: 'second',
      FIRST_KEY: 'first-secret-key-1',
      SECOND_KEY: 'second-secret-key-2',
    });
    try {
      assert.equal((await ask(api)).provider, 'first');
      assert.equal(first.calls.at(-1)?.headers.authorization, 'Bearer first-secret-key-1');
      assert.equal(first.calls.at(-1)?.body.model, 'm-first');
      first.mode = { kind: 'fail', status: 500 };
      const r = await ask(api);
      assert.equal(r.provider, 'second');
      assert.equal(r.text, 'second says: which provider?');
      assert.equal(second.calls.at(-1)?.headers.authorization, 'Bearer second-secret-key-2');
      assert.equal(second.calls.at(-1)?.body.model, 'm-second');
      const config = await new Promise<string>((resolve) => {
        const p = spawn(BINARY, ['config'], {
          env: {
            ...process.env,
            ROBBIE_PROVIDERS_FILE: file,
            ROBBIE_PROVIDER: 'first',
            FIRST_KEY: 'first-secret-key-1',
            SECOND_KEY: 'x',
          },
        });
        let out = '';
        p.stdout.on('data', (d) => {
          out += d;
        });
        p.on('close', () => resolve(out));
      });
      assert.ok(!config.includes('first-secret-key-1'), 'no key in robbie config');
    } finally {
      await api.stop();
      await first.close();
      await second.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a provider's own timeout and prices", () => {
  it('a provider slower than its timeout gives way to the next at once; each priced as its file says', async () => {
    const first = await startFakeModel();
    const second = await startFakeModel();
    const dir = mkdtempSync(join(tmpdir(), 'robbie-providers-'));
    const file = join(dir, 'providers.json');
    writeFileSync(
      file,
      JSON.stringify([
        { name: 'first', kind: 'openai', url: `${first.url}/v1`, models: { chat: 'm' }, timeout: '300ms' },
        {
          name: 'second',
          kind: 'openai',
          url: `${second.url}/v1`,
          models: { chat: 'm' },
          prices: { m: { input: 1, output: 2 } },
        },
      ]),
    );
    const api = await serveWith({
      ROBBIE_PROVIDERS_FILE: file,
      ROBBIE_PROVIDER: 'first',
      ROBBIE_FALLBACK: 'second',
    });
    try {
      first.mode = { kind: 'slow', ms: 20_000 };
      // Without its own timeout, the first would have half the 30 s budget: 15 s.
      const r = await ask(api);
      assert.equal(r.provider, 'second');
      assert.ok(r.ms < 10_000, `answered in ${Math.round(r.ms)} ms`);
      const last = () => ({
        ...api.rows('select provider, cost from ai_request_logs order by rowid').at(-1),
      });
      // The second's own price: 5 prompt tokens at 1 and 7 completion tokens at 2, per million.
      assert.deepEqual(last(), { provider: 'second', cost: 19e-6 });
      first.mode = { kind: 'ok' };
      assert.equal((await ask(api)).provider, 'first');
      assert.deepEqual(last(), { provider: 'first', cost: null });
    } finally {
      await api.stop();
      await first.close();
      await second.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad timeout or price in the providers file is one line, exit 78', () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-providers-'));
    const file = join(dir, 'providers.json');
    try {
      for (const [entry, said] of [
        [{ timeout: 'soon' }, /provider p: "timeout" must be a duration/],
        [{ prices: { m: { input: -1, output: 1 } } }, /provider p: prices: m: "input" and "output"/],
      ] as const) {
        writeFileSync(file, JSON.stringify([{ name: 'p', kind: 'openai', ...entry }]));
        const r = spawnSync(BINARY, ['config'], {
          env: { ...process.env, ROBBIE_PROVIDERS_FILE: file, ROBBIE_PROVIDER: 'p' },
          encoding: 'utf8',
        });
        assert.equal(r.status, 78, r.stderr);
        assert.match(r.stderr, said);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the answer cache', () => {
  it('answers an identical request without a model call, then expires', async () => {
    const { primary, api, close } = await chain({ ROBBIE_CACHE: 'chat', ROBBIE_CACHE_TTL: '1s' });
    try {
      const first = await ask(api);
      assert.equal(first.cache, null);
      const calls = primary.calls.length;
      const again = await ask(api);
      assert.equal(again.cache, 'hit');
      assert.equal(again.text, first.text);
      assert.equal(primary.calls.length, calls, 'no model call for a hit');
      assert.equal(api.rows("select * from ai_request_logs where cache = 'hit'").length, 1);
      await sleep(1200);
      assert.equal((await ask(api)).cache, null);
      assert.equal(primary.calls.length, calls + 1, 'expired: the model is asked again');
      const metrics = await (
        await fetch(`http://127.0.0.1:${api.port}/metrics`, { headers: { 'x-api-key': ADMIN } })
      ).text();
      assert.match(metrics, /robbie_answer_cache_total\{result="hit"\} 1/);
    } finally {
      await close();
    }
  });

  it('while every provider is down, serves an earlier identical answer marked stale', async () => {
    const { primary, secondary, api, close } = await chain({ ROBBIE_CACHE: 'chat', ROBBIE_CACHE_TTL: '1s' });
    try {
      const first = await ask(api);
      await sleep(1100);
      primary.mode = { kind: 'fail', status: 500 };
      secondary.mode = { kind: 'fail', status: 500 };
      const { data, response } = await api.client.chat.completions
        .create({ model: 'chat', messages: MSG })
        .withResponse();
      assert.equal(response.headers.get('x-robbie-cache'), 'stale');
      assert.equal(data.choices[0]?.message.content, first.text);
      const robbie = (data as unknown as { robbie: { cache: string; warnings: string[] } }).robbie;
      assert.equal(robbie.cache, 'stale');
      assert.match(robbie.warnings[0] ?? '', /earlier answer/);
      const other = await errorOf(
        api.client.chat.completions.create({
          model: 'chat',
          messages: [{ role: 'user', content: 'never asked' }],
        }),
      );
      assert.equal(other.status, 503, 'nothing cached for it: 503');
      assert.equal(api.rows("select * from ai_request_logs where cache = 'stale'").length, 1);
    } finally {
      await close();
    }
  });
});
