/**
 * The gateway's rules without a network: streamed redaction (never an unredacted secret, however
 * the answer is cut), the provider chain (fallback, the one deadline and its shares, the retry on
 * a refused connection, breakers, 429 pauses), ProviderError kinds, and the error bodies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiConfig } from '../../src/api/config.ts';
import { errorBody, problem } from '../../src/api/errors.ts';
import { redactAnswer, SECRET_STARTS } from '../../src/api/pipeline/answer-redaction.ts';
import { HOLD_CAP, StreamRedactor } from '../../src/api/pipeline/stream-redaction.ts';
import {
  type ModelInput,
  type ModelRoute,
  ModelRouter,
  type ModelUnavailableError,
  type RouteContext,
  type Service,
} from '../../src/api/providers/model-router.ts';
import type { ProviderConfig } from '../../src/api/providers/providers-config.ts';
import {
  type CallContext,
  type ChatDelta,
  type ChatRequest,
  type Provider,
  ProviderError,
  retryAfterMs,
} from '../../src/api/providers/types.ts';
import { NO_TRACING } from '../../src/telemetry/tracer.ts';

/** A repeatable random integer below `n`, from a linear congruential generator. */
function seeded(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
}

/**
 * `answer` through a StreamRedactor in random pieces of 1 to `most` characters, with the check
 * after each piece that none of `secrets` has been sent; what was sent, the end included.
 */
function streamAtRandom(
  answer: string,
  rand: (n: number) => number,
  most: number,
  secrets: string[],
): { r: StreamRedactor; sent: string } {
  const r = new StreamRedactor();
  let sent = '';
  for (let i = 0; i < answer.length; ) {
    const size = 1 + rand(most);
    sent += r.push(answer.slice(i, i + size));
    i += size;
    for (const secret of secrets)
      assert.ok(!sent.includes(secret), `${secret} sent: ${JSON.stringify(answer)}`);
  }
  return { r, sent: sent + r.end() };
}

