/**
 * The two promises under hostile input, through the built binary on both stores: what a store
 * cannot hold is refused at the edge and never costs its neighbours; one model call per request id
 * whatever the concurrency and the instance; a reused id with another payload is refused.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { type FakeModel, startFakeModel } from '../helpers/fake-model.ts';
import { clusterOrSkip, type PgCluster } from '../helpers/postgres.ts';
import { freePort, killAll, spawnRobbie, stopProc, waitFor, waitHealthy } from '../helpers/process.ts';
import { serveInTempHome, startSupervisor, tempHome } from '../helpers/supervisor.ts';

after(killAll);

const chat = (input: string, extra: Record<string, unknown> = {}) => ({
  source: 'chat',
  ai_service: 'chat',
  payload: { input },
  ...extra,
});

async function post(port: number, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** `robbie serve` on SQLite (no url) or PostgreSQL, with the fake model. */
function serve(fake: FakeModel, databaseUrl?: string) {
  return serveInTempHome({ OLLAMA_URL: fake.url, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) });
}

/** Nested objects as JSON text (JSON.stringify itself overflows the stack at such depths). */
function deep(levels: number): string {
  return `${'{"d":'.repeat(levels)}"bottom"${'}'.repeat(levels)}`;
}

async function unstorableInput(port: number, count: (prefix: string) => number): Promise<void> {
  const prefix = `nul-${Date.now()}-`;
  const bad = [
    chat('a NUL \u0000 byte', { request_id: `${prefix}bad-nul` }),
    chat('fine', { request_id: `${prefix}bad-surrogate`, source_metadata: { sender: 'x\ud800y' } }),
    // 5,000 levels: refused by depth, not a stack overflow.
    `{"source":"chat","ai_service":"chat","payload":{"input":"x"},"request_id":"${prefix}bad-deep","source_metadata":${deep(5000)}}`,
  ];
  const good = Array.from({ length: 30 }, (_, i) =>
    chat(`innocent ${i}`, { request_id: `${prefix}ok-${i}` }),
  );
  const results = await Promise.all([...bad, ...good].map((b) => post(port, b)));
  for (const r of results.slice(0, 3)) {
    assert.equal(r.status, 422, JSON.stringify(r.body));
    const detail = r.body.detail as { msg: string }[];
    assert.match(detail.map((d) => d.msg).join(' '), /NUL|unpaired surrogates|nest deeper/);
  }
  assert.ok(
    results.slice(3).every((r) => r.status === 200),
    'every innocent neighbour answered 200',
  );
  assert.equal(count(prefix), 30, 'every 2xx has its row; the refused ones none');
}

/**
 * A model answer holding U+0000 (which PostgreSQL cannot store) is answered as the model gave it,
 * recorded, and a retry of its id is answered from the store.
 */
async function nulAnswer(port: number, fake: FakeModel, stored: (id: string) => string): Promise<void> {
  const id = `nul-answer-${Date.now()}`;
  fake.reply = () => 'before\u0000after';
  try {
    const first = await post(port, chat('say something odd', { request_id: id }));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const message = (first.body.robbie_response as { message: string }).message;
    assert.equal(message, 'before\u0000after', 'the client gets the answer as the model gave it');
    assert.match(stored(id), /^before.after$/, 'the answer is recorded');
    const calls = fake.calls.length;
    const retry = await post(port, chat('say something odd', { request_id: id }));
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.equal(fake.calls.length, calls, 'the retry is answered from the store');
    assert.match((retry.body.robbie_response as { message: string }).message, /^before.after$/);
  } finally {
    fake.reply = undefined;
  }
}

async function duplicates(port: number, fake: FakeModel): Promise<void> {
  const id = `dup-${Date.now()}`;
  fake.mode = { kind: 'slow', ms: 300 };
  const before = fake.calls.length;
  const results = await Promise.all(
    Array.from({ length: 50 }, () => post(port, chat('same', { request_id: id }))),
  );
  fake.mode = { kind: 'ok' };
  assert.equal(fake.calls.length - before, 1, 'one model call for 50 concurrent duplicates');
  assert.ok(results.every((r) => r.status === 200));
  const answers = new Set(results.map((r) => JSON.stringify(r.body.robbie_response)));
  assert.equal(answers.size, 1, 'one answer');
  const other = await post(port, chat('something else', { request_id: id }));
  assert.equal(other.status, 409);
  assert.equal(other.body.error, 'idempotency_conflict');
  assert.equal(fake.calls.length - before, 1);
}

