import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withoutNul } from '../../src/storage/postgres/without-nul.ts';

describe('withoutNul: what PostgreSQL stores holds no U+0000', () => {
  it('replaces U+0000 in strings and keys at any depth, and copies only what changes', () => {
    const clean = { a: 'x', list: [1, 'y', { b: null }] };
    const value = {
      keep: clean,
      answer: { message: 'before\u0000after', parts: ['ok', 'a\u0000b\u0000'] },
      'k\u0000': 1,
    };
    const out = withoutNul(value);
    assert.deepEqual(JSON.parse(JSON.stringify(out)), {
      keep: clean,
      answer: { message: 'before\ufffdafter', parts: ['ok', 'a\ufffdb\ufffd'] },
      'k\ufffd': 1,
    });
    assert.equal(out.keep, clean, 'an untouched branch is the same object');
    assert.equal(value.answer.message, 'before\u0000after', 'the original is not changed');
    assert.equal(withoutNul(clean), clean);
    assert.equal(withoutNul('plain'), 'plain');
    assert.equal(withoutNul(42), 42);
  });

  it('keeps a key named __proto__ a key', () => {
    const value = JSON.parse('{"__proto__": {"polluted": "\\u0000"}, "m": "\\u0000"}') as Record<
      string,
      unknown
    >;
    const out = withoutNul(value);
    assert.equal(JSON.stringify(out), '{"__proto__":{"polluted":"\ufffd"},"m":"\ufffd"}');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
