import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { after, describe, it } from 'node:test';
import {
  alive,
  getJson,
  killAll,
  runRobbie,
  sleep,
  spawnRobbie,
  steadyLoad,
  stopProc,
  waitFor,
  waitHealthy,
} from '../helpers/process.ts';
import { startSupervisor, statusOf, stopQuietly, tempHome } from '../helpers/supervisor.ts';

after(killAll);

/** Custom commands need a PATH to find sh and sleep (the binary itself needs none). */
const SHELL_ENV = { PATH: '/usr/bin:/bin' };

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('robbie supervise: keeping robbie serve alive', () => {
  it('replaces a SIGKILLed child at once (warm standby promoted) and stays healthy', async () => {
    const sup = await startSupervisor();
    try {
      await waitHealthy(sup.port);
      const before = await sup.active();
      await waitFor('the standby to be ready', async () =>
        (await sup.status()).children.some((c) => c.role === 'standby' && c.state === 'ready'),
      );
      process.kill(before.pid as number, 'SIGKILL');
      const after = await waitFor('a new active child', async () => {
        const c = await sup.active();
        return c.pid !== before.pid ? c : undefined;
      });
      assert.notEqual(after.pid, before.pid);
      assert.equal((await getJson(`http://127.0.0.1:${sup.port}/health`)).status, 200);
      const promoted = sup.events('standby promoted');
      assert.equal(promoted.length, 1, 'the spare took over');
      const exited = sup.events('child exited').find((e) => e.child_pid === before.pid);
      assert.equal(exited?.signal, 'SIGKILL');
      assert.equal(exited?.reason, 'crash');
      const s = await sup.status();
      const slot = s.children.find((c) => c.id === 'serve-0');
      assert.equal(slot?.restarts.total, 1);
      assert.equal(slot?.last_exit?.signal, 'SIGKILL');
      assert.equal(slot?.last_exit?.reason, 'crash');
      // A new spare boots in the background.
      await waitFor('a new standby', async () =>
        (await sup.status()).children.some(
          (c) => c.role === 'standby' && c.state === 'ready' && c.pid !== after.pid,
        ),
      );
    } finally {
      await sup.stop();
    }
  });

  it('without the standby, a crashed child is restarted immediately', async () => {
    const sup = await startSupervisor(['--no-standby']);
    try {
      const before = await sup.active();
      assert.ok(!(await sup.status()).children.some((c) => c.role === 'standby'));
      process.kill(before.pid as number, 'SIGKILL');
      const after = await waitFor('a new active child', async () => {
        const c = await sup.active();
        return c.pid !== before.pid ? c : undefined;
      });
      assert.ok(after.pid);
      await waitHealthy(sup.port);
      assert.equal(sup.events('restarting after backoff').length, 0, 'the first restart has no delay');
    } finally {
      await sup.stop();
    }
  });

  it('replaces a hung (SIGSTOPped) child within the probe budget', async () => {
    const sup = await startSupervisor();
    try {
      const before = await sup.active();
      const t0 = Date.now();
      process.kill(before.pid as number, 'SIGSTOP');
      const after = await waitFor(
        'the hung child to be replaced',
        async () => {
          const c = await sup.active();
          return c.pid !== before.pid ? c : undefined;
        },
        10_000,
        100,
      );
      const took = Date.now() - t0;
      assert.ok(took < 6000, `replaced after ${took} ms`);
      assert.ok(
        !alive(before.pid as number) || !groupAlive(before.pid as number),
        'the hung process is gone',
      );
      assert.ok(after.pid);
      assert.ok(sup.events('child is hung: killing it').length >= 1);
      const slot = (await sup.status()).children.find((c) => c.id === 'serve-0');
      assert.equal(slot?.last_exit?.reason, 'hang');
      await waitHealthy(sup.port);
    } finally {
      await sup.stop();
    }
  });

  it('with defaults: 10 SIGKILLs 1.5–3 s apart are each taken over by the standby with no backoff, then a hang is replaced within 5 s', async () => {
    const sup = await startSupervisor();
    try {
      await waitHealthy(sup.port);
      const standbyReady = () =>
        waitFor('a ready standby', async () =>
          (await sup.status()).children.some((c) => c.role === 'standby' && c.state === 'ready'),
        );
      for (let i = 0; i < 10; i++) {
        await standbyReady();
        await sleep(1500 + Math.floor(Math.random() * 1500));
        const before = await sup.active();
        process.kill(before.pid as number, 'SIGKILL');
        await waitFor(`recovery from kill ${i + 1}`, async () => {
          const c = await sup.active();
          return c.pid !== before.pid ? c : undefined;
        });
        await waitHealthy(sup.port);
      }
      assert.equal(sup.events('standby promoted').length, 10, 'every crash was a promotion');
      assert.equal(sup.events('restarting after backoff').length, 0, 'no crash after serving waits');
      assert.equal(sup.events('restart limit reached: cooling down').length, 0);
      await standbyReady();
      const hung = await sup.active();
      const t0 = Date.now();
      process.kill(hung.pid as number, 'SIGSTOP');
      await waitFor(
        'the hung child to be replaced',
        async () => ((await sup.active()).pid !== hung.pid ? true : undefined),
        10_000,
        50,
      );
      assert.ok(Date.now() - t0 < 5500, `replaced ${Date.now() - t0} ms after SIGSTOP`);
      assert.equal((await sup.status()).children.find((c) => c.id === 'serve-0')?.last_exit?.reason, 'hang');
    } finally {
      await sup.stop();
    }
  });

  it('the processes are named robbie for pgrep, ps and ss', async () => {
    const sup = await startSupervisor();
    try {
      // Both up (a child names itself as it starts, a moment after it is spawned).
      const s = await waitFor('active and standby', async () => {
        const x = await sup.status();
        return x.children.length === 2 &&
          x.children.every((c) => c.pid && (c.state === 'running' || c.state === 'ready'))
          ? x
          : undefined;
      });
      const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const args = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
      assert.equal(comm(sup.proc.pid as number), 'robbie');
      assert.match(args(sup.proc.pid as number), /^robbie supervise/);
      for (const c of s.children) {
        assert.equal(comm(c.pid as number), 'robbie');
        assert.match(args(c.pid as number), /^robbie serve/);
      }
      const pgrep = spawnSync('pgrep', ['-x', 'robbie'], { encoding: 'utf8' });
      const found = pgrep.stdout.split('\n').map(Number);
      for (const pid of [sup.proc.pid, ...s.children.map((c) => c.pid)])
        assert.ok(found.includes(pid as number));
    } finally {
      await sup.stop();
    }
  });

  it('a child that exits 78 (configuration refused) stops the supervisor with 78, without a restart loop', async () => {
    const sup = await startSupervisor([], {
      command: ['sh', '-c', 'echo bad setting >&2; exit 78'],
      waitReady: false,
      env: SHELL_ENV,
    });
    try {
      assert.equal((await sup.proc.exited).code, 78);
      assert.equal(sup.events('child exited').length, 1);
      assert.equal(
        sup.events('the child refused its configuration (exit 78): stopping, a restart cannot help').length,
        1,
      );
    } finally {
      await sup.stop();
    }
  });

  it('a database-free liveness probe keeps passing: status shows the last probe', async () => {
    const sup = await startSupervisor();
    try {
      const c = await waitFor('a probe result', async () => {
        const x = await sup.active();
        return x.last_probe ? x : undefined;
      });
      assert.equal(c.last_probe?.ok, true);
      assert.equal(typeof c.last_probe?.latency_ms, 'number');
    } finally {
      await sup.stop();
    }
  });
});

