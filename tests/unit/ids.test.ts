import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId } from '../../src/storage/ids.ts';

describe('the ids robbie stores', () => {
  it('are version-7 UUIDs, in the order of the millisecond they were made in', () => {
    const ids = Array.from({ length: 2000 }, () => newId());
    for (const id of ids)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const times = ids.map((id) => id.slice(0, 13));
    assert.deepEqual([...times].sort(), times);
    assert.equal(new Set(ids).size, ids.length);
    // The first 48 bits are the time they were made at, in milliseconds.
    const ms = Number.parseInt(newId().replace('-', '').slice(0, 12), 16);
    assert.ok(Math.abs(ms - Date.now()) < 1000, `${ms} vs ${Date.now()}`);
  });
});
