import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseEnv } from 'node:util';
import {
  alive,
  BINARY,
  freePort,
  getJson,
  installableBinary,
  killAll,
  ROOT,
  runRobbie,
  spawnProc,
  waitFor,
} from '../helpers/process.ts';
import { statusOf, tempHome } from '../helpers/supervisor.ts';

after(killAll);

function need(tool: string): void {
  if (spawnSync(tool, ['--version']).error) {
    assert.fail(
      `${tool} is missing: the service tests need it (Debian package ${tool === 'python3' ? 'python3' : 'systemd'})`,
    );
  }
}

function analyze(args: string[], unitText: string, dir: string): { code: number | null; out: string } {
  const file = join(dir, 'robbie.service');
  writeFileSync(file, unitText);
  const runtime = join(dir, 'xdg-runtime');
  mkdirSync(runtime, { recursive: true, mode: 0o700 });
  const r = spawnSync('systemd-analyze', [...args, file], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: runtime, SYSTEMD_LOG_COLOR: '0' },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function exposure(out: string): number {
  const m = /Overall exposure level for [^:]+: (\d+\.\d)/.exec(out);
  assert.ok(m, `no exposure figure in: ${out.slice(-300)}`);
  return Number(m[1]);
}

function plist(text: string, dir: string): Record<string, unknown> {
  const file = join(dir, 'job.plist');
  writeFileSync(file, text);
  const r = spawnSync(
    'python3',
    ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', file],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, `plistlib refused the plist: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('install-service: rendered units', () => {
  it('systemd units verify cleanly and score an exposure of at most 2.0', async (t) => {
    need('systemd-analyze');
    const { home, cleanup } = tempHome();
    try {
      const seed = readFileSync(join(ROOT, 'tests/fixtures/seed-robbie-api.service'), 'utf8');
      const seedScore = exposure(analyze(['security', '--offline=true'], seed, home).out);
      for (const [label, args, user] of [
        ['system unit', [], false],
        ['system unit with --as-root', ['--as-root'], false],
        ['user unit', ['--user'], true],
      ] as const) {
        const r = await runRobbie(['install-service', '--print', '--platform', 'linux', ...args]);
        assert.equal(r.code, 0, r.stderr);
        const scope = user ? ['--user'] : [];
        const verify = analyze(['verify', '--man=no', ...scope], r.stdout, home);
        assert.equal(verify.out, '', `${label}: systemd-analyze verify printed: ${verify.out}`);
        assert.equal(verify.code, 0);
        const score = exposure(analyze(['security', '--offline=true', ...scope], r.stdout, home).out);
        t.diagnostic(`${label}: exposure ${score} (the seed's unit: ${seedScore})`);
        assert.ok(score <= 2.0, `${label}: exposure ${score}`);
        assert.match(r.stdout, /^Type=notify$/m);
        assert.match(r.stdout, /^KillMode=mixed$/m);
        assert.match(r.stdout, /^OOMPolicy=continue$/m);
        assert.match(r.stdout, /^Restart=on-failure$/m);
        assert.doesNotMatch(r.stdout, /^MemoryDenyWriteExecute=/m);
        // A system service runs as its own user unless --as-root.
        assert.equal(/^User=robbie$/m.test(r.stdout), label === 'system unit', label);
        // One reader of the env file: robbie's own, through ROBBIE_ENV_FILE.
        assert.doesNotMatch(r.stdout, /^EnvironmentFile=/m);
        assert.match(r.stdout, /^Environment=.*ROBBIE_ENV_FILE=/m);
        assert.match(r.stdout, new RegExp(`^ExecStart=${BINARY.replace(/[/.]/g, '\\$&')} supervise$`, 'm'));
        assert.match(r.stdout, new RegExp(`^ExecReload=${BINARY.replace(/[/.]/g, '\\$&')} reload$`, 'm'));
        assert.match(r.stdout, user ? /^WantedBy=default\.target$/m : /^WantedBy=multi-user\.target$/m);
        const unitSection = r.stdout.slice(r.stdout.indexOf('[Unit]'), r.stdout.indexOf('[Service]'));
        assert.match(unitSection, /StartLimitIntervalSec=/, 'StartLimit* belong in [Unit]');
      }
      assert.ok(seedScore >= 9, `the seed's unit is UNSAFE (${seedScore})`);
    } finally {
      cleanup();
    }
  });

  it('launchd plists parse and hold the keys launchd needs', async () => {
    need('python3');
    const { home, cleanup } = tempHome();
    try {
      for (const user of [false, true]) {
        const r = await runRobbie([
          'install-service',
          '--print',
          '--platform',
          'darwin',
          ...(user ? ['--user'] : []),
        ]);
        assert.equal(r.code, 0, r.stderr);
        const p = plist(r.stdout, home);
        assert.equal(p.Label, 'dev.robbie.supervise');
        const argv = p.ProgramArguments as string[];
        assert.equal(argv[0], BINARY);
        assert.deepEqual(argv.slice(1, 2), ['supervise']);
        assert.equal(argv.length, 2);
        assert.deepEqual(p.KeepAlive, { SuccessfulExit: false, Crashed: true });
        assert.equal(p.RunAtLoad, true);
        assert.equal(p.ThrottleInterval, 10);
        const env = p.EnvironmentVariables as Record<string, string>;
        assert.ok(env.ROBBIE_HOME && env.ROBBIE_LOG_DIR);
        assert.equal(env.ROBBIE_ENV_FILE, `${env.ROBBIE_HOME}/robbie.env`);
        assert.equal(env.ROBBIE_LOG_FORMAT, 'none');
        assert.ok(String(p.StandardOutPath).startsWith(env.ROBBIE_LOG_DIR));
        assert.ok(String(p.StandardErrorPath).startsWith(env.ROBBIE_LOG_DIR));
        assert.equal(p.WorkingDirectory, env.ROBBIE_HOME);
      }
    } finally {
      cleanup();
    }
  });

  it('--dry-run prints every file and command and changes nothing', async () => {
    const { home, cleanup } = tempHome();
    try {
      const r = await runRobbie(['install-service', '--user', '--dry-run', '--env', 'PORT=8123'], {
        HOME: home,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /would write .*\.config\/systemd\/user\/robbie\.service \(mode 0644\)/);
      assert.match(r.stdout, /would write .*\.config\/robbie\/robbie\.env \(mode 0600\)/);
      assert.match(r.stdout, /would run: systemctl --user daemon-reload/);
      assert.match(r.stdout, /would run: systemctl --user enable robbie\.service/);
      assert.match(r.stdout, /would run: systemctl --user restart --no-block robbie\.service/);
      assert.match(r.stdout, /loginctl enable-linger/);
      assert.doesNotMatch(r.stdout, /8123/, 'values in the env file are not printed');
      assert.ok(!existsSync(join(home, '.config')), 'nothing written');
      const mac = await runRobbie(['install-service', '--platform', 'darwin', '--dry-run'], { HOME: home });
      assert.match(
        mac.stdout,
        /would run: launchctl bootstrap system \/Library\/LaunchDaemons\/dev\.robbie\.supervise\.plist/,
      );
    } finally {
      cleanup();
    }
  });
});

describe('install-service: files, escaping, refusals', () => {
  it('--root writes the unit 0644 and the env file 0600, and updates in place', async () => {
    const { home, cleanup } = tempHome();
    try {
      const first = await runRobbie([
        'install-service',
        '--root',
        home,
        '--env',
        'DATABASE_URL=postgres://u:pw@h/db',
        '--env',
        'PORT=8080',
      ]);
      assert.equal(first.code, 0, first.stderr);
      const unit = join(home, 'etc/systemd/system/robbie.service');
      const envFile = join(home, 'etc/robbie/robbie.env');
      assert.equal(statSync(unit).mode & 0o777, 0o644);
      assert.equal(statSync(envFile).mode & 0o777, 0o600);
      assert.doesNotMatch(first.stdout, /pw@h/);
      const again = await runRobbie([
        'install-service',
        '--root',
        home,
        '--env',
        'PORT=9090',
        '--env',
        'ROBBIE_API_KEYS=k1,k2',
      ]);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(parseEnv(readFileSync(envFile, 'utf8')), {
        DATABASE_URL: 'postgres://u:pw@h/db',
        PORT: '9090',
        ROBBIE_API_KEYS: 'k1,k2',
      });
      assert.equal(statSync(envFile).mode & 0o777, 0o600);
      const removed = await runRobbie(['uninstall-service', '--root', home]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.ok(!existsSync(unit));
      assert.ok(existsSync(envFile), 'the env file stays without --purge');
      assert.match(removed.stdout, /kept .*robbie\.env \(remove it with --purge\)/);
      await runRobbie(['uninstall-service', '--root', home, '--purge']);
      assert.ok(!existsSync(envFile));
    } finally {
      cleanup();
    }
  });

  it('paths and values with spaces, quotes and % survive every format', async () => {
    need('systemd-analyze');
    const { home, cleanup } = tempHome();
    try {
      // Spaces and % are fine for systemd; quotes and backslashes in the executable's own path it
      // refuses outright, so robbie says so instead of writing a unit that cannot start.
      const awkward = join(home, 'my dir/100% sure');
      const quoted = join(home, `it's "here"`);
      for (const d of [awkward, quoted]) {
        mkdirSync(d, { recursive: true });
        copyFileSync(BINARY, join(d, 'robbie'));
        chmodSync(join(d, 'robbie'), 0o755);
      }
      const env = ['--env', 'ROBBIE_API_KEYS=a b%c', '--env', `OPENAI_API_KEY=it's "x"`];
      const run = (args: string[], bin = join(awkward, 'robbie')) => {
        const r = spawnSync(bin, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: home } });
        return { code: r.status, stdout: r.stdout, stderr: r.stderr };
      };
      const unit = run(['install-service', '--print', '--platform', 'linux']);
      assert.equal(unit.code, 0, unit.stderr);
      assert.match(unit.stdout, /^ExecStart=".*\/my dir\/100%% sure\/robbie" supervise$/m);
      assert.match(unit.stdout, /^ExecReload=".*\/my dir\/100%% sure\/robbie" reload$/m);
      const verify = analyze(['verify', '--man=no'], unit.stdout, home);
      assert.equal(verify.out, '', verify.out); // a badly escaped path would be "not executable"
      const refused = run(['install-service', '--print', '--platform', 'linux'], join(quoted, 'robbie'));
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^robbie: systemd refuses an executable whose path holds quotes/);
      const mac = run(
        ['install-service', '--print', '--platform', 'darwin', '--user'],
        join(quoted, 'robbie'),
      );
      assert.equal(mac.code, 0, mac.stderr);
      assert.equal((plist(mac.stdout, home).ProgramArguments as string[])[0], join(quoted, 'robbie'));
      // The env file: read back identically by robbie's reader (and by systemd's rules: single
      // quotes are literal, double quotes take no escapes here).
      const target = join(home, 'root with space');
      const mixed = run(['install-service', '--root', target, ...env]);
      assert.equal(mixed.code, 2, 'a value mixing quote kinds is refused');
      assert.match(mixed.stderr, /mixes quote characters/);
      const ok = run([
        'install-service',
        '--root',
        target,
        '--env',
        'ROBBIE_API_KEYS=a b%c',
        '--env',
        "OPENAI_API_KEY=it's x",
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      const back = parseEnv(readFileSync(join(target, 'etc/robbie/robbie.env'), 'utf8'));
      assert.equal(back.ROBBIE_API_KEYS, 'a b%c');
      assert.equal(back.OPENAI_API_KEY, "it's x");
    } finally {
      cleanup();
    }
  });

  it('refuses in one line where it cannot install', async () => {
    if (existsSync('/run/systemd/system')) return; // a machine with systemd would really install
    const sys = await runRobbie(['install-service'], { PATH: '/usr/bin:/bin' }, 15_000, installableBinary());
    assert.equal(sys.code, 1);
    assert.match(
      sys.stderr,
      /^robbie: (systemd is not running on this machine|installing a system service needs root)/,
    );
    assert.equal(sys.stderr.trim().split('\n').length, 1);
    const mac = await runRobbie(['install-service', '--platform', 'darwin']);
    assert.equal(mac.code, 2);
    assert.match(mac.stderr, /a darwin service cannot be installed on linux/);
    const both = await runRobbie(['install-service', '--user', '--create-user', '--print']);
    assert.equal(both.code, 2);
    const contradiction = await runRobbie(['install-service', '--create-user', '--as-root', '--print']);
    assert.equal(contradiction.code, 2);
    assert.match(contradiction.stderr, /--create-user and --as-root contradict each other/);
  });

  it('refuses a binary under /tmp, which the unit would not see (PrivateTmp), naming the fix', async () => {
    const dir = mkdtempSync('/tmp/robbie-hidden-');
    try {
      const bin = join(dir, 'robbie');
      try {
        linkSync(BINARY, bin);
      } catch {
        copyFileSync(BINARY, bin);
      }
      const r = spawnSync(bin, ['install-service', '--user'], {
        encoding: 'utf8',
        env: { PATH: '/usr/bin:/bin' },
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        /^robbie: the service could not run \/tmp\/robbie-hidden-\w+\/robbie: systemd gives it a private \/tmp/,
      );
      assert.match(r.stderr, /install -m 0755 .* \/usr\/local\/bin\/robbie/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('install-service --user end to end (with a stand-in for the systemd user manager)', () => {
  it('installs, starts, waits for /health, and uninstalls', async () => {
    const { home, cleanup } = tempHome();
    try {
      const bin = join(home, 'fakebin');
      mkdirSync(bin);
      writeFileSync(
        join(bin, 'systemctl'),
        `#!/bin/sh\nexec '${process.execPath}' '${join(ROOT, 'tests/fixtures/fake-systemctl.mjs')}' "$@"\n`,
        { mode: 0o755 },
      );
      const port = await freePort();
      const env = { HOME: home, PATH: `${bin}:/usr/bin:/bin` };
      const r = await runRobbie(
        ['install-service', '--user', '--env', `PORT=${port}`],
        env,
        60_000,
        installableBinary(),
      );
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /\$ systemctl --user daemon-reload/);
      assert.match(r.stdout, /\$ systemctl --user enable robbie\.service/);
      assert.match(r.stdout, /\$ systemctl --user restart --no-block robbie\.service/);
      assert.match(r.stdout, new RegExp(`robbie is running: http://127\\.0\\.0\\.1:${port}/health answers`));
      assert.equal((await getJson(`http://127.0.0.1:${port}/health`)).status, 200);
      const stateHome = join(home, '.local/state/robbie');
      const status = await statusOf(stateHome);
      assert.equal(status.children.filter((c) => c.role === 'active').length, 1);
      // Running it again updates in place and restarts.
      const again = await runRobbie(
        ['install-service', '--user', '--env', `PORT=${port}`],
        env,
        60_000,
        installableBinary(),
      );
      assert.equal(again.code, 0, again.stderr);
      await waitFor('the first supervisor to be gone', () => !alive(status.supervisor.pid));
      const removed = await runRobbie(
        ['uninstall-service', '--user', '--purge'],
        env,
        60_000,
        installableBinary(),
      );
      assert.equal(removed.code, 0, removed.stderr);
      assert.match(removed.stdout, /systemctl --user disable --now robbie\.service/);
      assert.ok(!existsSync(join(home, '.config/systemd/user/robbie.service')));
      assert.ok(!existsSync(join(home, '.config/robbie/robbie.env')));
      const down = await runRobbie(['status', '--home', stateHome]);
      assert.equal(down.code, 3);
    } finally {
      // Whatever the stand-in started must not outlive the test.
      const pidFile = join(home, 'fake-systemd.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8'));
        const p = spawnProc('kill', ['-TERM', String(pid)]);
        await p.exited;
        await waitFor('the service to stop', () => !alive(pid), 20_000).catch(() => undefined);
      }
      cleanup();
    }
  });
});
