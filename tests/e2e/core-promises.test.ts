/**
 * Defects of the hostile pass that are about the supervisor and the command line: restart without
 * a gap, durations a timer cannot hold, secrets on a command line.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { startFakeModel } from '../helpers/fake-model.ts';
import {
  freePort,
  killAll,
  runRobbie,
  sleep,
  spawnRobbie,
  steadyLoad,
  stopProc,
  waitHealthy,
} from '../helpers/process.ts';
import { startSupervisor, stopQuietly, tempHome } from '../helpers/supervisor.ts';

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
      const load = steadyLoad(`${base}/health`, 6);
      await sleep(300);
      const r = await runRobbie(['restart', '--home', sup.home], {}, 60_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /serve-0: pid \d+ → pid \d+/);
      await sleep(300);
      const { ok, failures } = await load.stop();
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
    assert.match(env.stderr, /ROBBIE_MODEL_TIMEOUT \(environment\) must be a duration/);
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
      await stopQuietly(home);
      cleanup();
    }
  });

  it('of 8 supervisors started at once on one state directory exactly one runs', async () => {
    const { home, cleanup } = tempHome();
    try {
      const procs = Array.from({ length: 8 }, () =>
        spawnRobbie(['supervise', '--home', home, '--', 'sleep', '30'], { PATH: '/usr/bin:/bin' }),
      );
      await sleep(3000);
      const running = procs.filter((p) => p.child.exitCode === null);
      assert.equal(running.length, 1, `running: ${running.length}`);
      for (const p of procs.filter((x) => x.child.exitCode !== null)) {
        assert.equal(p.child.exitCode, 1);
        assert.match(p.stderr(), /another robbie supervisor \(pid \d+\) is already running/);
      }
      await Promise.all(procs.map((p) => stopProc(p, 'SIGTERM', 15_000)));
    } finally {
      cleanup();
    }
  });

  it('stop 100 ms after start stops what start is bringing up, rather than saying it is not running', async () => {
    const { home, cleanup } = tempHome();
    try {
      const port = await freePort();
      const start = spawnRobbie(['start', '--home', home, '--port', String(port)]);
      await sleep(100);
      const r = await runRobbie(['stop', '--home', home], {}, 30_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /robbie stopped/);
      await start.exited;
      const after = await runRobbie(['status', '--home', home]);
      assert.equal(after.code, 3, 'nothing came up behind the stop');
    } finally {
      await stopQuietly(home);
      cleanup();
    }
  });

  it('misleading errors are plain: a home too long for its socket, a read-only home, a file as home; bad log settings', async () => {
    const long = `/tmp/${'x'.repeat(100)}`;
    const tooLong = await runRobbie(['supervise', '--home', long, '--', 'sleep', '1']);
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, /too long for its control socket .*use a shorter --home/);
    const file = await runRobbie(['supervise', '--home', '/etc/passwd', '--', 'sleep', '1']);
    assert.match(file.stderr, /the state directory \/etc\/passwd cannot be created \(a file is in the way/);
    assert.doesNotMatch(file.stderr, /\*\*\*/);
    const level = await runRobbie(['serve', '--port', '0'], { ROBBIE_LOG_LEVEL: 'verbose' });
    assert.equal(level.code, 78);
    assert.match(level.stderr, /ROBBIE_LOG_LEVEL \(environment\) must be one of/);
    const format = await runRobbie(['supervise', '--home', '/nonexistent'], { ROBBIE_LOG_FORMAT: 'xml' });
    assert.equal(format.code, 78);
    const hook = await runRobbie([
      'config',
      '--alert-webhook',
      'https://hooks.example.com/services/T0/B0/s3cr3tpath',
    ]);
    assert.equal(hook.code, 0, hook.stderr);
    assert.doesNotMatch(hook.stdout, /s3cr3tpath/);
    assert.match(hook.stdout, /https:\/\/hooks\.example\.com\/\*\*\*/);
  });

  it('a read-only state directory is said so in one line', async (t) => {
    const { home, cleanup } = tempHome();
    try {
      const { spawnSync } = await import('node:child_process');
      if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k,mode=0700', 'tmpfs', home]).status !== 0) {
        if (process.env.CI) throw new Error('cannot mount a tmpfs (CI=true: this test must run)');
        t.skip('skipped: mounting a tmpfs needs root');
        return;
      }
      try {
        const r = await runRobbie(['supervise', '--home', home, '--', 'sleep', '1']);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /^robbie: cannot write the state directory .*: read-only file system \(EROFS\)\n$/,
        );
      } finally {
        spawnSync('umount', ['-l', home]);
      }
    } finally {
      cleanup();
    }
  });
});
