import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/process.ts';

function run(bin: string, args: string[]) {
  return spawnSync(join(ROOT, 'node_modules/.bin', bin), args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
}

describe('static checks', () => {
  it('typechecks (tsc, strict, erasable syntax only)', () => {
    const r = run('tsc', ['-p', 'tsconfig.json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('lints and is formatted (biome)', () => {
    const r = run('biome', ['check', '.']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
