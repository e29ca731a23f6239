import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/process.ts';

describe('the skipped reporter', () => {
  it('counts skipped suites as well as tests, says why, and names the packages that would run them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-reporter-'));
    try {
      writeFileSync(
        join(dir, 'a.test.mjs'),
        `import { describe, it } from 'node:test';
describe('the fleet', { skip: 'haproxy is not installed (apt-get install haproxy)' }, () => { it('x', () => {}); it('y', () => {}); });
describe('runs', () => { it('ok', () => {}); it('needs a cluster', (t) => t.skip('skipped: no initdb (apt-get install postgresql)')); });
`,
      );
      const r = spawnSync(
        process.execPath,
        ['--test', `--test-reporter=${join(ROOT, 'tests/skipped-reporter.ts')}`, join(dir, 'a.test.mjs')],
        // Not as a part of this run: a child of `node --test` reports to its parent otherwise.
        { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        r.stdout,
        'ℹ skipped: 1 suite, 1 test: the fleet (haproxy is not installed); needs a cluster (no initdb) — apt-get install haproxy postgresql would run them\n',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
