/** Principals, the key registry, key settings, the budget rule and prices, without a store. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/logger/logger.ts';
import { holdable } from '../../src/storage/spend.ts';
import type { KeyRecord, KeyStore } from '../../src/storage/types.ts';
import { applyChanges, KeyFieldError, parseExpiry } from '../../src/tenancy/keys-admin.ts';
import { Prices } from '../../src/tenancy/prices.ts';
import { keyDigest, scopedId, staticPrincipals } from '../../src/tenancy/principal.ts';
import { KeyRegistry } from '../../src/tenancy/registry.ts';

const quiet = createLogger({ format: 'none', level: 'fatal' });
const SPEC = {
  services: null,
  models: null,
  rate_limit: null,
  token_limit: null,
  budget: null,
  cache_group: null,
};

/** A key store in memory that can be told to fail. */
class MemoryKeys implements KeyStore {
  keys: KeyRecord[] = [];
  failing = false;
  #rev = 0;
  async keysSince(rev: number) {
    if (this.failing) throw new Error('database unreachable');
    const keys = this.keys.filter((k) => k.rev > rev);
    return { rev: Math.max(rev, ...keys.map((k) => k.rev)), keys };
  }
  async saveKey(k: Omit<KeyRecord, 'rev'>) {
    const saved = { ...k, rev: ++this.#rev };
    this.keys = [...this.keys.filter((x) => x.id !== k.id), saved];
    return saved;
  }
  onKeysChanged() {}
}

function record(id: string, secret: string, over: Partial<KeyRecord> = {}): Omit<KeyRecord, 'rev'> {
  return {
    id,
    name: id,
    digest: keyDigest(secret),
    hint: 'rk-…',
    spec: SPEC,
    expires_at: null,
    revoked_at: null,
    created_at: 0,
    updated_at: 0,
    ...over,
  };
}

describe('principals and the key registry', () => {
  it('static keys: named or bare, ids stable and revealing nothing of the key', () => {
    const [named, bare] = staticPrincipals(['email:secret-one-1234', 'secret-two-5678']);
    assert.equal(named?.principal.name, 'email');
    assert.match(bare?.principal.name ?? '', /^static-[0-9a-f]{8}$/);
    assert.ok(!bare?.principal.name.includes('secret'));
    assert.deepEqual(staticPrincipals(['secret-two-5678'])[0]?.principal.id, bare?.principal.id);
    assert.equal(scopedId(named?.principal as never, 'r1'), `${named?.principal.id}/r1`);
  });

  it('open without keys; once a key exists every caller needs one', async () => {
    const store = new MemoryKeys();
    const reg = new KeyRegistry([], store, quiet);
    await reg.start();
    try {
      assert.equal(
        (reg.resolve(undefined) as { ok: true; principal: { name: string } }).principal.name,
        'anonymous',
      );
      await store.saveKey(record('k-1', 'rk-one'));
      await reg.refresh();
      assert.deepEqual(reg.resolve(undefined), { ok: false, why: 'missing' });
      assert.deepEqual(reg.resolve('rk-wrong'), { ok: false, why: 'invalid' });
      assert.equal((reg.resolve('rk-one') as { ok: true; principal: { id: string } }).principal.id, 'k-1');
    } finally {
      reg.close();
    }
  });

  it('a rotated key forgets its old secret; revoked and expired keys are refused with why', async () => {
    const store = new MemoryKeys();
    let now = 1000;
    const reg = new KeyRegistry(['static-key-0000'], store, quiet, () => now);
    await reg.start();
    try {
      await store.saveKey(record('k-1', 'rk-old'));
      await store.saveKey(record('k-2', 'rk-two', { expires_at: 5000 }));
      await reg.refresh();
      await store.saveKey(record('k-1', 'rk-new'));
      await reg.refresh();
      assert.deepEqual(reg.resolve('rk-old'), { ok: false, why: 'invalid' });
      assert.ok(reg.resolve('rk-new').ok);
      assert.ok(reg.resolve('rk-two').ok);
      now = 5000;
      assert.deepEqual(reg.resolve('rk-two'), { ok: false, why: 'expired' });
      await store.saveKey(record('k-1', 'rk-new', { revoked_at: 4000 }));
      await reg.refresh();
      assert.deepEqual(reg.resolve('rk-new'), { ok: false, why: 'revoked' });
      assert.ok(reg.resolve('static-key-0000').ok, 'static keys need no store');
    } finally {
      reg.close();
    }
  });

  it('stored keys that cannot be read yet: 503, not 401; static keys still work', async () => {
    const store = new MemoryKeys();
    store.failing = true;
    const reg = new KeyRegistry(['static-key-0000'], store, quiet);
    await reg.start();
    try {
      assert.deepEqual(reg.resolve('rk-some-stored-key'), { ok: false, why: 'unavailable' });
      assert.ok(reg.resolve('static-key-0000').ok);
      store.failing = false;
      await store.saveKey(record('k-1', 'rk-some-stored-key'));
      await reg.refresh();
      assert.ok(reg.resolve('rk-some-stored-key').ok);
    } finally {
      reg.close();
    }
  });
});

describe('key settings', () => {
  it('are checked field by field; null clears; a budget of neither tokens nor cost is none', () => {
    const spec = applyChanges(SPEC, { services: ['chat'], rate_limit: '60/1m', budget_tokens: 1000 });
    assert.deepEqual(spec.services, ['chat']);
    assert.equal(spec.rate_limit, '60/1m');
    assert.deepEqual(spec.budget, { tokens: 1000, cost: null, period: 'month' });
    assert.equal(applyChanges(spec, { budget_tokens: null }).budget, null);
    assert.throws(() => applyChanges(SPEC, { services: ['poetry'] }), KeyFieldError);
    assert.throws(() => applyChanges(SPEC, { rate_limit: 'lots' }), KeyFieldError);
    assert.throws(() => applyChanges(SPEC, { budget_tokens: -1 }), KeyFieldError);
    assert.equal(parseExpiry('30d', 0), 30 * 86_400_000);
    assert.equal(parseExpiry('never'), null);
    assert.throws(() => parseExpiry('soonish'), KeyFieldError);
  });
});

describe('the budget rule and prices', () => {
  const hold = (
    tokens: number,
    cost = 0,
    limit = { tokens: 100 as number | null, cost: null as number | null },
  ) => ({
    id: 'h',
    keyId: 'k',
    sinceDay: 0,
    tokens,
    cost,
    leaseMs: 1000,
    limit,
  });
  it('admits what fits; what does not fit only alone, holding what is left', () => {
    const inFlight = (tokens: number, count: number) => ({ tokens, cost: 0, count });
    assert.deepEqual(holdable(hold(30), { tokens: 50, cost: 0 }, inFlight(10, 1)), { tokens: 30, cost: 0 });
    // 40 left and another request in flight: a request estimated at 60 waits.
    assert.equal(holdable(hold(60), { tokens: 50, cost: 0 }, inFlight(10, 1)), undefined);
    // Alone at the edge, it is served, holding what is left.
    assert.deepEqual(holdable(hold(60), { tokens: 60, cost: 0 }, inFlight(0, 0)), { tokens: 40, cost: 0 });
    assert.equal(holdable(hold(1), { tokens: 90, cost: 0 }, inFlight(10, 1)), undefined);
    assert.equal(
      holdable(hold(1, 0.1, { tokens: null, cost: 1 }), { tokens: 0, cost: 1 }, inFlight(0, 0)),
      undefined,
    );
  });

  it('racing at the edge, never more than the budget: estimates of 10, spends of 9, budget 90', () => {
    // Requests arrive while others run; each finishes, its spend replacing its hold. In every
    // interleaving tried the admitted requests spend at most the budget.
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 200; round++) {
      let spent = 0;
      const running: number[] = [];
      let admitted = 0;
      for (let step = 0; step < 60; step++) {
        if (running.length > 0 && random() < 0.5) {
          running.splice(Math.floor(random() * running.length), 1);
          spent += 9;
          continue;
        }
        const held = running.reduce((n, t) => n + t, 0);
        const take = holdable(
          hold(10, 0, { tokens: 90, cost: null }),
          { tokens: spent, cost: 0 },
          { tokens: held, cost: 0, count: running.length },
        );
        if (take) {
          running.push(take.tokens);
          admitted++;
        }
      }
      spent += 9 * running.length;
      assert.ok(spent <= 90, `round ${round}: ${admitted} admitted, ${spent} spent`);
    }
  });

  it("prices what it knows, a provider's own price first, and says unknown rather than 0", () => {
    const p = new Prices(
      new Map([
        ['m', { input: 1, output: 2 }],
        ['cheap/m', { input: 0.5, output: 0.5 }],
      ]),
    );
    assert.equal(p.cost('openai', 'm', { prompt: 1_000_000, completion: 500_000 }), 2);
    assert.equal(p.cost('cheap', 'm', { prompt: 1_000_000, completion: 1_000_000 }), 1);
    assert.equal(p.cost(undefined, 'm', { prompt: 1_000_000, completion: 0 }), 1);
    assert.equal(p.cost('openai', 'other', { prompt: 10, completion: 10 }), null);
    assert.equal(p.cost('openai', 'm', { prompt: null, completion: null }), null);
  });
});
