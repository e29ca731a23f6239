/**
 * A bounded randomized run (fixed seed, 2,000 requests) against both stores: odd Unicode, nesting
 * near and past the limit, NUL and lone surrogates, duplicates with the same and with another
 * payload. Every 2xx answer is stored exactly once; everything refused is refused with a 4xx.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { clusterOrSkip } from '../helpers/postgres.ts';
import { killAll } from '../helpers/process.ts';
import { serveInTempHome } from '../helpers/supervisor.ts';

after(killAll);

/** mulberry32: a small seeded generator, so a failure can be replayed exactly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD = [
  'é',
  'ß',
  '中文',
  '🙂',
  '👩‍👩‍👧',
  'مرحبا',
  '\u202e',
  'e\u0301',
  '\u200b',
  '\ufeff',
  '\\',
  '"',
  '\n',
  '\t',
  '\u001b[2J',
  'ｉｇｎｏｒｅ',
];

type Expect = 'ok' | 'refused';

function makeRequest(r: () => number, i: number, previous: { id: string; body: string }[]) {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)] as T;
  const roll = r();
  // Duplicates of an earlier request: the same body is replayed, another body is a conflict.
  if (roll < 0.15 && previous.length > 0) {
    const p = pick(previous);
    return { id: p.id, body: p.body, expect: 'ok' as Expect, duplicate: true };
  }
  if (roll < 0.2 && previous.length > 0) {
    const p = pick(previous);
    const body = JSON.stringify({ ...(JSON.parse(p.body) as object), payload: { input: `changed ${i}` } });
    return { id: p.id, body, expect: 'refused' as Expect, duplicate: true };
  }
  const id = `rnd-${i}-${Math.floor(r() * 1e9)}`;
  let input = `word${i} ${Array.from({ length: 1 + Math.floor(r() * 8) }, () => pick(ODD)).join(' ')}`;
  let expect: Expect = 'ok';
  let metadata: string = JSON.stringify({ sender: pick(ODD), extra: { note: pick(ODD) } });
  const hostile = r();
  if (hostile < 0.05) {
    input += '\u0000';
    expect = 'refused';
  } else if (hostile < 0.1) {
    metadata = JSON.stringify({ sender: 'x\ud83d' });
    expect = 'refused';
  } else if (hostile < 0.15) {
    const depth = 33 + Math.floor(r() * 5000);
    metadata = `${'{"d":'.repeat(depth)}1${'}'.repeat(depth)}`;
    expect = 'refused';
  } else if (hostile < 0.2) {
    const depth = 5 + Math.floor(r() * 20);
    metadata = `{"extra":${'{"d":'.repeat(depth)}1${'}'.repeat(depth)}}`;
  }
  const body = `{"request_id":${JSON.stringify(id)},"source":"chat","ai_service":"chat","user_id":"u${i % 7}","payload":{"input":${JSON.stringify(input)}},"source_metadata":${metadata}}`;
  return { id, body, expect, duplicate: false };
}

async function run(port: number, stored: (ids: string[]) => Map<string, number>): Promise<void> {
  const r = rng(20261201);
  const previous: { id: string; body: string }[] = [];
  const okIds = new Set<string>();
  let refused = 0;
  for (let batch = 0; batch < 100; batch++) {
    const reqs = Array.from({ length: 20 }, (_, k) => makeRequest(r, batch * 20 + k, previous));
    const results = await Promise.all(
      reqs.map(async (q) => {
        const res = await fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: q.body,
          signal: AbortSignal.timeout(20_000),
        });
        return { status: res.status, text: await res.text() };
      }),
    );
    reqs.forEach((q, k) => {
      const { status, text } = results[k] as { status: number; text: string };
      assert.ok(status < 500, `no 5xx: request ${q.id} answered ${status}`);
      if (status === 200) {
        okIds.add(q.id);
        if (!q.duplicate) previous.push({ id: q.id, body: q.body });
      } else refused++;
      // Concurrent duplicates within a batch may see either answer of a conflicting pair.
      if (!q.duplicate)
        assert.equal(status === 200 ? 'ok' : 'refused', q.expect, `${q.id}: ${status} ${text}`);
    });
  }
  const rows = stored([...okIds]);
  assert.equal(rows.size, okIds.size, 'every 2xx has its row');
  for (const [id, n] of rows) assert.equal(n, 1, `${id} stored once`);
  assert.ok(okIds.size > 1000 && refused > 100, `${okIds.size} answered, ${refused} refused`);
}

const serve = (env: NodeJS.ProcessEnv) => serveInTempHome({ ROBBIE_PROVIDER: 'echo', ...env });

describe('randomized hostile traffic (seed 20261201, 2,000 requests)', () => {
  it('on SQLite: every 2xx stored once, nothing else', async () => {
    const api = await serve({});
    try {
      await run(api.port, (ids) => {
        const db = new DatabaseSync(join(api.home, 'robbie.db'), { readOnly: true });
        try {
          const counts = new Map<string, number>();
          const q = db.prepare('select count(*) as n from ai_request_logs where request_id = ?');
          for (const id of ids) counts.set(id, Number((q.get(id) as { n: number }).n));
          return new Map([...counts].filter(([, n]) => n > 0));
        } finally {
          db.close();
        }
      });
    } finally {
      await api.stop();
    }
  });

  it('on PostgreSQL: every 2xx stored once, nothing else', async (t) => {
    const pg = await clusterOrSkip(t);
    if (!pg) return;
    const api = await serve({ DATABASE_URL: pg.url });
    try {
      await run(api.port, () => {
        const counts = new Map<string, number>();
        for (const line of pg
          .psql("select request_id, count(*) from ai_request_logs where request_id like 'rnd-%' group by 1")
          .split('\n')
          .filter(Boolean)) {
          const [id, n] = line.split('|');
          counts.set(id as string, Number(n));
        }
        return counts;
      });
    } finally {
      await api.stop();
      pg.destroy();
    }
  });
});
