/**
 * A model call's failure (providers/types.ts): what it says, and that it carries no stack trace.
 * It is the abort reason of every stream a client cuts, and Node formats the stack of the error
 * a stream is destroyed with.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ProviderError } from '../../src/api/providers/types.ts';

describe('ProviderError', () => {
  it('says its name and reason, with no stack frames, even after a stream is destroyed with it', async () => {
    const err = new ProviderError('cancelled', 'the client went away');
    assert.equal(err.stack, 'ProviderError: the client went away');
    assert.ok(err instanceof Error);
    assert.equal(err.kind, 'cancelled');
    assert.equal(err.isFailure, false);

    const body = new Readable({ read() {} });
    const destroyed = new Promise<unknown>((resolve) => body.on('error', resolve));
    body.destroy(err);
    assert.equal(await destroyed, err);
    assert.doesNotMatch(err.stack ?? '', /\bat /);
  });
});
