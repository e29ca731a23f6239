import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Outbox } from '../../src/storage/outbox.ts';
import { requestRecord } from '../helpers/records.ts';

describe('the outbox', () => {
  it('knows without a query that it is empty until this process puts rows in; rereads on demand', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-outbox-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'outbox.db');
    const mine = new Outbox(path);
    const other = new Outbox(path);
    t.after(() => {
      mine.close();
      other.close();
    });
    assert.equal(mine.hasPending(), false);
    mine.append([{ kind: 'request', data: requestRecord('r-1') }]);
    assert.equal(mine.hasPending(), true);
    mine.remove(mine.peek(10).map((r) => r.seq));
    assert.equal(mine.hasPending(), false, 'seen empty again');
    // Another process (robbie db requeue) puts rows in: the write path does not see them, the
    // store's probe does.
    other.append([{ kind: 'request', data: requestRecord('r-2') }]);
    assert.equal(mine.hasPending(), false);
    assert.equal(mine.hasPending(true), true);
    assert.equal(mine.hasPending(), true);
  });
});
