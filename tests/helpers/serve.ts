/** `robbie serve` (the built binary) on SQLite, with an official OpenAI SDK client pointed at it. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before } from 'node:test';
import OpenAI from 'openai';
import { type FakeModel, startFakeModel } from './fake-model.ts';
import { freePort, type Proc, spawnRobbie, stopProc, waitHealthy } from './process.ts';
import { tempHome } from './supervisor.ts';

export const KEY = 'test-key-1234567890';

/** POSTs a universal request (JSON) to robbie on `port`, with the test key. */
export function postUniversal(
  port: number,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY, ...headers },
    body: JSON.stringify(body),
  });
}

/** Rows of the SQLite store in `home`, read-only. */
export function sqliteRows(home: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(join(home, 'robbie.db'), { readOnly: true });
  try {
    return db.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}
export const ADMIN = 'admin-key-0987654321';

export interface Served {
  proc: Proc;
  port: number;
  client: OpenAI;
  rows: (sql: string) => Record<string, unknown>[];
  stop: () => Promise<void>;
}

export async function serveWith(env: NodeJS.ProcessEnv): Promise<Served> {
  const { home, cleanup } = tempHome();
  const port = await freePort();
  const proc = spawnRobbie(['serve', '--port', String(port), '--home', home], {
    ROBBIE_API_KEYS: KEY,
    ROBBIE_ADMIN_KEY: ADMIN,
    ...env,
  });
  await waitHealthy(port, 15_000);
  return {
    proc,
    port,
    client: new OpenAI({
      apiKey: KEY,
      baseURL: `http://127.0.0.1:${port}/v1`,
      maxRetries: 0,
      timeout: 15_000,
    }),
    rows: (sql) => sqliteRows(home, sql),
    stop: async () => {
      await stopProc(proc);
      cleanup();
    },
  };
}

export async function errorOf(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  assert.fail('expected an API error');
}

/**
 * For a describe block: a fake model, and `robbie serve` with `env(fake)` in front of it, started
 * before the block's tests and stopped after them. Read `fake` and `api` inside the tests.
 */
export function servedWithFake(env: (fake: FakeModel) => NodeJS.ProcessEnv): {
  fake: FakeModel;
  api: Served;
} {
  const both = {} as { fake: FakeModel; api: Served };
  before(async () => {
    both.fake = await startFakeModel();
    both.api = await serveWith(env(both.fake));
  });
  after(async () => {
    await both.api?.stop();
    await both.fake?.close();
  });
  return both;
}