describe('robbie supervise: crash loops', () => {
  it('backs off with growing delays, trips the cool-down, and tries again after it', async () => {
    const sup = await startSupervisor(
      ['--max-restarts', '4', '--restart-window', '30s', '--cooldown', '2s', '--backoff-max', '2s'],
      { command: ['sh', '-c', 'exit 1'], waitReady: false, env: SHELL_ENV },
    );
    try {
      await waitFor(
        'the cool-down',
        () => sup.events('restart limit reached: cooling down').length > 0,
        20_000,
      );
      const delays = sup.events('restarting after backoff').map((e) => e.delay_ms as number);
      assert.ok(delays.length >= 3, `backoff delays: ${delays}`);
      for (let i = 1; i < delays.length; i++) {
        assert.ok((delays[i] as number) > (delays[i - 1] as number) * 1.2, `delays grow: ${delays}`);
      }
      const status = await sup.status();
      const slot = status.children.find((c) => c.id === 'app-0');
      assert.equal(slot?.state, 'cooldown');
      assert.ok(slot?.next_restart_at, 'status says when it tries again');
      assert.equal(slot?.last_exit?.code, 1);
      await waitFor(
        'the cool-down to end',
        () => sup.events('cool-down over: restarting').length > 0,
        10_000,
      );
      // After the cool-down it is crash-looping again, with a fresh budget.
      await waitFor('restarts after the cool-down', () => sup.events('child exited').length > 6, 10_000);
    } finally {
      await sup.stop();
    }
  });

  it('with --give-up the supervisor exits non-zero at the limit', async () => {
    const sup = await startSupervisor(
      ['--max-restarts', '2', '--restart-window', '30s', '--give-up', '--backoff-max', '200ms'],
      {
        command: ['sh', '-c', 'exit 3'],
        waitReady: false,
        env: SHELL_ENV,
      },
    );
    try {
      const { code } = await sup.proc.exited;
      assert.equal(code, 1);
      assert.equal(sup.events('restart limit reached: giving up (--give-up)').length, 1);
      assert.deepEqual(
        sup.events('child exited').map((e) => e.code),
        [3, 3, 3],
        'the child ran and failed each time',
      );
    } finally {
      await sup.stop();
    }
  });

  it('--restart on-failure leaves a clean exit alone, never leaves a failure alone, and then nothing idles', async () => {
    const clean = await startSupervisor(['--restart', 'on-failure'], {
      command: ['sh', '-c', 'exit 0'],
      waitReady: false,
      env: SHELL_ENV,
    });
    try {
      // With nothing left to supervise, the supervisor ends: 0 when every child exited cleanly.
      assert.equal((await clean.proc.exited).code, 0);
      assert.equal(clean.events('not restarting (restart policy)').length, 1);
      assert.equal(clean.events('child exited').length, 1);
    } finally {
      await clean.stop();
    }
    const never = await startSupervisor(['--restart', 'never'], {
      command: ['sh', '-c', 'exit 1'],
      waitReady: false,
      env: SHELL_ENV,
    });
    try {
      assert.equal((await never.proc.exited).code, 1);
      assert.equal(never.events('child exited').length, 1);
    } finally {
      await never.stop();
    }
  });
});

