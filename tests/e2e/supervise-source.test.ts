/** `supervise` restarts `serve` with the runtime that runs it: Node from source, and Deno. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  freePort,
  getJson,
  killAll,
  ROOT,
  SOURCE_MAIN,
  spawnProc,
  stopProc,
  waitFor,
} from '../helpers/process.ts';
import { statusOf, tempHome } from '../helpers/supervisor.ts';

after(killAll);

const runtimes: [string, string, string[]][] = [
  ['Node from source', process.execPath, [SOURCE_MAIN]],
  ['Deno', join(ROOT, 'node_modules/.bin/deno'), ['run', '-A', SOURCE_MAIN]],
];

describe('supervise from source', () => {
  for (const [name, bin, prefix] of runtimes) {
    it(`${name}: the child is the same program, and a killed child comes back`, async (t) => {
      if (!existsSync(bin)) {
        if (process.env.CI) assert.fail(`${bin} is missing (npm ci installs it)`);
        t.skip(`${bin} is not installed here`);
        return;
      }
      const { home, cleanup } = tempHome();
      const port = await freePort();
      const sup = spawnProc(
        bin,
        [...prefix, 'supervise', '--home', home, '--port', String(port), '--no-standby'],
        {
          cwd: ROOT,
          env: { ...process.env, ROBBIE_LOG_FORMAT: 'json', NO_COLOR: '1', ROBBIE_PROVIDER: 'echo' },
        },
      );
      try {
        const first = await waitFor(
          'a running child',
          async () => {
            const s = await statusOf(home).catch(() => undefined);
            const c = s?.children[0];
            return c?.state === 'running' ? c : undefined;
          },
          60_000,
          200,
        );
        assert.equal((await getJson(`http://127.0.0.1:${port}/health`)).status, 200);
        process.kill(first.pid as number, 'SIGKILL');
        await waitFor(
          'a new child',
          async () => {
            const c = (await statusOf(home)).children[0];
            return c?.state === 'running' && c.pid !== first.pid ? c : undefined;
          },
          60_000,
          200,
        );
      } finally {
        await stopProc(sup, 'SIGTERM', 20_000);
        cleanup();
      }
    });
  }
});
