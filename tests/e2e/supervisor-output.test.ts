/**
 * The supervisor's own output failing (a full disk under its stdout and stderr, a reader that went
 * away) never takes the API down; and what robbie prints to a terminal cannot drive it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  EMPTY_PATH,
  freePort,
  getJson,
  killAll,
  requireBinary,
  runRobbie,
  spawnProc,
  stopProc,
  waitFor,
  waitHealthy,
} from '../helpers/process.ts';
import { statusOf, tempHome } from '../helpers/supervisor.ts';

after(killAll);

/** Kills the active child twice and checks that the API answers after each. */
async function crashTwice(home: string, port: number): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const before = await waitFor('a running child', async () => {
      const c = (await statusOf(home)).children.find((x) => x.role === 'active');
      return c?.state === 'running' ? c : undefined;
    });
    process.kill(before.pid as number, 'SIGKILL');
    await waitFor('a new child', async () => {
      const c = (await statusOf(home)).children.find((x) => x.role === 'active');
      return c?.state === 'running' && c.pid !== before.pid ? c : undefined;
    });
    assert.equal((await getJson(`http://127.0.0.1:${port}/health`)).status, 200);
  }
}

describe("the supervisor's own output", () => {
  it('keeps supervising with its stdout and stderr on a full disk (ENOSPC)', async (t) => {
    const { home, cleanup } = tempHome();
    const full = join(home, 'full');
    mkdirSync(full);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]).status !== 0) {
      if (process.env.CI) throw new Error('cannot mount a tmpfs (CI=true: this test must run)');
      t.skip('skipped: mounting a tmpfs needs root');
      cleanup();
      return;
    }
    try {
      // Fill it, then hand the rest to the supervisor as its stdout and stderr.
      spawnSync('dd', ['if=/dev/zero', `of=${join(full, 'filler')}`, 'bs=4k', 'count=1000'], {
        env: { PATH: '/usr/bin:/bin' },
      });
      const out = openSync(join(full, 'out'), 'a');
      const err = openSync(join(full, 'err'), 'a');
      const port = await freePort();
      const sup = spawnProc(
        requireBinary(),
        ['supervise', '--home', join(home, 'state'), '--port', String(port)],
        {
          stdio: ['ignore', out, err],
          env: { PATH: EMPTY_PATH, ROBBIE_LOG_FORMAT: 'json' },
        },
      );
      closeSync(out);
      closeSync(err);
      await waitHealthy(port, 20_000);
      await crashTwice(join(home, 'state'), port);
      assert.equal(sup.child.exitCode, null, 'the supervisor is still running');
      const log = readFileSync(join(home, 'state', 'logs', 'robbie.log'), 'utf8');
      assert.match(
        log,
        /the supervisor's stdout cannot be written \(ENOSPC\)/,
        'the condition is reported in robbie.log',
      );
      await stopProc(sup, 'SIGTERM', 20_000);
      assert.equal((await sup.exited).code, 0);
    } finally {
      spawnSync('umount', ['-l', full]);
      cleanup();
    }
  });

  it('keeps supervising when its stdout reader went away (EPIPE): `robbie supervise | head -1`', async () => {
    const { home, cleanup } = tempHome();
    try {
      const port = await freePort();
      const sup = spawnProc(requireBinary(), ['supervise', '--home', home, '--port', String(port)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: EMPTY_PATH, ROBBIE_LOG_FORMAT: 'json' },
      });
      // Read the first line, then close the pipe, as head -1 does.
      await new Promise<void>((resolve) => sup.child.stdout?.once('data', () => resolve()));
      sup.child.stdout?.destroy();
      await waitHealthy(port, 20_000);
      await crashTwice(home, port);
      assert.equal(sup.child.exitCode, null, 'the supervisor is still running');
      await stopProc(sup, 'SIGTERM', 20_000);
    } finally {
      cleanup();
    }
  });
});

describe('terminal safety', () => {
  it('robbie logs shows an escape sequence from a request path or a child as text, and --json keeps it raw', async () => {
    const { home, cleanup } = tempHome();
    try {
      const logs = join(home, 'logs');
      mkdirSync(logs, { recursive: true });
      const line = (msg: string) =>
        JSON.stringify({ time: new Date().toISOString(), level: 'info', source: 'serve-0', pid: 1, msg });
      writeFileSync(
        join(logs, 'robbie.log'),
        `${line('request')}`.replace('"request"', '"request","path":"/\\u001b[2J\\u001b]0;HACKED\\u0007"') +
          `\n${line('child says \u001b[31mred\u009b')}\n`,
      );
      const pretty = await runRobbie(['logs', '--home', home]);
      assert.equal(pretty.code, 0, pretty.stderr);
      assert.doesNotMatch(
        pretty.stdout,
        // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence.
        /[\u001b\u0007\u009b]/,
        'no raw control character reaches the terminal',
      );
      assert.match(pretty.stdout, /\\x1b\[2J\\x1b\]0;HACKED\\x07/);
      const raw = await runRobbie(['logs', '--home', home, '--json']);
      assert.match(raw.stdout, /\\u001b\[2J/, 'JSON output stays JSON');
    } finally {
      cleanup();
    }
  });

  it('`robbie logs | head -1` ends quietly', async () => {
    const { home, cleanup } = tempHome();
    try {
      const logs = join(home, 'logs');
      mkdirSync(logs, { recursive: true });
      const many = Array.from({ length: 50_000 }, (_, i) =>
        JSON.stringify({
          time: new Date().toISOString(),
          level: 'info',
          source: 'x',
          pid: 1,
          msg: `line ${i}`,
        }),
      ).join('\n');
      writeFileSync(join(logs, 'robbie.log'), `${many}\n`);
      const r = spawnSync('sh', ['-c', `"${requireBinary()}" logs -n 0 --home "${home}" | head -1`], {
        encoding: 'utf8',
        env: { PATH: '/usr/bin:/bin' },
      });
      assert.equal(r.stdout.trim().split('\n').length, 1);
      assert.equal(r.stderr, '', 'no EPIPE stack');
    } finally {
      cleanup();
    }
  });
});