describe('streamed redaction', () => {
  const answers = [
    'here: sk-proj-abcdefghijklmnopqrstuvwx and password: hunter2hunter then done',
    'token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789" ok',
    'connect to postgres://admin:s3cretpass@db:5432/x now',
    'key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----\nbye',
    'nothing secret here at all, just words and a token count of 5',
    'AKIAABCDEFGHIJKLMNOP is an access key; api_key: abc123xyz',
  ];

  it('sends, for every way of cutting the answer, exactly what redacting it whole gives', () => {
    for (const answer of answers) {
      const whole = redactAnswer(answer);
      for (const size of [1, 2, 3, 5, 8, 13, 40]) {
        const r = new StreamRedactor();
        let sent = '';
        for (let i = 0; i < answer.length; i += size) {
          const out = r.push(answer.slice(i, i + size));
          sent += out;
          // Nothing let out so far may hold a secret the whole answer's redaction removes.
          for (const secret of [
            'abcdefghij',
            'hunter2',
            'ghp_abc',
            's3cretpass',
            'MIIEvQ',
            'AKIAABCD',
            'abc123',
          ]) {
            if (!whole.text.includes(secret))
              assert.ok(!sent.includes(secret), `${secret} sent (size ${size})`);
          }
        }
        sent += r.end();
        assert.equal(sent, whole.text, `size ${size}: ${answer}`);
        assert.equal(r.redactions, whole.redactions);
        assert.equal(r.text, whole.text);
      }
    }
  });

  it('lets a word out before its end unless it might begin a secret', () => {
    const r = new StreamRedactor();
    assert.equal(r.push('hello wor'), 'hello wor', 'an ordinary word goes at once');
    assert.equal(r.push('ld, the pass'), 'ld, the ', '"pass" may become "password"');
    assert.equal(r.push('ing grade sk'), 'passing grade ', '"sk" may become "sk-…"');
    assert.equal(r.push('ipped; see https://a.b/'), 'skipped; see ', 'a URL waits for its end');
    assert.equal(r.push(' done. token: ab'), 'https://a.b/ done. ', 'a value waits for its end');
    assert.equal(r.push('cdef1234 ok'), 'token: [REDACTED] ok');
    assert.equal(r.end(), '');
  });

  it('holds a bounded tail only: a long minified JSON answer in 4-byte pieces, a secret inside it redacted', () => {
    const parts: string[] = [];
    for (let i = 0; parts.join('').length < 300_000; i++)
      parts.push(`{"id":${i},"url":"https://example.com/items/${i}","tags":["a","b"]},`);
    parts.splice(50, 0, '{"password":"hunter2hunter2"},');
    const answer = `[${parts.join('')}]`;
    const r = new StreamRedactor();
    let sent = '';
    let most = 0;
    for (let i = 0; i < answer.length; i += 4) {
      sent += r.push(answer.slice(i, i + 4));
      most = Math.max(most, answer.slice(0, i + 4).length - sent.length);
    }
    sent += r.end();
    assert.ok(!sent.includes('hunter2'));
    assert.ok(most <= HOLD_CAP + 4, `held ${most} characters at most`);
    // Past the cap, what was held goes out redacted as a whole: the rest equals the whole's redaction.
    assert.equal(sent.length, redactAnswer(answer).text.length);
    assert.equal(r.text, sent);
  });

  it('randomized: answers of words, secrets, URLs, key blocks and JSON, cut at random, equal their whole redaction', () => {
    const rand = seeded(20261206);
    const secrets = [
      'hunter2hunter',
      'sk-proj-abcdefghijklmnopqrstuvwx',
      'AKIAABCDEFGHIJKLMNOP',
      's3cretpass',
    ];
    const parts = [
      () => 'word ',
      () => 'pass ',
      () => `password: ${secrets[0]} `,
      () => `token="${secrets[1]}",`,
      () => `${secrets[2]} `,
      () => `postgres://admin:${secrets[3]}@db:5432/x `,
      () => 'https://example.com/a/b?c=d ',
      () => '{"id":1,"url":"https://x.y/z","k":"v"}',
      () => '\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n',
      () => 'sk-short ',
      () => ':/@',
    ];
    for (let n = 0; n < 300; n++) {
      let answer = '';
      for (let k = rand(40); k >= 0; k--) answer += (parts[rand(parts.length)] as () => string)();
      const whole = redactAnswer(answer).text;
      const { r, sent } = streamAtRandom(answer, rand, 12, secrets);
      assert.equal(sent, whole, JSON.stringify(answer));
      // The record's text (kept in joined chunks of pieces) is what was sent.
      assert.equal(r.text, sent);
    }
  });

  it('randomized: key blocks nested, unfinished or glued to dashes, in pieces of up to 40 characters, equal their whole redaction', () => {
    const rand = seeded(20261207);
    const parts = [
      'word ',
      'PRIVATE KEY-----',
      '-----BEGIN RSA PRIVATE KEY-----\nABCsecret\n',
      '\n-----BEGIN PRIVATE KEY-----\nMIIEkey\n-----END PRIVATE KEY-----\n',
      '\n-----END RSA PRIVATE KEY-----\n',
      '-----END ',
      ' -----BEGIN ',
      '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n',
      'password: hunter2hunter ',
      '{"url":"https://x.y/z"}',
      ' ',
    ];
    for (let n = 0; n < 1500; n++) {
      let answer = '';
      for (let k = rand(30); k >= 0; k--) answer += parts[rand(parts.length)] as string;
      const whole = redactAnswer(answer).text;
      // Nothing let out so far holds what the whole answer's redaction takes out.
      const secrets = ['ABCsecret', 'MIIEkey', 'hunter2'].filter((secret) => !whole.includes(secret));
      const { sent } = streamAtRandom(answer, rand, 1 + rand(40), secrets);
      assert.equal(sent, whole, JSON.stringify(answer));
    }
  });

  it('knows how every rule begins', () => {
    for (const example of [
      'password',
      'api_key',
      'Access-Key',
      'auth_token',
      'client-secret',
      'sk-',
      'AKIA',
      'ghp_',
      'xoxb-',
    ]) {
      assert.ok(
        SECRET_STARTS.some((s) => example.toLowerCase().startsWith(s)),
        example,
      );
    }
  });
});