describe('robbie supervise: no orphans, one supervisor per state directory', () => {
  it('children of a SIGKILLed supervisor exit by themselves within seconds', async () => {
    const sup = await startSupervisor();
    try {
      const status = await waitFor('active and standby', async () => {
        const s = await sup.status();
        return s.children.length === 2 &&
          s.children.every((c) => c.pid && (c.state === 'running' || c.state === 'ready'))
          ? s
          : undefined;
      });
      const pids = status.children.map((c) => c.pid as number);
      sup.proc.kill('SIGKILL');
      await waitFor('the children to exit', () => pids.every((p) => !alive(p)), 8000, 100);
    } finally {
      await sup.stop();
    }
  });

  it('a supervisor that starts ends what a killed predecessor left (a custom command ignores the loss)', async () => {
    const { home, cleanup } = tempHome();
    try {
      const first = spawnRobbie(['supervise', '--home', home, '--', 'sleep', '300'], SHELL_ENV);
      const s1 = await waitFor('the first child', async () => {
        try {
          const s = await statusOf(home);
          return s.children[0]?.pid ? s : undefined;
        } catch {
          return undefined;
        }
      });
      const orphan = s1.children[0]?.pid as number;
      first.kill('SIGKILL');
      await first.exited;
      assert.ok(alive(orphan), 'sleep survives its supervisor');
      const second = spawnRobbie(['supervise', '--home', home, '--', 'sleep', '300'], SHELL_ENV);
      try {
        await waitFor('the orphan to be ended', () => !alive(orphan), 8000, 50);
        assert.ok(second.jsonLines().some((l) => l.msg === 'ending a child left by a previous supervisor'));
      } finally {
        await stopProc(second, 'SIGTERM', 15_000);
      }
    } finally {
      cleanup();
    }
  });

  it('a second supervisor on the same state directory is refused with one line', async () => {
    const sup = await startSupervisor();
    try {
      const r = await runRobbie(['supervise', '--home', sup.home, '--port', String(sup.port)]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /another robbie supervisor \(pid \d+\) is already running on this state directory/,
      );
      assert.equal(r.stderr.trim().split('\n').length, 1);
    } finally {
      await sup.stop();
    }
  });

  it('stop: a child that ignores SIGTERM is killed with all its grandchildren after --stop-timeout', async () => {
    // SIG_IGN survives exec: the shell and every process it starts ignore SIGTERM.
    const script = 'trap "" TERM; sleep 300 & sh -c "sleep 300" & wait';
    const sup = await startSupervisor(['--stop-timeout', '1s'], {
      command: ['sh', '-c', script],
      waitReady: false,
      env: SHELL_ENV,
    });
    try {
      const child = await sup.active();
      const pgid = child.pid as number;
      await waitFor('grandchildren', () => groupAlive(pgid));
      const t0 = Date.now();
      const r = await runRobbie(['stop', '--home', sup.home]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /robbie stopped/);
      assert.ok(!groupAlive(pgid), 'every process of the group is gone');
      assert.ok(Date.now() - t0 < 8000);
      const { code } = await sup.proc.exited;
      assert.equal(code, 0);
      assert.ok(sup.events('child ignored SIGTERM: killed after the stop timeout').length === 1);
    } finally {
      await sup.stop();
    }
  });

  it('SIGTERM to the supervisor drains the children and exits 0', async () => {
    const sup = await startSupervisor();
    const pids = (await sup.status()).children.map((c) => c.pid as number);
    sup.proc.kill('SIGTERM');
    const { code } = await sup.proc.exited;
    assert.equal(code, 0);
    assert.ok(pids.every((p) => !alive(p)));
    await sup.stop();
  });
});

