import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Checkpointer } from '../../src/storage/sqlite/checkpointer.ts';

const size = (path: string) => (existsSync(path) ? statSync(path).size : 0);

describe('the WAL checkpointed on a worker thread', () => {
  it('copies commits into the database file while the writer only appends, keeps the WAL bounded, and closes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-checkpoint-'));
    const path = join(dir, 'robbie.db');
    const db = new DatabaseSync(path);
    try {
      db.exec('pragma busy_timeout = 5000; pragma journal_mode = wal; pragma synchronous = normal');
      db.exec('create table t (x text)');
      const checkpointer = await Checkpointer.start(path, [db]);
      assert.ok(checkpointer, 'the worker started');
      // The writer's own checkpoint would wait for 32,768 pages: whatever reaches the file before is the worker's.
      assert.deepEqual({ ...db.prepare('pragma wal_autocheckpoint').get() }, { wal_autocheckpoint: 32_768 });
      const insert = db.prepare('insert into t values (?)');
      const page = 'x'.repeat(3500);
      // 12,000 pages (about 48 MB) in 120 commits, 20 ms apart: past 8 MiB of WAL, every look copies.
      let largestWal = 0;
      for (let i = 0; i < 120; i++) {
        db.exec('begin');
        for (let j = 0; j < 100; j++) insert.run(page);
        db.exec('commit');
        checkpointer.committed();
        largestWal = Math.max(largestWal, size(`${path}-wal`));
        await sleep(20);
      }
      // Waited for: the worker to copy the last commits (LAZY_MS, 5 s, after its last copy at the
      // latest; 10 s at most).
      const written = 120 * 100 * 3500;
      for (let i = 0; i < 100 && size(path) < written; i++) await sleep(100);
      assert.ok(size(path) >= written, `the database file holds the rows (${size(path)} bytes)`);
      assert.ok(
        largestWal < 32 * 1024 * 1024,
        `the WAL restarts: at most ${largestWal} bytes of 48 MB written`,
      );
      assert.equal((db.prepare('select count(*) as n from t').get() as { n: number }).n, 12_000);
      await checkpointer.close();
    } finally {
      db.close();
    }
    // The last connection closed checkpoints and removes the WAL: the worker's was closed first.
    assert.equal(existsSync(`${path}-wal`), false);
    rmSync(dir, { recursive: true, force: true });
  });
  it('leaves a quiet store alone until 64 commits have come, or LAZY_MS after the last one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-checkpoint-'));
    const path = join(dir, 'robbie.db');
    const db = new DatabaseSync(path);
    const commit = (checkpointer: Checkpointer) => {
      db.prepare('insert into t values (?)').run('x'.repeat(3500));
      checkpointer.committed();
    };
    try {
      db.exec('pragma busy_timeout = 5000; pragma journal_mode = wal; pragma synchronous = normal');
      db.exec('create table t (x text)');
      // No lazy copy within this test: only the count of commits makes a checkpoint due.
      const counted = await Checkpointer.start(path, [db], 600_000);
      assert.ok(counted, 'the worker started');
      // A checkpoint that empties the WAL makes the next commit fsync the WAL's header on the
      // writer's thread: 63 commits (about 260 kB of WAL) wait, through ten of the worker's looks.
      for (let i = 0; i < 63; i++) commit(counted);
      await sleep(1000);
      assert.ok(size(path) < 63 * 3500, `63 commits stay in the WAL (the file holds ${size(path)} bytes)`);
      commit(counted);
      // Waited for: the worker's next look to copy the 64 commits (100 ms apart; 10 s at most).
      for (let i = 0; i < 100 && size(path) < 64 * 3500; i++) await sleep(100);
      assert.ok(size(path) >= 64 * 3500, `the 64th commit makes them due (${size(path)} bytes)`);
      await counted.close();

      // With LAZY_MS at 300 ms, one commit is copied soon after it.
      const lazy = await Checkpointer.start(path, [db], 300);
      assert.ok(lazy, 'the worker started');
      const before = size(path);
      commit(lazy);
      // Waited for: the lazy checkpoint (300 ms after the worker started; 10 s at most).
      for (let i = 0; i < 100 && size(path) < before + 3500; i++) await sleep(100);
      assert.ok(size(path) >= before + 3500, `one commit is copied within LAZY_MS (${size(path)} bytes)`);
      await lazy.close();
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
