/** One contract, two stores: the embedded SQLite store and PostgreSQL behave the same. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/logger/logger.ts';
import { PostgresStore } from '../../src/storage/postgres/store.ts';
import { SCHEMA_VERSION } from '../../src/storage/schema.ts';
import { SqliteStore } from '../../src/storage/sqlite/store.ts';
import {
  type BlockRecord,
  KeyConflictError,
  type KeySpec,
  type RequestRecord,
  type Store,
} from '../../src/storage/types.ts';
import { type PgCluster, postgresMissing, startCluster } from '../helpers/postgres.ts';
import { sleep, waitFor } from '../helpers/process.ts';
import { requestRecord } from '../helpers/records.ts';
import { tempHome } from '../helpers/supervisor.ts';

const quiet = createLogger({ format: 'none', level: 'fatal' });

function blockRecord(id: string): BlockRecord {
  return {
    request_id: id,
    timestamp: new Date().toISOString(),
    block_reason: 'prompt injection: ignore previous instructions',
    block_category: 'prompt_injection',
    severity: 'high',
    source: 'chat',
    input_pattern: 'ignore previous instructions',
    triggered_killswitch: false,
    user_id: 'allan',
  };
}

function contract(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>) {
  describe(`storage contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(async () => {
      await cleanup?.();
    });

    it('migrates to the current version, and again without change', async () => {
      assert.equal(await store.migrate(), SCHEMA_VERSION);
      assert.equal(await store.migrate(), SCHEMA_VERSION);
      assert.equal((await store.info()).version, SCHEMA_VERSION);
    });

    it('records a request and returns its stored answer; a retry never duplicates or overwrites', async () => {
      const id = `req-${randomUUID()}`;
      assert.equal(
        await store.write({ kind: 'request', data: requestRecord(id, { request_fingerprint: 'fp-1' }) }),
        'database',
      );
      await store.write({
        kind: 'request',
        data: requestRecord(id, { http_status: 500, response: { other: true } }),
      });
      const found = await store.findResponse('', id);
      assert.deepEqual(found, {
        http_status: 200,
        response: requestRecord(id).response,
        fingerprint: 'fp-1',
      });
      assert.equal(await store.findResponse('', 'no-such-request'), undefined);
    });

    it('accepts request ids and sources the original schema refused (defect 9)', async () => {
      const id = 'not-a-uuid_client.retry-7';
      await store.write({
        kind: 'request',
        data: requestRecord(id, { source: 'openphone-sms', gatekeeper_status: 'revised' }),
      });
      assert.ok(await store.findResponse('', id));
    });

    it('a killswitch block is recorded, not final: the retry replaces it', async () => {
      const id = `blocked-${randomUUID()}`;
      await store.write({ kind: 'request', data: requestRecord(id, { gatekeeper_status: 'blocked' }) });
      assert.equal(await store.findResponse('', id), undefined, 'a retry runs again');
      await store.write({ kind: 'request', data: requestRecord(id) });
      assert.equal((await store.findResponse('', id))?.http_status, 200);
    });

    it('a retryable outcome (model unavailable) is recorded, not replayed, and replaced by the retry', async () => {
      const id = `retry-${randomUUID()}`;
      await store.write({
        kind: 'request',
        data: requestRecord(id, {
          gatekeeper_status: 'unavailable',
          http_status: 503,
          response: { error: 'model_unavailable' },
        }),
      });
      assert.equal(await store.findResponse('', id), undefined, 'a retry runs again');
      await store.write({ kind: 'request', data: requestRecord(id) });
      assert.deepEqual(await store.findResponse('', id), {
        http_status: 200,
        response: requestRecord(id).response,
        fingerprint: null,
      });
      await store.write({
        kind: 'request',
        data: requestRecord(id, { gatekeeper_status: 'unavailable', http_status: 503 }),
      });
      assert.equal((await store.findResponse('', id))?.http_status, 200, 'a final answer is never replaced');
    });

    it('claims a request id once across attempts: taken, conflict, released, and stale claims taken over', async () => {
      const id = `claim-${randomUUID()}`;
      assert.equal(await store.claim(id, 'fp-a', 60_000), 'won');
      assert.equal(
        await store.claim(id, 'fp-a', 60_000),
        'taken',
        'a second attempt with the same request waits',
      );
      assert.equal(await store.claim(id, 'fp-b', 60_000), 'conflict', 'another request under the same id');
      await store.release(id);
      assert.equal(await store.claim(id, 'fp-b', 60_000), 'won', 'free again once released');
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(await store.claim(id, 'fp-a', 10), 'won', 'a claim older than staleMs is taken over');
      // A renewed claim is alive: not taken over within its lease.
      await new Promise((r) => setTimeout(r, 300));
      await store.renewClaim(id);
      assert.equal(await store.claim(id, 'fp-a', 250), 'taken', 'renewed within the lease');
      await store.release(id);
    });

    it('shares rate-limit windows: concurrent hits admit exactly the limit, and a refusal says when', async () => {
      const key = `user-${randomUUID()}-chat`;
      const verdicts = await Promise.all(Array.from({ length: 30 }, () => store.rateHit(key, 12, 60_000, 1)));
      // A window edge may fall inside this burst; then the next window admits a share too.
      const admitted = verdicts.filter((v) => v.admitted === 1).length;
      assert.ok(admitted >= 12 && admitted <= 24, `admitted ${admitted}`);
      const refused = verdicts.find((v) => v.admitted === 0);
      assert.ok(refused && refused.retryAfterS >= 1 && refused.retryAfterS <= 120, JSON.stringify(refused));
      // A batch of one key's requests: as many as the rule admits, in one count.
      const batchKey = `${key}-batch`;
      const batches = await Promise.all([
        store.rateHit(batchKey, 12, 60_000, 8),
        store.rateHit(batchKey, 12, 60_000, 8),
      ]);
      const sum = batches.reduce((a, b) => a + b.admitted, 0);
      assert.ok(sum >= 12 && sum <= 16, `admitted ${sum} of 16`);
      assert.ok(batches.some((b) => b.admitted < 8 && b.retryAfterS >= 1));
      // Another key has its own windows.
      assert.equal((await store.rateHit(`${key}-other`, 12, 60_000, 1)).admitted, 1);
      // Pruned windows count no more: the key starts afresh.
      await store.pruneRateWindows(Date.now() + 3_600_000);
      assert.equal((await store.rateHit(key, 12, 60_000, 1)).admitted, 1);
    });

    it('leases rate-limit admissions only while the window has room, and gives them back', async () => {
      const key = `user-${randomUUID()}-lease`;
      // An hour-long window, begun at least 2 s before its end: no window edge falls inside this test.
      if (3_600_000 - (Date.now() % 3_600_000) < 2000) await new Promise((r) => setTimeout(r, 2100));
      // Two waiting and six ahead: leased while the room (40, then 32) holds four counts of eight.
      const leased = await store.rateHit(key, 40, 3_600_000, 2, 6);
      assert.equal(leased.admitted, 8);
      assert.equal(leased.windowStart % 3_600_000, 0);
      assert.equal((await store.rateHit(key, 40, 3_600_000, 2, 6)).admitted, 8);
      assert.equal((await store.rateHit(key, 40, 3_600_000, 2, 6)).admitted, 2, 'room 24: the waiting only');
      await store.rateGiveBack(key, leased.windowStart, 5);
      const after = await store.rateHit(key, 40, 3_600_000, 40);
      assert.equal(after.admitted, 27, '13 still counted, 27 more admitted');
      assert.ok(after.retryAfterS >= 1);
      assert.equal(
        (await store.rateHit(key, 40, 3_600_000, 1, 1)).admitted,
        0,
        'nothing leased past the limit',
      );
      await store.rateGiveBack(key, leased.windowStart, 50);
      assert.equal((await store.rateHit(key, 40, 3_600_000, 40)).admitted, 40, 'not below zero');
    });

    it('keeps cached answers by key, replaces them, and prunes the old ones', async () => {
      const key = `k-${randomUUID()}`;
      assert.equal(await store.cachedAnswer(key), undefined);
      const before = Date.now();
      await store.cacheAnswer(key, 'chat', {
        provider: 'ollama',
        model: 'm',
        tokens: 3,
        text: 'first \u00e9',
      });
      await store.cacheAnswer(key, 'chat', { provider: 'ollama', model: 'm', tokens: 3, text: 'second' });
      const found = await store.cachedAnswer(key);
      assert.deepEqual(found?.answer, { provider: 'ollama', model: 'm', tokens: 3, text: 'second' });
      assert.ok((found?.createdAt ?? 0) >= before && (found?.createdAt ?? 0) <= Date.now());
      await store.pruneAnswers(Date.now() + 1);
      assert.equal(await store.cachedAnswer(key), undefined);
    });

    it('records which provider answered, cache use and how a stream ended', async () => {
      const id = `req-${randomUUID()}`;
      await store.write({
        kind: 'request',
        data: requestRecord(id, { provider: 'openai', cache: 'stale', first_token_ms: 12, stream: 'cut' }),
      });
      assert.equal((await store.findResponse('', id))?.http_status, 200);
    });

    it('keeps concurrent writes (group commit) all', async () => {
      const ids = Array.from({ length: 200 }, () => `c-${randomUUID()}`);
      await Promise.all(ids.map((id) => store.write({ kind: 'request', data: requestRecord(id) })));
      for (const id of ids.slice(0, 20)) assert.ok(await store.findResponse('', id), id);
      const stats = await store.stats(Date.now() - 60_000);
      assert.ok((stats.by_status.approved ?? 0) >= 200);
    });

    it('records gatekeeper blocks, newest first, once per request', async () => {
      const a = `b-${randomUUID()}`;
      const b = `b-${randomUUID()}`;
      await store.write({ kind: 'block', data: blockRecord(a) });
      await store.write({ kind: 'block', data: blockRecord(b) });
      await store.write({ kind: 'block', data: blockRecord(b) });
      const recent = await store.recentBlocks(10);
      const ids = recent.map((r) => r.request_id).filter((r) => r === a || r === b);
      assert.deepEqual(ids, [b, a]);
      assert.equal(recent[0]?.severity, 'high');
      assert.equal(recent[0]?.triggered_killswitch, false);
    });

    it('keeps the killswitch state and its history; a replayed change is applied once', async () => {
      const initial = await store.killswitch();
      assert.equal(initial.is_active, false);
      const on = {
        change_id: randomUUID(),
        is_active: true,
        at: new Date().toISOString(),
        by: 'admin',
        reason: 'drill',
        auto_trigger: 'manual',
      };
      await store.write({ kind: 'killswitch', data: on });
      await store.write({ kind: 'killswitch', data: on });
      const active = await store.killswitch();
      assert.equal(active.is_active, true);
      assert.equal(active.activated_by, 'admin');
      assert.equal(active.reason, 'drill');
      assert.equal(active.restrictions.internet, true);
      const off = {
        change_id: randomUUID(),
        is_active: false,
        at: new Date().toISOString(),
        by: 'admin2',
        reason: null,
        auto_trigger: null,
      };
      await store.write({ kind: 'killswitch', data: off });
      const inactive = await store.killswitch();
      assert.equal(inactive.is_active, false);
      assert.equal(inactive.deactivated_by, 'admin2');
      assert.equal(inactive.activated_by, 'admin', 'the last activation stays on record');
    });

    it('purges rows older than the retention, in batches, and keeps the rest', async () => {
      const old = new Date(Date.now() - 100 * 86_400_000).toISOString();
      const ids = Array.from({ length: 25 }, () => `old-${randomUUID()}`);
      for (const id of ids)
        await store.write({ kind: 'request', data: requestRecord(id, { timestamp: old }) });
      const fresh = `fresh-${randomUUID()}`;
      await store.write({ kind: 'request', data: requestRecord(fresh) });
      const removed = await store.purge(new Date(Date.now() - 90 * 86_400_000), 10);
      assert.ok(removed >= 25, `removed ${removed}`);
      assert.equal(await store.findResponse('', ids[0] as string), undefined);
      assert.ok(await store.findResponse('', fresh));
    });

    it('keeps request ids, blocks and stats per key: the same id from two keys is two requests', async () => {
      const id = `scoped-${randomUUID()}`;
      const keyA = `k-a-${randomUUID().slice(0, 8)}`;
      const keyB = `k-b-${randomUUID().slice(0, 8)}`;
      await store.write({
        kind: 'request',
        data: requestRecord(id, { key_id: keyA, response: { who: 'a' } }),
      });
      await store.write({
        kind: 'request',
        data: requestRecord(id, { key_id: keyB, response: { who: 'b' } }),
      });
      assert.deepEqual((await store.findResponse(keyA, id))?.response, { who: 'a' });
      assert.deepEqual((await store.findResponse(keyB, id))?.response, { who: 'b' });
      assert.equal(await store.findResponse('', id), undefined, 'nor is it the keyless request of that id');
      await store.write({ kind: 'block', data: { ...blockRecord(id), key_id: keyA, user_id: 'alice@a' } });
      await store.write({ kind: 'block', data: { ...blockRecord(id), key_id: keyB, user_id: 'bob@b' } });
      assert.deepEqual(
        (await store.recentBlocks(10, keyB)).map((b) => b.user_id),
        ['bob@b'],
      );
      const statsA = await store.stats(Date.now() - 60_000, keyA);
      assert.deepEqual(statsA.by_status, { approved: 1 });
    });

    it('reports usage by key, day and model from the records: split, priced, unknown prices counted apart', async () => {
      const key = `k-u-${randomUUID().slice(0, 8)}`;
      const rec = (over: Partial<RequestRecord>) =>
        store.write({
          kind: 'request',
          data: requestRecord(`u-${randomUUID()}`, { key_id: key, key_name: `${key}-name`, ...over }),
        });
      await rec({ ai_model: 'priced', prompt_tokens: 10, completion_tokens: 20, tokens_used: 30, cost: 0.5 });
      await rec({ ai_model: 'priced', prompt_tokens: 1, completion_tokens: 2, tokens_used: 3, cost: 0.25 });
      await rec({ ai_model: 'unpriced', prompt_tokens: 4, completion_tokens: 5, tokens_used: 9, cost: null });
      const byKey = await store.usage({ sinceMs: Date.now() - 60_000, by: 'key', key: `${key}-name` });
      assert.deepEqual(byKey, [
        {
          group: `${key}-name`,
          requests: 3,
          prompt_tokens: 15,
          completion_tokens: 27,
          tokens: 42,
          cost: 0.75,
          cost_unknown: 1,
        },
      ]);
      const byModel = await store.usage({ sinceMs: Date.now() - 60_000, by: 'model', key });
      assert.deepEqual(
        byModel.map((r) => [r.group, r.tokens]),
        [
          ['priced', 33],
          ['unpriced', 9],
        ],
      );
      const byDay = await store.usage({ sinceMs: Date.now() - 60_000, by: 'day', key });
      assert.equal(byDay[0]?.group, new Date().toISOString().slice(0, 10));
      await rec({ source: 'sms', tokens_used: 7 });
      const bySource = await store.usage({ sinceMs: Date.now() - 60_000, by: 'source', key });
      assert.deepEqual(
        bySource.map((r) => [r.group, r.requests]).sort(),
        [
          ['sms', 1],
          [requestRecord('x', {}).source, 3],
        ].sort(),
      );
    });

    it('lists the latest requests of every key, newest first', async () => {
      const ids = [`r1-${randomUUID()}`, `r2-${randomUUID()}`];
      for (const [i, id] of ids.entries()) {
        await store.write({
          kind: 'request',
          data: requestRecord(id, {
            key_id: `k-r-${i}`,
            key_name: `recent-${i}`,
            ai_model: 'm',
            tokens_used: 5 + i,
          }),
        });
        await new Promise((r) => setTimeout(r, 5));
      }
      const recent = await store.recentRequests(2);
      assert.deepEqual(
        recent.map((r) => [r.request_id, r.key_name, r.ai_model, r.tokens_used]),
        [
          [ids[1], 'recent-1', 'm', 6],
          [ids[0], 'recent-0', 'm', 5],
        ],
      );
      assert.equal(typeof recent[0]?.timestamp, 'string');
      assert.equal(typeof recent[0]?.processing_time_ms, 'number');
    });

    it('saves keys by id with a rising rev, refuses a taken name, and lists what changed since a rev', async () => {
      const now = Date.now();
      const spec: KeySpec = {
        services: null,
        models: null,
        rate_limit: '5/1m',
        token_limit: null,
        budget: null,
        cache_group: null,
      };
      const name = `key-${randomUUID().slice(0, 8)}`;
      const base = {
        digest: randomUUID(),
        hint: 'rk-abc…',
        spec,
        expires_at: null,
        revoked_at: null,
        created_at: now,
        updated_at: now,
      };
      const { rev: before } = await store.keysSince(0);
      const first = await store.saveKey({ ...base, id: `k-${randomUUID().slice(0, 8)}`, name });
      assert.ok(first.rev > before);
      await assert.rejects(
        store.saveKey({ ...base, id: `k-${randomUUID().slice(0, 8)}`, name, digest: randomUUID() }),
        KeyConflictError,
      );
      const revoked = await store.saveKey({ ...first, revoked_at: now });
      assert.ok(revoked.rev > first.rev);
      const changed = await store.keysSince(first.rev);
      assert.deepEqual(
        changed.keys.map((k) => [k.id, k.revoked_at, k.spec.rate_limit]),
        [[first.id, now, '5/1m']],
      );
      assert.equal(changed.rev, revoked.rev);
      assert.deepEqual((await store.keysSince(revoked.rev)).keys, []);
    });

    it('holds a budget atomically: concurrent holds never take more than is left, and spend comes from the records', async () => {
      const keyId = `k-budget-${randomUUID().slice(0, 8)}`;
      const day = Math.floor(Date.now() / 86_400_000);
      const hold = (tokens: number) =>
        store.holdBudget({
          id: randomUUID(),
          keyId,
          sinceDay: day,
          tokens,
          cost: 0,
          leaseMs: 60_000,
          limit: { tokens: 100, cost: null },
        });
      // 30 racing holds of 9: 11 fit in 100; the 12th does not, and others are in flight.
      const results = await Promise.all(Array.from({ length: 30 }, () => hold(9)));
      assert.equal(results.filter((r) => r.ok).length, 11);
      assert.deepEqual(
        results.find((r) => !r.ok),
        { ok: false, spentTokens: 0, spentCost: 0 },
      );
      // Spend recorded with the requests counts (once, however often a record is replayed).
      const other = `k-spend-${randomUUID().slice(0, 8)}`;
      const rec = requestRecord(`s-${randomUUID()}`, { key_id: other, tokens_used: 60 });
      await store.write({ kind: 'request', data: rec });
      await store.write({ kind: 'request', data: rec });
      const spent = await store.holdBudget({
        id: randomUUID(),
        keyId: other,
        sinceDay: day,
        tokens: 50,
        cost: 0,
        leaseMs: 60_000,
        limit: { tokens: 100, cost: null },
      });
      assert.ok(spent.ok, 'alone, it holds what is left (40 of its 50)');
      const full = await store.holdBudget({
        id: randomUUID(),
        keyId: other,
        sinceDay: day,
        tokens: 1,
        cost: 0,
        leaseMs: 60_000,
        limit: { tokens: 100, cost: null },
      });
      assert.deepEqual(full, { ok: false, spentTokens: 60, spentCost: 0 });
      // A record releases its request's hold in the same commit as the spend that replaces it.
      const swapped = `k-swap-${randomUUID().slice(0, 8)}`;
      const held = randomUUID();
      const limit = { tokens: 100, cost: null };
      assert.ok(
        (
          await store.holdBudget({
            id: held,
            keyId: swapped,
            sinceDay: day,
            tokens: 100,
            cost: 0,
            leaseMs: 60_000,
            limit,
          })
        ).ok,
      );
      await store.write({
        kind: 'request',
        data: requestRecord(`sw-${randomUUID()}`, { key_id: swapped, tokens_used: 30, budget_hold: held }),
      });
      assert.ok(
        (
          await store.holdBudget({
            id: randomUUID(),
            keyId: swapped,
            sinceDay: day,
            tokens: 70,
            cost: 0,
            leaseMs: 60_000,
            limit,
          })
        ).ok,
      );
      assert.deepEqual(
        await store.holdBudget({
          id: randomUUID(),
          keyId: swapped,
          sinceDay: day,
          tokens: 1,
          cost: 0,
          leaseMs: 60_000,
          limit,
        }),
        {
          ok: false,
          spentTokens: 30,
          spentCost: 0,
        },
      );
      // A released hold frees its share; one whose lease lapsed does too.
      const lapsing = `k-lapse-${randomUUID().slice(0, 8)}`;
      const h1 = randomUUID();
      assert.ok(
        (
          await store.holdBudget({
            id: h1,
            keyId: lapsing,
            sinceDay: day,
            tokens: 100,
            cost: 0,
            leaseMs: 60_000,
            limit: { tokens: 100, cost: null },
          })
        ).ok,
      );
      await store.releaseBudget(h1);
      assert.ok(
        (
          await store.holdBudget({
            id: randomUUID(),
            keyId: lapsing,
            sinceDay: day,
            tokens: 100,
            cost: 0,
            leaseMs: 50,
            limit: { tokens: 100, cost: null },
          })
        ).ok,
      );
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(
        (
          await store.holdBudget({
            id: randomUUID(),
            keyId: lapsing,
            sinceDay: day,
            tokens: 100,
            cost: 0,
            leaseMs: 60_000,
            limit: { tokens: 100, cost: null },
          })
        ).ok,
      );
    });

    it('reports the database up in its health check', async () => {
      const check = await store.checks().database?.();
      assert.equal(check?.status, 'up');
    });
  });
}

contract('SQLite', async () => {
  const { home, cleanup } = tempHome();
  const store = new SqliteStore(join(home, 'robbie.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      cleanup();
    },
  };
});

describe('SQLite: durable before acknowledged', () => {
  it('a write resolves only once its commit is made durable, and writes waiting meanwhile share the next', async () => {
    const { home, cleanup } = tempHome();
    const releases: (() => void)[] = [];
    const store = new SqliteStore(join(home, 'robbie.db'), {
      durable: () => new Promise<void>((r) => releases.push(r)),
    });
    try {
      await store.migrate();
      let first = false;
      const a = store.write({ kind: 'request', data: requestRecord('durable-a') }).then(() => {
        first = true;
      });
      for (let i = 0; i < 50 && releases.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(releases.length, 1, 'the first commit waits to be made durable');
      // Committed (readable) but not acknowledged yet; two more writes gather meanwhile.
      assert.ok(await store.findResponse('', 'durable-a'));
      const rest = [
        store.write({ kind: 'request', data: requestRecord('durable-b') }),
        store.write({ kind: 'request', data: requestRecord('durable-c') }),
      ];
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(first, false, 'not acknowledged before the sync');
      releases.shift()?.();
      await a;
      for (let i = 0; i < 50 && (releases.length as number) === 0; i++)
        await new Promise((r) => setTimeout(r, 5));
      assert.equal(releases.length, 1, 'the two waiting writes went in one commit');
      releases.shift()?.();
      await Promise.all(rest);
    } finally {
      await store.close();
      cleanup();
    }
  });
});

describe('SQLite: the fsync of a process serving nothing else', () => {
  /**
   * A store whose writes are made with every thread of libuv's pool blocked (opening a FIFO that
   * has no writer yet; a writer opened on this thread, the pool having none free, lets them
   * through). `inlineMaxMs` as the store takes it: Infinity, whatever the disk; 0, the disk always
   * too slow.
   */
  async function withPoolBlocked(
    inlineMaxMs: number,
    body: (
      store: SqliteStore,
      setAlone: (alone: boolean) => void,
      release: () => Promise<void>,
    ) => Promise<void>,
  ): Promise<void> {
    const { home, cleanup } = tempHome();
    let alone = true;
    const store = new SqliteStore(join(home, 'robbie.db'), { alone: () => alone, inlineMaxMs });
    const fifo = join(home, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const size = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    let blocked: Promise<unknown>[] = [];
    const release = async () => {
      if (blocked.length === 0) return;
      const writer = openSync(fifo, 'w');
      await Promise.all(blocked);
      closeSync(writer);
      blocked = [];
    };
    try {
      await store.migrate();
      // The first write opens the WAL for its fsyncs (on the pool), while the pool is free.
      await store.write({ kind: 'request', data: requestRecord('warm') });
      blocked = Array.from({ length: size }, () => open(fifo, 'r').then((h) => h.close()));
      const poolFree = settled(stat(home));
      await sleep(100);
      assert.equal(poolFree(), false, 'every thread of the pool is blocked');
      await body(
        store,
        (a) => {
          alone = a;
        },
        release,
      );
    } finally {
      await release();
      await store.close();
      cleanup();
    }
  }

  /** Whether `p` has settled, asked at any time. */
  function settled(p: Promise<unknown>): () => boolean {
    let done = false;
    const mark = () => {
      done = true;
    };
    void p.then(mark, mark);
    return () => done;
  }

  /** `p`, once settled within 10 s. */
  async function within<T>(p: Promise<T>, what: string): Promise<T> {
    await waitFor(what, settled(p));
    return p;
  }

  /** Whether `write` is acknowledged within 100 ms (it stays pending while it waits on the pool). */
  async function acknowledgedSoon(write: Promise<unknown>): Promise<boolean> {
    const acknowledged = settled(write);
    await sleep(100);
    return acknowledged();
  }

  it('runs on the calling thread when the store is alone, and on the thread pool otherwise', async () => {
    await withPoolBlocked(Number.POSITIVE_INFINITY, async (store, setAlone, release) => {
      await within(
        store.write({ kind: 'request', data: requestRecord('alone-1') }),
        'acknowledgement (alone)',
      );
      assert.ok(await store.findResponse('', 'alone-1'));
      setAlone(false);
      const shared = store.write({ kind: 'request', data: requestRecord('alone-2') });
      assert.equal(await acknowledgedSoon(shared), false, 'not alone: the fsync waits its turn on the pool');
      await release();
      await within(shared, 'acknowledgement once the pool is free');
    });
  });

  it("keeps a streamed answer's record, and every record on a disk slow to sync, on the thread pool", async () => {
    await withPoolBlocked(Number.POSITIVE_INFINITY, async (store, _setAlone, release) => {
      const streamed = store.write({ kind: 'request', data: requestRecord('streamed', { stream: 'cut' }) });
      assert.equal(await acknowledgedSoon(streamed), false, 'no reply waits on a stream end: the pool');
      await release();
      await within(streamed, 'acknowledgement once the pool is free');
    });
    await withPoolBlocked(0, async (store, _setAlone, release) => {
      const slow = store.write({ kind: 'request', data: requestRecord('slow-disk') });
      assert.equal(await acknowledgedSoon(slow), false, 'after a slow fsync: the pool');
      await release();
      await within(slow, 'acknowledgement once the pool is free');
    });
  });
});

let cluster: PgCluster | undefined;
const missing = postgresMissing();
if (missing && !process.env.CI) {
  describe('storage contract: PostgreSQL', () => {
    it(`skipped on this machine: ${missing}`, (t) => t.skip(missing));
  });
} else {
  contract('PostgreSQL', async () => {
    cluster = await startCluster({ fsync: false });
    const { home, cleanup } = tempHome();
    const store = new PostgresStore(cluster.url, join(home, 'outbox.db'), quiet);
    await store.migrate();
    store.start();
    // The probe marks the database up.
    for (let i = 0; i < 100 && (await store.checks().database?.())?.status !== 'up'; i++)
      await new Promise((r) => setTimeout(r, 20));
    return {
      store,
      cleanup: async () => {
        await store.close();
        cluster?.destroy();
        cleanup();
      },
    };
  });
}