describe('robbie reload, restart, status, start/stop, health', () => {
  it('reload under steady load: zero failed requests, new pids', async () => {
    const sup = await startSupervisor(['--instances', '2']);
    try {
      await waitHealthy(sup.port);
      const before = (await sup.status()).children.filter((c) => c.role === 'active').map((c) => c.pid);
      const load = steadyLoad(`http://127.0.0.1:${sup.port}/health`, 8);
      await sleep(300);
      const r = await runRobbie(['reload', '--home', sup.home], {}, 60_000);
      assert.equal(r.code, 0, r.stderr);
      await sleep(300);
      const { ok, failures } = await load.stop();
      assert.deepEqual(failures, [], `${failures.length} failed of ${ok + failures.length}`);
      assert.ok(ok > 50, `requests served during the reload: ${ok}`);
      const after = (await sup.status()).children.filter((c) => c.role === 'active').map((c) => c.pid);
      assert.equal(after.length, 2);
      for (const pid of after) assert.ok(!before.includes(pid), 'every instance was replaced');
      assert.match(r.stdout, /serve-0: pid \d+ → pid \d+/);
    } finally {
      await sup.stop();
    }
  });

  it('status --json has every field for the supervisor and each child', async () => {
    const sup = await startSupervisor();
    try {
      await sup.active();
      const s = await sup.status();
      assert.equal(s.supervisor.pid, sup.proc.pid);
      assert.equal(s.supervisor.state, 'running');
      assert.equal(typeof s.supervisor.uptime_s, 'number');
      assert.equal(s.supervisor.home, sup.home);
      assert.ok(s.supervisor.rss_bytes && s.supervisor.rss_bytes > 0);
      const c = s.children.find((x) => x.id === 'serve-0');
      assert.ok(c);
      for (const key of [
        'pid',
        'state',
        'uptime_s',
        'restarts',
        'last_exit',
        'last_probe',
        'rss_bytes',
        'cpu_s',
        'backoff_ms',
        'next_restart_at',
      ]) {
        assert.ok(key in c, `child has ${key}`);
      }
      assert.ok((c.rss_bytes as number) > 0);
      assert.deepEqual(
        s.logs.files.map((f) => f.path.split('/').pop()),
        ['robbie.log', 'robbie-errors.log'],
      );
      const human = await runRobbie(['status', '--home', sup.home]);
      assert.equal(human.code, 0);
      assert.match(human.stdout, /serve-0\s+\d+\s+running/);
    } finally {
      await sup.stop();
    }
  });

  it('restart replaces every child', async () => {
    const sup = await startSupervisor(['--no-standby']);
    try {
      const before = await sup.active();
      const r = await runRobbie(['restart', '--home', sup.home], {}, 30_000);
      assert.equal(r.code, 0, r.stderr);
      const after = await waitFor('a new child', async () => {
        const c = await sup.active();
        return c.pid !== before.pid ? c : undefined;
      });
      assert.ok(after.pid);
    } finally {
      await sup.stop();
    }
  });

  it('start returns once healthy, stop ends everything, and the commands then say it is not running', async () => {
    const { home, cleanup } = tempHome();
    try {
      const { freePort } = await import('../helpers/process.ts');
      const port = await freePort();
      // The echo provider: healthy (not degraded) with no model server at hand.
      const started = await runRobbie(
        ['start', '--home', home, '--port', String(port)],
        { ROBBIE_PROVIDER: 'echo' },
        30_000,
      );
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stdout, /robbie started: supervisor pid \d+/);
      assert.equal((await getJson(`http://127.0.0.1:${port}/health`)).status, 200);
      const again = await runRobbie(['start', '--home', home, '--port', String(port)]);
      assert.equal(again.code, 0);
      assert.match(again.stdout, /already running/);
      const health = await runRobbie(['health', '--port', String(port)]);
      assert.equal(health.code, 0);
      assert.match(health.stdout, /^healthy \(HTTP 200\)/);
      const status = await statusOf(home);
      const stopped = await runRobbie(['stop', '--home', home], {}, 30_000);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.ok(!alive(status.supervisor.pid));
      for (const cmd of ['status', 'stop', 'reload']) {
        const r = await runRobbie([cmd, '--home', home]);
        assert.equal(r.code, 3, `${cmd} exits 3 when nothing runs`);
        assert.match(r.stderr, /^robbie: not running \(no supervisor on .+\)\n$/);
      }
      const down = await runRobbie(['health', '--port', String(port), '--timeout', '500ms']);
      assert.equal(down.code, 1);
      assert.match(down.stdout, /unreachable/);
    } finally {
      await stopQuietly(home);
      cleanup();
    }
  });

  it('start fails with the reason and the log tail when the API cannot come up', async () => {
    const { home, cleanup } = tempHome();
    try {
      const r = await runRobbie(
        [
          'start',
          '--home',
          home,
          '--start-timeout',
          '2s',
          '--probe-url',
          'http://127.0.0.1:9/livez',
          '--',
          // By its path: the PATH robbie runs with here holds no programs.
          '/bin/sh',
          '-c',
          'echo booting-$((20+22)); exit 4',
        ],
        {},
        30_000,
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^robbie: start failed: app-0 is (backoff|cooldown|starting), last exit code 4/);
      // The child's own line (the command as written says `$((20+22))`, not 42).
      assert.match(r.stderr, /booting-42/);
      // Nothing is left running.
      const s = await runRobbie(['status', '--home', home]);
      assert.equal(s.code, 3);
    } finally {
      cleanup();
    }
  });

  it('a command that is not there is named as not found, not as a spawn ENOENT', async () => {
    const { home, cleanup } = tempHome();
    try {
      const r = await runRobbie(
        ['start', '--home', home, '--start-timeout', '1s', '--', 'no-such-program-here', '--flag'],
        {},
        30_000,
      );
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^robbie: start failed: app-0 is \w+, last exit command not found: no-such-program-here \(no such file, and not on PATH\)\n/,
      );
      assert.doesNotMatch(r.stderr, /spawn .*ENOENT/);
    } finally {
      cleanup();
    }
  });
});

