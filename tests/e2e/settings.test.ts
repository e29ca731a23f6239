/**
 * Every process runs with the settings it was given: the supervisor hands each `serve` setting to
 * every child (active, standby, reloaded), a wrong value from a file names the file and line, and
 * the commands that talk to the service find an installed service's settings by themselves.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveSettings } from '../../src/config/resolve.ts';
import { envName, hasFlag, type Key, keysOf } from '../../src/config/settings.ts';
import { fromEnv } from '../../src/config/sources.ts';
import { viewSettings } from '../../src/config/view.ts';
import { startFakeModel } from '../helpers/fake-model.ts';
import {
  freePort,
  killAll,
  runRobbie,
  sleep,
  spawnRobbie,
  stopProc,
  waitFor,
  waitHealthy,
} from '../helpers/process.ts';
import { startSupervisor, statusOf, stopQuietly, tempHome } from '../helpers/supervisor.ts';

after(killAll);

interface Line {
  msg?: string;
  source?: string;
  pid?: number;
  given?: Record<string, unknown>;
}

function logLines(home: string): Line[] {
  const path = join(home, 'logs', 'robbie.log');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        return {};
      }
    });
}

const post = (port: number, bytes: number) =>
  fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'y'.repeat(bytes) } }),
    signal: AbortSignal.timeout(10_000),
  });

describe('settings reach every child', () => {
  it('supervise --max-body 2KiB: the supervised child answers a 10 KB POST with 413', async () => {
    const sup = await startSupervisor(['--max-body', '2KiB', '--retention', '7d', '--no-standby'], {
      env: { ROBBIE_PROVIDER: 'echo' },
    });
    try {
      await waitHealthy(sup.port, 15_000);
      assert.equal((await post(sup.port, 10_000)).status, 413);
      assert.equal((await post(sup.port, 100)).status, 200);
    } finally {
      await sup.stop();
    }
  });

  it('each serve setting given to supervise is what the active child and the standby run with', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-table-'));
    const patterns = join(dir, 'patterns.json');
    writeFileSync(patterns, JSON.stringify([{ pattern: 'zzz-forbidden', severity: 'high' }]));
    const providers = join(dir, 'providers.json');
    writeFileSync(providers, JSON.stringify([{ name: 'spare', kind: 'echo' }]));
    const prices = join(dir, 'prices.json');
    writeFileSync(prices, JSON.stringify({ 'chat-m': { input: 0.15, output: 0.6 } }));
    // A value other than the default for every setting the API process needs: a setting added to
    // the table without one here fails this test.
    const given: Partial<Record<Key, string>> = {
      host: '127.0.0.1',
      'shutdown-timeout': '3s',
      'database-url': 'postgres://robbie:pw-never-shown@127.0.0.1:1/robbie',
      retention: '7d',
      'max-body': '2KiB',
      'api-keys': 'key-one-1111,key-two-2222',
      'admin-key': 'admin-key-3333',
      'metrics-token': 'metrics-token-5555',
      provider: 'echo',
      'ollama-url': 'http://127.0.0.1:9',
      'openai-base-url': 'http://127.0.0.1:9/v1',
      'openai-api-key': 'sk-test-4444',
      'chat-model': 'chat-m',
      'code-model': 'code-m',
      'analysis-model': 'analysis-m',
      'embedding-model': 'embed-m',
      fallback: 'ollama',
      'providers-file': providers,
      'model-timeout': '5s',
      'models-refresh': '2m',
      'upstream-max-answer': '2MiB',
      'upstream-max-line': '64KiB',
      'stream-write-timeout': '9s',
      cache: 'chat,embedding',
      'cache-ttl': '2m',
      'cache-stale': '3h',
      'rate-limit': '7/1m',
      'rate-limit-scope': 'local',
      'rate-limit-user': '3/1m',
      'budget-reserve': '500',
      'prices-file': prices,
      mood: 'calm',
      'gatekeeper-patterns': patterns,
      'gatekeeper-killswitch': 'true',
      'otel-endpoint': 'http://127.0.0.1:9',
      'otel-traces-endpoint': 'http://127.0.0.1:9/traces',
      'otel-protocol': 'http/json',
      'otel-headers': 'x-tenant=otel-header-6666',
      'otel-timeout': '2s',
      'otel-schedule-delay': '200ms',
      'otel-max-queue': '100',
      'otel-service-name': 'svc-test',
      'otel-resource-attributes': 'team=ai',
      'otel-traces-sampler': 'always_on',
      'otel-traces-sampler-arg': '0.5',
      'otel-capture-content': 'true',
      'log-level': 'debug',
      'log-format': 'json',
      'no-color': '1',
      debug: '1',
    };
    const needed = keysOf('serve', 'process').filter((k) => k !== 'port');
    assert.deepEqual(
      needed.filter((k) => given[k] === undefined),
      [],
      'a test value for every setting',
    );
    // Flags where a setting has one, the environment for the rest (secrets have no flag).
    const flags: string[] = [];
    const env: NodeJS.ProcessEnv = {};
    for (const key of needed) {
      const value = given[key] as string;
      if (!hasFlag(key)) env[envName(key)] = value;
      else if (value === 'true') flags.push(`--${key}`);
      else flags.push(`--${key}`, value);
    }
    const sup = await startSupervisor(flags, { env, waitReady: false });
    try {
      const port = String(sup.port);
      const expected = viewSettings(
        resolveSettings([
          fromEnv({ ...Object.fromEntries(needed.map((k) => [envName(k), given[k]])), PORT: port }),
        ]),
        true,
      );
      const check = (line: Line, who: string) => {
        for (const key of [...needed, 'port' as const]) {
          assert.notEqual(expected[key], undefined, key);
          assert.deepEqual(line.given?.[key], expected[key]?.value, `${who}: ${key}`);
        }
        assert.doesNotMatch(
          JSON.stringify(line),
          /pw-never-shown|key-one-1111|admin-key-3333|sk-test-4444|metrics-token-5555|otel-header-6666/,
        );
      };
      const settingsLines = () => logLines(sup.home).filter((l) => l.msg === 'settings');
      const first = await waitFor(
        'the active child and the standby to log their settings',
        () => {
          const lines = settingsLines();
          return lines.some((l) => l.source === 'standby') && lines.some((l) => l.source === 'serve-0')
            ? lines
            : undefined;
        },
        30_000,
      );
      check(first.find((l) => l.source === 'serve-0') as Line, 'active child');
      check(first.find((l) => l.source === 'standby') as Line, 'standby');
    } finally {
      await sup.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a reloaded child runs with the settings too', async () => {
    const sup = await startSupervisor(['--max-body', '2KiB', '--no-standby'], {
      env: { ROBBIE_PROVIDER: 'echo' },
    });
    try {
      await waitHealthy(sup.port, 15_000);
      const before = (await sup.active()).pid;
      const r = await runRobbie(['reload', '--home', sup.home], {}, 60_000);
      assert.equal(r.code, 0, r.stderr);
      const after = await waitFor('a new active child', async () => {
        const c = await sup.active();
        return c.pid !== before ? c : undefined;
      });
      const line = logLines(sup.home).find((l) => l.msg === 'settings' && l.pid === after.pid);
      assert.equal(line?.given?.['max-body'], '2KiB');
      assert.equal((await post(sup.port, 10_000)).status, 413);
    } finally {
      await sup.stop();
    }
  });

  it('robbie start hands its settings to the background supervisor and its children, none on a command line', async () => {
    const { home, cleanup } = tempHome();
    const port = await freePort();
    try {
      const r = await runRobbie(
        [
          'start',
          '--home',
          home,
          '--port',
          String(port),
          '--max-body',
          '2KiB',
          '--database-url',
          'postgres://u:start-pw-99@127.0.0.1:1/db',
        ],
        { ROBBIE_PROVIDER: 'echo' },
        60_000,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await post(port, 10_000)).status, 413);
      const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
      assert.ok(!ps.includes('start-pw-99') && !ps.includes('2KiB'), 'no setting on a command line');
    } finally {
      await stopQuietly(home);
      cleanup();
    }
  });

  it('ROBBIE_STANDBY=0 runs no standby', async () => {
    const sup = await startSupervisor([], { env: { ROBBIE_STANDBY: '0' } });
    try {
      await waitHealthy(sup.port, 15_000);
      const status = await statusOf(sup.home);
      assert.deepEqual(
        status.children.map((c) => c.role),
        ['active'],
      );
    } finally {
      await sup.stop();
    }
  });
});

describe('an env file', () => {
  it('reaches the supervised children, the variables its providers file names included', async () => {
    const fake = await startFakeModel();
    const dir = mkdtempSync(join(tmpdir(), 'robbie-envfile-'));
    const providers = join(dir, 'providers.json');
    writeFileSync(
      providers,
      JSON.stringify([{ name: 'up', kind: 'openai', url: `${fake.url}/v1`, api_key_env: 'UP_KEY' }]),
    );
    const envFile = join(dir, 'robbie.env');
    writeFileSync(
      envFile,
      `ROBBIE_PROVIDERS_FILE=${providers}\nROBBIE_PROVIDER=up\nUP_KEY=key-only-in-the-file-7777\n`,
      { mode: 0o600 },
    );
    const sup = await startSupervisor(['--env-file', envFile]);
    try {
      const res = await fetch(`http://127.0.0.1:${sup.port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(res.status, 200);
      assert.equal(fake.calls.at(-1)?.headers.authorization, 'Bearer key-only-in-the-file-7777');
    } finally {
      await sup.stop();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('commands ask the running service', () => {
  it('config and health describe the supervisor that runs, whatever this shell says; start with other settings says which', async () => {
    const { home, cleanup } = tempHome();
    const port = await freePort();
    const envFile = join(home, 'robbie.env');
    writeFileSync(envFile, 'ROBBIE_MAX_BODY=3KiB\n', { mode: 0o600 });
    try {
      const logDir = join(home, 'elsewhere');
      const started = await runRobbie(
        ['start', '--home', home, '--port', String(port), '--env-file', envFile, '--log-dir', logDir],
        { ROBBIE_PROVIDER: 'echo' },
        60_000,
      );
      assert.equal(started.code, 0, started.stderr);
      // Another shell: none of those settings, and a port of its own in its environment.
      const shell = { PORT: '9' };
      const config = await runRobbie(['config', '--home', home, '--json'], shell);
      assert.equal(config.code, 0, config.stderr);
      const view = JSON.parse(config.stdout) as {
        settings_of: string;
        listen: string;
        settings: Record<string, { value: unknown; origin: string }>;
      };
      assert.match(view.settings_of, /^the running supervisor, pid \d+$/);
      assert.equal(view.listen, `127.0.0.1:${port}`);
      const pid = view.settings_of.split(' ').at(-1);
      // Where each came from, through `robbie start`: its environment, its flags, its env file.
      assert.deepEqual(view.settings.provider, {
        value: 'echo',
        env: 'ROBBIE_PROVIDER',
        origin: `running supervisor (pid ${pid}): env ROBBIE_PROVIDER (given to robbie start)`,
      });
      assert.equal(
        view.settings.port?.origin,
        `running supervisor (pid ${pid}): flag --port (given to robbie start)`,
      );
      assert.deepEqual(view.settings['max-body'], {
        value: '3KiB',
        env: 'ROBBIE_MAX_BODY',
        origin: `running supervisor (pid ${pid}): file ${envFile}:1 (given to robbie start)`,
      });
      // logs reads where the supervisor writes, though this shell names no log directory.
      const logs = await runRobbie(['logs', '--home', home, '-n', '50'], shell);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /supervisor started/);
      const health = await runRobbie(['health', '--home', home], shell);
      assert.equal(health.code, 0, health.stderr);
      assert.match(health.stdout, new RegExp(`127\\.0\\.0\\.1:${port}/health`));
      const other = await runRobbie(['start', '--home', home, '--port', String(port + 1)], shell);
      assert.equal(other.code, 1);
      assert.equal(
        other.stderr.trim(),
        `robbie: robbie is already running (supervisor pid ${pid}) with other settings: --port ${port + 1} (it runs with ${port}). To apply them without a gap: robbie start --apply (or robbie stop, then start again)`,
      );
      // --apply: the children take a new API setting by a rolling reload while the API answers;
      // the address stays the supervisor's.
      const moved = await runRobbie(['start', '--home', home, '--port', String(port + 1), '--apply'], {});
      assert.equal(moved.code, 1);
      assert.match(moved.stderr, /--port take effect only when the supervisor starts again/);
      const before = (await statusOf(home)).children.find((c) => c.role === 'active');
      let answered = 0;
      let refused = 0;
      let polling = true;
      const poll = (async () => {
        for (let i = 0; i < 2000 && polling; i++) {
          const ok = await fetch(`http://127.0.0.1:${port}/livez`, { signal: AbortSignal.timeout(5000) })
            .then((r) => r.ok)
            .catch(() => false);
          if (ok) answered++;
          else refused++;
          await sleep(20);
        }
      })();
      const applied = await runRobbie(['start', '--home', home, '--max-body', '5KiB', '--apply'], {}, 60_000);
      polling = false;
      await poll;
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /runs with --max-body now: serve-0 pid \d+ → \d+, with no gap/);
      assert.equal(refused, 0, `the API answered throughout (${answered} answers)`);
      const replaced = (await statusOf(home)).children.find((c) => c.role === 'active');
      assert.notEqual(replaced?.pid, before?.pid);
      const big = await fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: 'cli', ai_service: 'chat', payload: { input: 'x'.repeat(4000) } }),
      });
      assert.equal(big.status, 200, 'a 4 KB body fits the new 5 KiB limit');
      const kept = JSON.parse((await runRobbie(['config', '--home', home, '--json'], {})).stdout) as {
        settings: Record<string, { value: unknown }>;
      };
      assert.equal(kept.settings['max-body']?.value, '5KiB');
      assert.equal(kept.settings.provider?.value, 'echo', 'the settings it ran with stay');
      const same = await runRobbie(['start', '--home', home, '--port', String(port)], {});
      assert.equal(same.code, 0, same.stderr);
      assert.match(same.stdout, /already running/);
      // Stopped: the commands say they go by this shell and the defaults.
      await stopQuietly(home);
      const after = await runRobbie(['config', '--home', home, '--json'], shell);
      const stopped = JSON.parse(after.stdout) as { settings_of: string; listen: string };
      assert.equal(stopped.settings_of, 'this environment and the defaults (no supervisor runs)');
      assert.equal(stopped.listen, '127.0.0.1:9');
    } finally {
      await stopQuietly(home);
      cleanup();
    }
  });
});

describe('wrong values and unknown names', () => {
  it('a bad duration in an env file is exit 78 naming the file and the line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-envfile-'));
    try {
      const file = join(dir, 'robbie.env');
      writeFileSync(file, '# robbie\nPORT=8123\nROBBIE_COOLDOWN=later\n', { mode: 0o600 });
      const r = await runRobbie(['supervise', '--home', dir, '--env-file', file]);
      assert.equal(r.code, 78, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`ROBBIE_COOLDOWN \\(${file} line 3\\) must be a duration`));
      const flag = await runRobbie(['supervise', '--home', dir, '--cooldown', 'later']);
      assert.equal(flag.code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown ROBBIE_* variable is reported with the closest known name', async () => {
    const r = await runRobbie(['config'], { ROBBIE_STANDBY_SPARE: '0' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /warning: unknown setting ROBBIE_STANDBY_SPARE \(environment\) is ignored; did you mean ROBBIE_STANDBY\?/,
    );
  });
});

describe('commands find the installed service', () => {
  it('robbie health, config and status use an installed user service’s env file and state directory', async () => {
    const home = mkdtempSync(join(tmpdir(), 'robbie-user-'));
    try {
      const port = await freePort();
      const env = { HOME: home, XDG_STATE_HOME: '' };
      const install = await runRobbie(
        [
          'install-service',
          '--user',
          '--root',
          '/',
          '--env',
          `PORT=${port}`,
          '--env',
          'ROBBIE_PROVIDER=echo',
        ],
        env,
      );
      assert.equal(install.code, 0, install.stderr);
      const envFile = join(home, '.config/robbie/robbie.env');
      const state = join(home, '.local/state/robbie');
      assert.ok(existsSync(envFile) && existsSync(state), install.stdout);
      // The service as its unit would run it.
      const service = spawnRobbie(['supervise', '--no-standby'], {
        ...env,
        ROBBIE_HOME: state,
        ROBBIE_ENV_FILE: envFile,
      });
      try {
        await waitHealthy(port, 20_000);
        const health = await runRobbie(['health'], env);
        assert.equal(health.code, 0, health.stderr);
        assert.match(
          health.stdout,
          new RegExp(`^healthy \\(HTTP 200\\) http://127\\.0\\.0\\.1:${port}/health`),
        );
        const config = await runRobbie(['config', '--json'], env);
        const c = JSON.parse(config.stdout) as { home: string; settings: Record<string, { origin: string }> };
        assert.equal(c.home, state);
        // Asked of the running supervisor, which says where it got it.
        assert.match(
          c.settings.port?.origin ?? '',
          new RegExp(`^running supervisor \\(pid \\d+\\): file ${envFile}:\\d+$`),
        );
        const status = await runRobbie(['status', '--json'], env);
        assert.equal(status.code, 0, status.stderr);
        assert.equal((JSON.parse(status.stdout) as { supervisor: { home: string } }).supervisor.home, state);
        // Another source given wins: --port probes elsewhere.
        const other = await runRobbie(['health', '--port', '1'], env);
        assert.equal(other.code, 1);
      } finally {
        await stopProc(service, 'SIGTERM', 20_000);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
