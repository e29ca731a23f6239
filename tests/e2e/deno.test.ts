import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  freePort,
  getJson,
  ROOT,
  SOURCE_MAIN,
  spawnProc,
  stopProc,
  waitHealthy,
} from '../helpers/process.ts';

const deno = join(ROOT, 'node_modules/.bin/deno');

describe('the same source under Deno', () => {
  it('deno run -A src/main.ts serve answers /health', async (t) => {
    if (!existsSync(deno)) {
      if (process.env.CI) assert.fail('deno is missing from node_modules (npm ci installs it)');
      t.skip('deno is not installed here: run npm ci');
      return;
    }
    const port = await freePort();
    const proc = spawnProc(deno, ['run', '-A', SOURCE_MAIN, 'serve', '--port', String(port)], {
      cwd: ROOT,
      env: { ...process.env, ROBBIE_LOG_FORMAT: 'json', NO_COLOR: '1', ROBBIE_PROVIDER: 'echo' },
    });
    try {
      await waitHealthy(port, 60_000);
      const { body } = await getJson(`http://127.0.0.1:${port}/health`);
      assert.equal((body as { status: string }).status, 'healthy');
    } finally {
      await stopProc(proc);
    }
    assert.ok(
      proc.jsonLines().some((l) => l.msg === 'listening'),
      proc.stdout() + proc.stderr(),
    );
  });
});
