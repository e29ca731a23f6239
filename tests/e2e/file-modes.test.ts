/**
 * Everything robbie creates is its owner's alone, whatever the umask: the state and log
 * directories 0700; the database and its WAL and SHM, the state file, the lock, the control socket
 * and the log 0600. A state directory that other users may write to is refused (exit 78).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  freePort,
  killAll,
  runRobbie,
  spawnRobbie,
  stopProc,
  waitFor,
  waitHealthy,
} from '../helpers/process.ts';
import { sqliteRows } from '../helpers/serve.ts';
import { tempHome } from '../helpers/supervisor.ts';

after(killAll);

const modeOf = (path: string) => (statSync(path).mode & 0o7777).toString(8).padStart(4, '0');

describe('file modes', () => {
  it('under umask 000, every file and directory robbie creates is 0600 or 0700', async (t) => {
    const { home: base, cleanup } = tempHome();
    t.after(cleanup);
    const home = join(base, 'state', 'robbie');
    const port = await freePort();
    // A child takes its parent's umask when it is spawned.
    const before = process.umask(0);
    let proc: ReturnType<typeof spawnRobbie>;
    try {
      proc = spawnRobbie(['supervise', '--home', home, '--port', String(port)], { ROBBIE_PROVIDER: 'echo' });
    } finally {
      process.umask(before);
    }
    t.after(() => stopProc(proc, 'SIGTERM', 20_000));
    await waitHealthy(port, 20_000);
    const res = await fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'modes' } }),
    });
    assert.equal(res.status, 200, await res.text());
    await waitFor('the request recorded', () => sqliteRows(home, 'select 1 from ai_request_logs').length > 0);
    const logs = join(home, 'logs');
    await waitFor('the log file written', () => existsSync(join(logs, 'robbie.log')));
    const seen = Object.fromEntries(
      [
        join(base, 'state'),
        home,
        logs,
        join(home, 'robbie.db'),
        join(home, 'robbie.db-wal'),
        join(home, 'robbie.db-shm'),
        join(home, 'supervisor.json'),
        join(home, 'supervisor.lock'),
        join(home, 'control.sock'),
        join(logs, 'robbie.log'),
      ].map((p) => [p.slice(base.length), modeOf(p)]),
    );
    assert.deepEqual(seen, {
      '/state': '0700',
      '/state/robbie': '0700',
      '/state/robbie/logs': '0700',
      '/state/robbie/robbie.db': '0600',
      '/state/robbie/robbie.db-wal': '0600',
      '/state/robbie/robbie.db-shm': '0600',
      '/state/robbie/supervisor.json': '0600',
      '/state/robbie/supervisor.lock': '0600',
      '/state/robbie/control.sock': '0600',
      '/state/robbie/logs/robbie.log': '0600',
    });
  });

  it('a state directory other users may write to is refused with one line, exit 78', async (t) => {
    const { home, cleanup } = tempHome();
    t.after(cleanup);
    for (const mode of [0o775, 0o1777]) {
      chmodSync(home, mode);
      for (const command of ['supervise', 'serve']) {
        const r = await runRobbie([command, '--home', home, '--port', String(await freePort())], {
          ROBBIE_PROVIDER: 'echo',
        });
        assert.equal(r.code, 78, `${command}, mode ${mode.toString(8)}: ${r.stderr}`);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0] ?? '', /is writable by other users \(mode \d{4}\): run chmod go-w/);
      }
    }
  });
});
