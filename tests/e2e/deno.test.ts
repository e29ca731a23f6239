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
import { tempHome } from '../helpers/supervisor.ts';

const deno = join(ROOT, 'node_modules/.bin/deno');

describe('the same source under Deno', () => {
  it('deno run -A src/main.ts serve answers /health and a streamed chat completion', async (t) => {
    if (!existsSync(deno)) {
      if (process.env.CI) assert.fail('deno is missing from node_modules (npm ci installs it)');
      t.skip('deno is not installed here: run npm ci');
      return;
    }
    const port = await freePort();
    // A throwaway state directory: never the machine's own (/var/lib/robbie as root).
    const { home, cleanup } = tempHome();
    t.after(cleanup);
    const proc = spawnProc(
      deno,
      ['run', '-A', SOURCE_MAIN, 'serve', '--port', String(port), '--home', home],
      {
        cwd: ROOT,
        env: { ...process.env, ROBBIE_LOG_FORMAT: 'json', NO_COLOR: '1', ROBBIE_PROVIDER: 'echo' },
      },
    );
    try {
      await waitHealthy(port, 60_000);
      const { body } = await getJson(`http://127.0.0.1:${port}/health`);
      assert.equal((body as { status: string }).status, 'healthy');
      const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'chat',
          stream: true,
          messages: [{ role: 'user', content: 'hi deno' }],
        }),
      });
      const text = await res.text();
      assert.match(text, /"content":"deno"/);
      assert.match(text, /data: \[DONE\]\n\n$/);
    } finally {
      await stopProc(proc);
    }
    assert.ok(
      proc.jsonLines().some((l) => l.msg === 'listening'),
      proc.stdout() + proc.stderr(),
    );
  });
});