/** A provider answering as told, counting calls. */
class Scripted implements Provider {
  readonly endpoint = undefined;
  calls = 0;
  readonly name: string;
  readonly #behave: (n: number, ctx: CallContext) => Promise<string>;
  constructor(name: string, behave: (n: number, ctx: CallContext) => Promise<string>) {
    this.name = name;
    this.#behave = behave;
  }
  async chat(_req: ChatRequest, ctx: CallContext) {
    this.calls++;
    return { text: await this.#behave(this.calls, ctx), usage: { prompt: 1, completion: 0 } };
  }
  async *chatStream(_req: ChatRequest, ctx: CallContext): AsyncGenerator<ChatDelta> {
    this.calls++;
    yield { text: await this.#behave(this.calls, ctx) };
    yield { done: true, usage: { prompt: 1, completion: 0 } };
  }
  async embed() {
    this.calls++;
    return { embeddings: [[1]], usage: { prompt: 1, completion: 0 } };
  }
}

const models = { chat: 'c', code: 'c', analysis: 'c', embedding: 'e' };
function routerOf(...providers: Provider[]): ModelRouter {
  const config = {
    providers: providers.map(
      (p) =>
        ({
          name: p.name,
          url: undefined,
          apiKey: undefined,
          models,
          serves: '*',
        }) as unknown as ProviderConfig,
    ),
  } as ApiConfig;
  return new ModelRouter(config, undefined, providers);
}
/** The router's `chat` route, ready to call or stream. */
function chatOn(r: ModelRouter) {
  const route = r.route('chat', ['chat']) as ModelRoute;
  return {
    call: (i: ModelInput, c: RouteContext) => r.call(route, i, c),
    stream: (i: ModelInput, c: RouteContext) => r.stream(route, i, c),
  };
}
const input = { input: 'hi', context: [], source: 'test' };
function ctx(budgetMs: number) {
  return {
    signal: AbortSignal.timeout(budgetMs),
    deadline: performance.now() + budgetMs,
    span: NO_TRACING.server('POST', undefined),
  };
}
const fail = (kind: ProviderError['kind'], extra = {}) =>
  Promise.reject(new ProviderError(kind, `${kind} failure`, extra));
/** Resolves when the signal aborts, rejecting as a provider would. */
const hang = (c: CallContext) =>
  new Promise<string>((_, reject) =>
    c.signal.addEventListener('abort', () =>
      reject(new ProviderError('timeout', 'no answer before the deadline')),
    ),
  );

describe('the provider chain', () => {
  it('falls back in order and says who answered', async () => {
    const a = new Scripted('ollama', () => fail('status', { status: 500 }));
    const b = new Scripted('openai', async () => 'from b');
    const out = await chatOn(routerOf(a, b)).call(input, ctx(1000));
    assert.equal(out.kind === 'text' && out.text, 'from b');
    assert.equal(out.provider, 'openai');
    assert.equal(a.calls, 1);
  });

  it('retries a connection refused before any answer once on the same provider', async () => {
    const a = new Scripted('ollama', (n) =>
      n === 1 ? fail('unreachable', { beforeAnswer: true }) : Promise.resolve('second try'),
    );
    const out = await chatOn(routerOf(a)).call(input, ctx(1000));
    assert.equal(out.kind === 'text' && out.text, 'second try');
    assert.equal(a.calls, 2);
  });

  it('gives a slow provider its share of the deadline, the next the rest', async () => {
    const a = new Scripted('ollama', (_n, c) => hang(c));
    const b = new Scripted('openai', async () => 'b in time');
    const started = performance.now();
    const out = await chatOn(routerOf(a, b)).call(input, ctx(600));
    const ms = performance.now() - started;
    assert.equal(out.provider, 'openai');
    assert.ok(ms >= 250 && ms < 550, `${Math.round(ms)} ms`);
  });

  it('ends at the deadline with 503 and the reason, whatever is left to try', async () => {
    const a = new Scripted('ollama', (_n, c) => hang(c));
    const started = performance.now();
    await assert.rejects(chatOn(routerOf(a)).call(input, ctx(200)), (err: ModelUnavailableError) => {
      assert.equal(err.kind, 'timeout');
      assert.ok(err.retryAfterS >= 1);
      return true;
    });
    assert.ok(performance.now() - started < 400);
  });

  it('opens a provider circuit after five failures and skips it; pauses it for a 429', async () => {
    const a = new Scripted('ollama', () => fail('status', { status: 502 }));
    const b = new Scripted('openai', async () => 'b');
    const r = routerOf(a, b);
    for (let i = 0; i < 6; i++) await chatOn(r).call(input, ctx(1000));
    assert.equal(a.calls, 5, 'skipped once open');
    assert.equal(r.chain[0]?.circuit, 'open');
    assert.equal(r.circuit, 'half-open', 'the chain can still answer');
    const c = new Scripted('ollama', () => fail('rate_limited', { retryAfterMs: 60_000 }));
    const r2 = routerOf(c, new Scripted('openai', async () => 'b'));
    await chatOn(r2).call(input, ctx(1000));
    await chatOn(r2).call(input, ctx(1000));
    assert.equal(c.calls, 1, 'paused until its Retry-After');
    assert.equal(r2.chain[0]?.circuit, 'closed', 'a 429 is no failure');
  });

  it('a client that goes away ends the chain without counting against the provider', async () => {
    const a = new Scripted('ollama', (_n, c) => hang(c));
    const b = new Scripted('openai', async () => 'b');
    const gone = new AbortController();
    setTimeout(() => gone.abort(new ProviderError('cancelled', 'the client went away')), 50);
    await assert.rejects(
      chatOn(routerOf(a, b)).call(input, {
        signal: gone.signal,
        deadline: performance.now() + 5000,
        span: NO_TRACING.server('POST', undefined),
      }),
      (err: ModelUnavailableError) => err.kind === 'cancelled',
    );
    assert.equal(b.calls, 0);
  });

  it('streams from the first provider that sends a piece', async () => {
    const a = new Scripted('ollama', () => fail('unreachable'));
    const b = new Scripted('openai', async () => 'streamed');
    const s = await chatOn(routerOf(a, b)).stream(input, ctx(1000));
    const parts: ChatDelta[] = [];
    for (let r = await s.deltas.next(); !r.done; r = await s.deltas.next()) parts.push(r.value);
    assert.equal(s.provider, 'openai');
    assert.deepEqual(parts, [{ text: 'streamed' }, { done: true, usage: { prompt: 1, completion: 0 } }]);
  });
});

describe('models as data', () => {
  /** A chain of three: a listed provider, one that lists its models, one that serves any name. */
  async function chain() {
    const listing = new Scripted('ollama', async () => 'x');
    const lists = Object.assign(new Scripted('openai', async () => 'x'), {
      listModels: async () => ['gpt-4.1', 'shared'],
    });
    const any = new Scripted('echo', async () => 'x');
    const config = {
      providers: [
        { name: 'ollama', models, serves: ['llama3.1:8b', 'shared', 'hf.co/org/model'] },
        { name: 'openai', models, serves: 'discover' },
        { name: 'echo', models, serves: '*' },
      ],
    } as unknown as ApiConfig;
    const r = new ModelRouter(config, undefined, [listing, lists, any]);
    r.discover(60_000, () => assert.fail('the listing failed'));
    // The listing is read in the background: until then any name is tried at the discovering one.
    for (let i = 0; i < 100 && r.models().every((m) => m.model !== 'gpt-4.1'); i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    r.stop();
    return r;
  }
  const targets = (r: ModelRouter, name: string, services: Service[] = ['chat']) =>
    r.route(name, services)?.targets.map((t) => `${r.chain[t.link]?.provider.name}:${t.model}`);

  it('a service is each provider’s model for it, in chain order', async () => {
    const r = await chain();
    assert.deepEqual(targets(r, 'chat'), ['ollama:c', 'openai:c', 'echo:c']);
    assert.deepEqual(targets(r, 'embedding', ['embedding']), ['ollama:e', 'openai:e', 'echo:e']);
    assert.equal(
      r.route('embedding', ['chat'])?.service,
      'chat',
      'not a service of this route: a model name',
    );
  });

  it('a model name goes to every provider that serves it, listed, discovered or any', async () => {
    const r = await chain();
    assert.deepEqual(targets(r, 'shared'), ['ollama:shared', 'openai:shared', 'echo:shared']);
    assert.deepEqual(targets(r, 'gpt-4.1'), ['openai:gpt-4.1', 'echo:gpt-4.1']);
    assert.deepEqual(targets(r, 'llama3.1:8b'), ['ollama:llama3.1:8b', 'echo:llama3.1:8b']);
    assert.deepEqual(targets(r, 'hf.co/org/model'), ['ollama:hf.co/org/model', 'echo:hf.co/org/model']);
    assert.deepEqual(targets(r, 'c'), ['ollama:c', 'openai:c', 'echo:c'], 'a configured model is served');
  });

  it('provider/model goes to that provider alone, if it serves the model', async () => {
    const r = await chain();
    assert.deepEqual(targets(r, 'openai/gpt-4.1'), ['openai:gpt-4.1']);
    assert.deepEqual(targets(r, 'echo/anything at all'), ['echo:anything at all']);
    assert.equal(r.route('ollama/gpt-4.1', ['chat']), undefined);
    assert.equal(r.route('openai/unlisted', ['chat']), undefined);
  });

  it('an alias tries its models in its order, across providers, within one deadline', async () => {
    const failing = new Scripted('openai', () => fail('status', { status: 500 }));
    const local = new Scripted('ollama', async () => 'from ollama');
    const config = {
      providers: [
        { name: 'openai', models, serves: ['gpt-4.1'] },
        { name: 'ollama', models, serves: ['llama3.1:8b'] },
      ],
      aliases: new Map([['fast', ['openai/gpt-4.1', 'llama3.1:8b', 'openai/gpt-4.1', 'unserved']]]),
    } as unknown as ApiConfig;
    const r = new ModelRouter(config, undefined, [failing, local]);
    const route = r.route('fast', ['chat']);
    assert.deepEqual(
      route?.targets.map((t) => `${r.chain[t.link]?.provider.name}:${t.model}`),
      ['openai:gpt-4.1', 'ollama:llama3.1:8b'],
    );
    const out = await r.call(route as ModelRoute, input, ctx(1000));
    assert.equal(out.provider, 'ollama');
    assert.equal(out.model, 'llama3.1:8b');
    assert.equal(out.kind === 'text' && out.text, 'from ollama');
    assert.ok(r.models().some((m) => m.model === 'fast' && m.provider === 'robbie'));
  });

  it('a service leaves out the providers with no model for it (Anthropic has no embeddings)', () => {
    const config = {
      providers: [
        { name: 'anthropic', models: { ...models, embedding: '' }, serves: '*' },
        { name: 'ollama', models, serves: '*' },
      ],
    } as unknown as ApiConfig;
    const r = new ModelRouter(config, undefined, [
      new Scripted('anthropic', async () => 'x'),
      new Scripted('ollama', async () => 'x'),
    ]);
    assert.deepEqual(
      r.route('embedding', ['embedding'])?.targets.map((t) => t.link),
      [1],
    );
    const alone = new ModelRouter({ providers: [config.providers[0]] } as unknown as ApiConfig, undefined, [
      new Scripted('anthropic', async () => 'x'),
    ]);
    assert.equal(alone.route('embedding', ['embedding']), undefined);
  });

  it('a name no provider serves has no route; /v1/models lists what is known', async () => {
    const config = {
      providers: [{ name: 'ollama', models, serves: ['llama3.1:8b'] }],
    } as unknown as ApiConfig;
    const r = new ModelRouter(config, undefined, [new Scripted('ollama', async () => 'x')]);
    assert.equal(r.route('gpt-4.1', ['chat']), undefined);
    assert.deepEqual(
      r.models().map((m) => m.model),
      ['c', 'e', 'llama3.1:8b'],
    );
  });
});

describe('provider errors and error bodies', () => {
  it('reads Retry-After as seconds or a date, capped', () => {
    assert.equal(retryAfterMs('3'), 3000);
    assert.equal(retryAfterMs('99999'), 3_600_000);
    assert.ok((retryAfterMs(new Date(Date.now() + 5000).toUTCString()) ?? 0) > 3000);
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(new ProviderError('unreachable', 'x', { beforeAnswer: true }).retryable, true);
    assert.equal(new ProviderError('cancelled', 'x').isFailure, false);
  });

  it("builds robbie's and OpenAI's shapes from one problem", () => {
    const p = problem(429, 'rate_limited', 'slow down', { retryAfterS: 3 });
    assert.deepEqual(errorBody(p, 'r1', 'robbie'), {
      error: 'rate_limited',
      reason: 'slow down',
      retry_after_s: 3,
      request_id: 'r1',
    });
    assert.deepEqual(errorBody(p, 'r1', 'openai'), {
      error: {
        message: 'slow down (request r1)',
        type: 'rate_limit_error',
        code: 'rate_limited',
        param: null,
      },
    });
    const v = problem(400, 'validation_error', 'bad', {
      detail: [{ field: 'messages', reason: 'is required' }],
    });
    assert.equal((errorBody(v, undefined, 'openai') as { error: { param: string } }).error.param, 'messages');
  });
});