describe('hostile input and duplicates: SQLite', () => {
  it('unstorable input is refused (422) and never costs its 30 concurrent neighbours', async () => {
    const fake = await startFakeModel();
    const api = await serve(fake);
    try {
      await unstorableInput(api.port, (prefix) => {
        const db = new DatabaseSync(join(api.home, 'robbie.db'), { readOnly: true });
        try {
          const row = db
            .prepare('select count(*) as n from ai_request_logs where request_id like ?')
            .get(`${prefix}%`) as { n: number };
          return Number(row.n);
        } finally {
          db.close();
        }
      });
    } finally {
      await api.stop();
      await fake.close();
    }
  });

  it('a model answer holding U+0000 is answered whole, recorded and replayed', async () => {
    const fake = await startFakeModel();
    const api = await serve(fake);
    try {
      await nulAnswer(api.port, fake, (id) => {
        const db = new DatabaseSync(join(api.home, 'robbie.db'), { readOnly: true });
        try {
          const row = db.prepare('select output_summary from ai_request_logs where request_id = ?').get(id) as
            | { output_summary: string }
            | undefined;
          return String(row?.output_summary);
        } finally {
          db.close();
        }
      });
    } finally {
      await api.stop();
      await fake.close();
    }
  });

  it('50 concurrent duplicates over --instances 2 sharing robbie.db reach the model once', async () => {
    const fake = await startFakeModel();
    const sup = await startSupervisor(['--instances', '2'], {
      env: { OLLAMA_URL: fake.url, ROBBIE_RATE_LIMIT: '100000/1m' },
    });
    try {
      await sup.active(1);
      await waitHealthy(sup.port);
      await duplicates(sup.port, fake);
    } finally {
      await sup.stop();
      await fake.close();
    }
  });
});

describe('hostile input: the edges', () => {
  it('killswitch routes take JSON only, 16 KiB at most, nothing unstorable; X-Request-Id is echoed, never taken as the request id', async () => {
    const fake = await startFakeModel();
    const { home, cleanup } = tempHome();
    const port = await freePort();
    const admin = 'admin-key-for-hostile-test';
    const proc = spawnRobbie(['serve', '--port', String(port), '--home', home], {
      OLLAMA_URL: fake.url,
      ROBBIE_ADMIN_KEY: admin,
    });
    try {
      await waitHealthy(port, 15_000);
      const activate = (body: string, type = 'application/json') =>
        fetch(`http://127.0.0.1:${port}/code/api/killswitch/activate`, {
          method: 'POST',
          headers: { 'content-type': type, 'x-api-key': admin },
          body,
          signal: AbortSignal.timeout(15_000),
        });
      assert.equal((await activate('{"reason":"x"}', 'text/plain')).status, 415);
      // Over the 16 KiB limit, small enough for the client to finish sending before the answer:
      // a body of tens of MiB races the server's close of the connection (EPIPE in the client).
      assert.equal((await activate(JSON.stringify({ reason: 'x'.repeat(64 * 1024) }))).status, 413);
      assert.equal((await activate(JSON.stringify({ reason: 'bad \u0000 reason' }))).status, 422);
      const res = await fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'trace-abc-123' },
        body: JSON.stringify(chat('hello')),
      });
      const body = (await res.json()) as { request_id: string };
      assert.equal(res.headers.get('x-request-id'), 'trace-abc-123', 'echoed as sent');
      assert.notEqual(body.request_id, 'trace-abc-123', 'a correlation id, not an idempotency key');
    } finally {
      await stopProc(proc);
      cleanup();
      await fake.close();
    }
  });
});

describe('honest health', () => {
  it('/health says degraded at once when the model server is not there, not after five failed requests', async () => {
    const { home, cleanup } = tempHome();
    const port = await freePort();
    const closed = await freePort();
    const proc = spawnRobbie(['serve', '--port', String(port), '--home', home], {
      OLLAMA_URL: `http://127.0.0.1:${closed}`,
    });
    try {
      await waitHealthy(port, 15_000);
      const health = await waitFor('the model check', async () => {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        const h = (await res.json()) as {
          status: string;
          checks: { model: { status: string; error?: string } };
        };
        return h.checks.model.status === 'down' ? h : undefined;
      });
      assert.equal(health.status, 'degraded');
      assert.match(String(health.checks.model.error), /ECONNREFUSED/);
    } finally {
      await stopProc(proc);
      cleanup();
    }
  });
});

describe('hostile input and duplicates: PostgreSQL', () => {
  let pg: PgCluster | undefined;
  after(() => pg?.destroy());

  it('unstorable input is refused (422) and never costs its neighbours; 50 concurrent duplicates call the model once; an answer holding U+0000 is recorded', async (t) => {
    pg = await clusterOrSkip(t);
    if (!pg) return;
    const cluster = pg;
    const fake = await startFakeModel();
    const api = await serve(fake, cluster.url);
    try {
      await unstorableInput(api.port, (prefix) =>
        Number(
          cluster.psql(`select count(*) from ai_request_logs where request_id like '${prefix}%'`).trim(),
        ),
      );
      await duplicates(api.port, fake);
      await nulAnswer(api.port, fake, (id) =>
        cluster.psql(`select output_summary from ai_request_logs where request_id = '${id}'`).trim(),
      );
    } finally {
      await api.stop();
      await fake.close();
    }
  });
});
