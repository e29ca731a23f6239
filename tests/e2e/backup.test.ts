/**
 * `robbie db backup` while the service answers a load of writes, then `robbie db restore` with the
 * service stopped: every request acknowledged before the copy began is in it, and in the store
 * once it is put back.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { killAll, runRobbie, stopProc, waitHealthy } from '../helpers/process.ts';
import { sqliteRows } from '../helpers/serve.ts';
import { startSupervisor } from '../helpers/supervisor.ts';

after(killAll);

describe('a copy of the SQLite store', () => {
  it('backed up under a load of writes and restored, it holds every request acknowledged before it', async () => {
    const sup = await startSupervisor([], {
      env: { ROBBIE_PROVIDER: 'echo', ROBBIE_RATE_LIMIT: '100000/1m' },
    });
    const copy = join(sup.home, 'copy.db');
    try {
      await waitHealthy(sup.port);
      const acknowledged: { id: string; at: number }[] = [];
      let writing = true;
      const worker = async (w: number) => {
        for (let i = 0; writing && i < 2000; i++) {
          const id = `w${w}-${i}`;
          const r = await fetch(`http://127.0.0.1:${sup.port}/api/v2/universal/request`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              request_id: id,
              source: 'chat',
              ai_service: 'chat',
              payload: { input: id },
            }),
            signal: AbortSignal.timeout(10_000),
          });
          await r.arrayBuffer();
          if (r.status === 200) acknowledged.push({ id, at: performance.now() });
        }
      };
      const load = Promise.all(Array.from({ length: 6 }, (_, w) => worker(w)));
      for (let i = 0; i < 200 && acknowledged.length < 100; i++) await new Promise((r) => setTimeout(r, 50));
      const began = performance.now();
      const backup = await runRobbie(['db', 'backup', copy, '--home', sup.home, '--json'], {}, 60_000);
      writing = false;
      await load;
      assert.equal(backup.code, 0, backup.stderr);
      const made = JSON.parse(backup.stdout) as { requests: number; version: number };
      assert.equal(statSync(copy).mode & 0o777, 0o600);
      const before = acknowledged.filter((a) => a.at < began).map((a) => a.id);
      assert.ok(before.length >= 100, `${before.length} acknowledged before the copy`);
      const inCopy = new Set(sqliteRowsOf(copy).map((r) => r.request_id));
      assert.equal(inCopy.size, made.requests);
      assert.deepEqual(
        before.filter((id) => !inCopy.has(id)),
        [],
        'every request acknowledged before the copy is in it',
      );
      // The service runs: restore refuses.
      const busy = await runRobbie(['db', 'restore', copy, '--home', sup.home]);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /^robbie: the service is running \(supervisor pid \d+\): stop it first/);
      await stopProc(sup.proc, 'SIGTERM', 20_000); // its home kept
      const restored = await runRobbie(['db', 'restore', copy, '--home', sup.home]);
      assert.equal(restored.code, 0, restored.stderr);
      assert.ok(existsSync(join(sup.home, 'robbie.db.before-restore')), 'the replaced store is kept');
      const now = sqliteRows(sup.home, 'select request_id from ai_request_logs').map((r) => r.request_id);
      assert.deepEqual(new Set(now), inCopy);
    } finally {
      await sup.stop();
    }
  });

  it('a file that is no copy, a PostgreSQL store, no path: one line each', async () => {
    const notACopy = await runRobbie(['db', 'restore', '/etc/hostname', '--home', '/nonexistent']);
    assert.equal(notACopy.code, 1);
    assert.match(notACopy.stderr, /^robbie: \/etc\/hostname is not a robbie SQLite store/);
    const pg = await runRobbie(['db', 'backup', '/nonexistent/x.db'], {
      DATABASE_URL: 'postgres://u@127.0.0.1:1/db',
    });
    assert.equal(pg.code, 1);
    assert.match(pg.stderr, /^robbie: the store is PostgreSQL: back it up with its own tools \(pg_dump/);
    const none = await runRobbie(['db', 'backup']);
    assert.equal(none.code, 2);
    for (const r of [notACopy, pg, none]) assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

/** The request ids in a copy. */
function sqliteRowsOf(file: string): { request_id: string }[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return db.prepare('select request_id from ai_request_logs').all() as { request_id: string }[];
  } finally {
    db.close();
  }
}