describe('alerts', () => {
  it('a webhook receives crash and recovery alerts (Slack-compatible text), and a dead webhook does not matter', async () => {
    const received: Record<string, unknown>[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const addr = receiver.address();
    const hook = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`;
    const sup = await startSupervisor(['--alert-webhook', hook]);
    try {
      const before = await sup.active();
      process.kill(before.pid as number, 'SIGKILL');
      await waitFor('crash and recovery alerts', () =>
        received.some((a) => a.event === 'crash') && received.some((a) => a.event === 'recovery')
          ? true
          : undefined,
      );
      const crash = received.find((a) => a.event === 'crash') as Record<string, unknown>;
      assert.match(String(crash.text), /serve-0 \(pid \d+\) crashed: signal SIGKILL/);
      assert.equal(crash.child, 'serve-0');
    } finally {
      await sup.stop();
      receiver.close();
    }
    // A webhook that refuses connections: supervision goes on.
    const sup2 = await startSupervisor(['--alert-webhook', 'http://127.0.0.1:9/nothing-here']);
    try {
      const before = await sup2.active();
      process.kill(before.pid as number, 'SIGKILL');
      await waitFor('a new child', async () => {
        const c = await sup2.active();
        return c.pid !== before.pid ? c : undefined;
      });
      await waitFor('the failed alert to be logged', () =>
        sup2.events('alert not delivered: retrying').some((e) => String(e.channel).startsWith('webhook')),
      );
    } finally {
      await sup2.stop();
    }
  });
});
