/**
 * Defects of the hostile pass that are about the supervisor and the command line: restart without
 * a gap, durations a timer cannot hold, secrets on a command line.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { startFakeModel } from '../helpers/fake-model.ts';
import { freePort, killAll, runRobbie, sleep, waitHealthy } from '../helpers/process.ts';
import { startSupervisor, tempHome } from '../helpers/supervisor.ts';

after(killAll);

describe('restart, durations, secrets', () => {
  it('robbie restart under load and a slow client refuses nothing', async () => {
    const fake = await startFakeModel();
    fake.mode = { kind: 'slow', ms: 4000 };
    const sup = await startSupervisor([], { env: { OLLAMA_URL: fake.url, ROBBIE_RATE_LIMIT: '100000/1m' } });
    try {
      await waitHealthy(sup.port);
      const base = `http://127.0.0.1:${sup.port}`;
      // One slow client: its answer takes 4 s, so the old child drains for that long.
      const slow = fetch(`${base}/api/v2/universal/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'slow' } }),
        signal: AbortSignal.timeout(30_000),
      });
      await sleep(200);
      let ok = 0;
      const failures: string[] = [];
      let running = true;
      const worker = async () => {
        for (let i = 0; running && i < 100_000; i++) {
          try {
            const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) });
            await res.arrayBuffer();
            if (res.status === 200) ok++;
            else failures.push(`HTTP ${res.status}`);
          } catch (err) {
            failures.push(String((err as Error).cause ?? err));
          }
        }
      };
      const workers = Array.from({ length: 6 }, worker);
      await sleep(300);
      const r = await runRobbie(['restart', '--home', sup.home], {}, 60_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /serve-0: pid \d+ → pid \d+/);
      await sleep(300);
      running = false;
      await Promise.all(workers);
      assert.equal((await slow).status, 200, 'the slow client got its answer');
      assert.deepEqual(failures, [], `${failures.length} refused of ${ok + failures.length}`);
      assert.ok(ok > 50, `requests served during the restart: ${ok}`);
    } finally {
      await sup.stop();
      await fake.close();
    }
  });

  it('durations a timer cannot hold are refused: 2 from a flag, 78 from the environment', async () => {
    for (const flag of ['--start-timeout', '--probe-timeout', '--cooldown']) {
      const r = await runRobbie(['supervise', flag, '25d', '--home', '/nonexistent']);
      assert.equal(r.code, 2, `${flag}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${flag} must be a duration .* to 24d \\(got '25d'\\)`));
    }
    const env = await runRobbie(['serve', '--port', '0'], { ROBBIE_MODEL_TIMEOUT: '25d' });
    assert.equal(env.code, 78);
    assert.match(env.stderr, /ROBBIE_MODEL_TIMEOUT must be a duration/);
    const empty = await runRobbie(['serve', '--port', '']);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /--port needs a value/);
  });

  it('robbie start --database-url puts the password on no command line', async () => {
    const { home, cleanup } = tempHome();
    const secret = 'Pw-On-No-Cmdline-4711';
    try {
      const port = await freePort();
      // Nothing listens on port 1: the API starts degraded, which is all this needs.
      const r = await runRobbie(
        [
          'start',
          '--home',
          home,
          '--port',
          String(port),
          '--database-url',
          `postgres://robbie:${secret}@127.0.0.1:1/x`,
        ],
        {},
        40_000,
      );
      assert.equal(r.code, 0, r.stderr);
      const leaks: string[] = [];
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (cmdline.includes(secret) && Number(pid) !== process.pid) leaks.push(`${pid}: ${cmdline}`);
        } catch {
          // gone
        }
      }
      assert.deepEqual(leaks, []);
      assert.equal((await runRobbie(['stop', '--home', home], {}, 30_000)).code, 0);
    } finally {
      cleanup();
    }
  });
});
