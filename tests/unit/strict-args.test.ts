import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArgsDef } from 'citty';
import { checkArgs } from '../../src/cli/strict-args.ts';
import { UsageError } from '../../src/errors.ts';

const def = {
  port: { type: 'string' },
  follow: { type: 'boolean', alias: 'f' },
  lines: { type: 'string', alias: 'n' },
  'log-dir': { type: 'string' },
} satisfies ArgsDef;

describe('strict flag checking', () => {
  it('accepts declared flags in every spelling citty understands', () => {
    checkArgs('x', def, [
      '--port',
      '1',
      '--port=2',
      '-f',
      '--no-follow',
      '-n',
      '5',
      '--log-dir',
      '/tmp',
      '--logDir=/x',
    ]);
    checkArgs('x', def, ['--follow=true']);
    checkArgs('x', def, ['--', '--anything', 'goes']);
  });

  it('rejects unknown flags, missing values and stray arguments', () => {
    assert.throws(() => checkArgs('x', def, ['--prot', '1']), UsageError);
    assert.throws(() => checkArgs('x', def, ['-z']), /unknown option '-z'/);
    assert.throws(() => checkArgs('x', def, ['--port']), /needs a value/);
    assert.throws(() => checkArgs('x', def, ['--port', '--follow']), /needs a value/);
    assert.throws(() => checkArgs('x', def, ['stray']), /unexpected argument 'stray'/);
    assert.throws(() => checkArgs('x', def, ['--follow=maybe']), /takes no value/);
    assert.throws(() => checkArgs('x', def, ['--no-port']), /unknown option/);
  });

  it('lets a negative number be a value', () => {
    checkArgs('x', def, ['--lines', '-1']);
  });
});
