/** `supervise` restarts `serve` with the runtime that runs it: Node from source, and Deno. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SERVING_SEMI_SPACE_MB } from '../../src/runtime/serving-heap.ts';
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

/** Each runtime, how it runs the source, and where it reads V8's options from. */
const runtimes: [string, string, string[], string][] = [
  ['Node from source', process.execPath, [SOURCE_MAIN], 'NODE_OPTIONS'],
  ['Deno', join(ROOT, 'node_modules/.bin/deno'), ['run', '-A', SOURCE_MAIN], 'DENO_V8_FLAGS'],
];

/** This environment without V8 options of its own, so the child's are the supervisor's alone. */
function runtimeOptionsUnset(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _node, DENO_V8_FLAGS: _deno, ...env } = process.env;
  return env;
}

describe('supervise from source', () => {
  for (const [name, bin, prefix, v8Options] of runtimes) {
    it(`${name}: the child is the same program with its young generation bounded, and a killed child comes back`, async (t) => {
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
          env: {
            ...runtimeOptionsUnset(),
            ROBBIE_LOG_FORMAT: 'json',
            NO_COLOR: '1',
            ROBBIE_PROVIDER: 'echo',
          },
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
        // The serving child's environment, as its runtime read it at start.
        const environ = readFileSync(`/proc/${first.pid}/environ`, 'utf8').split('\0');
        assert.ok(
          environ.includes(`${v8Options}=--max-semi-space-size=${SERVING_SEMI_SPACE_MB}`),
          `${v8Options} of the child: ${environ.find((v) => v.startsWith(`${v8Options}=`))}`,
        );
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
