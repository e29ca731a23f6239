import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { killAll, ROOT, runRobbie, sleep, spawnRobbie, stopProc, waitFor } from '../helpers/process.ts';
import { startSupervisor, tempHome } from '../helpers/supervisor.ts';

after(killAll);

const NODE = process.execPath;
const FLOOD = join(ROOT, 'tests/fixtures/flood.mjs');
const PARTIAL = join(ROOT, 'tests/fixtures/partial-line.mjs');
const SHELL_ENV = { PATH: '/usr/bin:/bin' };

function readLog(file: string): string {
  const raw = readFileSync(file);
  return file.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
}

function allRecords(dir: string, name = 'robbie.log'): Record<string, unknown>[] {
  const files = readdirSync(dir).filter((f) => f === name || f.startsWith(`${name}.`));
  const out: Record<string, unknown>[] = [];
  for (const f of files) {
    for (const line of readLog(join(dir, f)).split('\n')) {
      if (line) out.push(JSON.parse(line) as Record<string, unknown>);
    }
  }
  return out;
}

describe('log capture and rotation', () => {
  it('a 200 MiB flood with small rotation: every line exactly once, whole JSON lines, gzip, caps held', async () => {
    const maxTotal = 1536 * 1024 * 1024;
    const sup = await startSupervisor(
      [
        '--restart',
        'never',
        '--log-max-size',
        '8MiB',
        '--log-keep',
        '80',
        '--log-max-total',
        String(maxTotal),
      ],
      { command: [NODE, FLOOD, '200', 'stay'], waitReady: false, env: SHELL_ENV },
    );
    const dir = join(sup.home, 'logs');
    const last = `"msg":"${String(Math.floor((200 * 1024 * 1024) / 100) - 1).padStart(10, '0')} `;
    const holds = (f: string) => {
      try {
        return readFileSync(join(dir, f), 'latin1').includes(last);
      } catch {
        return false;
      }
    };
    try {
      await waitFor(
        'the last line on disk',
        () => holds('robbie.log') || holds('robbie.log.1'),
        120_000,
        100,
      );
      // Rotated files are compressed in the background: wait until none is left plain beyond .1.
      await waitFor(
        'compression to finish',
        () => !readdirSync(dir).some((f) => /^robbie\.log\.(\d+)$/.test(f) && f !== 'robbie.log.1'),
        60_000,
        100,
      );
      await stopProc(sup.proc, 'SIGTERM', 20_000);
      const files = readdirSync(dir).filter((f) => f.startsWith('robbie.log'));
      const rotated = files.filter((f) => f !== 'robbie.log');
      assert.ok(rotated.length >= 20, `rotated ${rotated.length} times`);
      assert.ok(rotated.length <= 80, 'at most --log-keep rotated files');
      assert.ok(files.includes('robbie.log.1'));
      for (const f of rotated.filter((x) => x !== 'robbie.log.1')) {
        assert.ok(f.endsWith('.gz'), `${f} is compressed`);
        gunzipSync(readFileSync(join(dir, f))); // valid gzip, or this throws
      }
      const total = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
      assert.ok(total <= maxTotal);
      const expected = Math.floor((200 * 1024 * 1024) / 100);
      const seen = new Uint8Array(expected);
      // Where each line was seen first (index into files + 1), to say where a duplicate sits.
      const where = new Uint8Array(expected);
      let childLines = 0;
      for (const [fi, f] of files.entries()) {
        for (const line of readLog(join(dir, f)).split('\n')) {
          if (!line) continue;
          const rec = JSON.parse(line) as {
            source: string;
            stream: string;
            msg: string;
            level: string;
            pid: number;
          };
          if (rec.source !== 'app-0') continue;
          childLines++;
          assert.equal(rec.stream, 'stdout');
          assert.equal(rec.level, 'info');
          const n = Number(rec.msg.slice(0, 10));
          assert.equal(rec.msg.length, 99, `line ${n} is whole`);
          assert.equal(seen[n], 0, `line ${n} appears once (in ${files[(where[n] as number) - 1]} and ${f})`);
          seen[n] = 1;
          where[n] = fi + 1;
        }
      }
      assert.equal(childLines, expected, 'no line lost');
    } finally {
      await sup.stop();
    }
  });

  it('a line written without a newline by a child killed mid-line is still logged', async () => {
    const sup = await startSupervisor(['--restart', 'never'], {
      command: [NODE, PARTIAL],
      waitReady: false,
      env: SHELL_ENV,
    });
    try {
      await waitFor('the exit', () => sup.events('not restarting (restart policy)').length > 0);
      await stopProc(sup.proc);
      const msgs = allRecords(join(sup.home, 'logs'))
        .filter((r) => r.source === 'app-0')
        .map((r) => r.msg);
      assert.deepEqual(msgs, ['first whole line', 'unterminated last words']);
    } finally {
      await sup.stop();
    }
  });

  it('binary garbage and over-long lines are made safe, not dropped', async () => {
    const script =
      "process.stdout.write(Buffer.from([0xff,0xfe,0x41,0x00,0x1b,0x0a])); process.stdout.write('y'.repeat(150000) + '\\n'); process.stderr.write('oops\\n')";
    const sup = await startSupervisor(['--restart', 'never'], {
      command: [NODE, '-e', script],
      waitReady: false,
      env: SHELL_ENV,
    });
    try {
      await waitFor('the exit', () => sup.events('not restarting (restart policy)').length > 0);
      await stopProc(sup.proc);
      const recs = allRecords(join(sup.home, 'logs')).filter((r) => r.source === 'app-0');
      assert.equal(recs[0]?.msg, '\ufffd\ufffdA\u0000\u001b');
      const long = recs.filter((r) => typeof r.msg === 'string' && (r.msg as string).startsWith('y'));
      assert.equal(
        long.map((r) => (r.msg as string).length).reduce((a, b) => a + b, 0),
        150000,
      );
      assert.ok(long.length >= 3 && long.slice(0, -1).every((r) => r.partial === true));
      const errs = allRecords(join(sup.home, 'logs'), 'robbie-errors.log').filter(
        (r) => r.source === 'app-0',
      );
      assert.deepEqual(
        errs.map((r) => [r.msg, r.stream, r.level]),
        [['oops', 'stderr', 'error']],
      );
    } finally {
      await sup.stop();
    }
  });

  it('the JSON lines of robbie serve keep their fields; error lines also reach robbie-errors.log', async () => {
    const sup = await startSupervisor();
    try {
      await fetch(`http://127.0.0.1:${sup.port}/health`, { headers: { 'X-Request-Id': 'logs-e2e' } });
      const dir = join(sup.home, 'logs');
      const rec = await waitFor('the access line in robbie.log', () =>
        allRecords(dir).find((r) => r.request_id === 'logs-e2e' && r.msg === 'request'),
      );
      assert.equal(rec.source, 'serve-0');
      assert.equal(rec.stream, 'stdout');
      assert.equal(rec.path, '/health');
      assert.equal(rec.status, 200);
      assert.equal(typeof rec.pid, 'number');
      // A crash is an error line of the supervisor: both files have it.
      const active = await sup.active();
      process.kill(active.pid as number, 'SIGKILL');
      await waitFor('the crash line in robbie-errors.log', () =>
        allRecords(dir, 'robbie-errors.log').find(
          (r) => r.msg === 'child exited' && r.source === 'supervisor',
        ),
      );
    } finally {
      await sup.stop();
    }
  });

  it('SIGHUP reopens the log files after an external mv (logrotate create mode)', async () => {
    const sup = await startSupervisor([], {
      command: [
        'sh',
        '-c',
        'i=0; while [ $i -lt 400 ]; do echo "tick $i"; i=$((i+1)); sleep 0.02; done; sleep 300',
      ],
      waitReady: false,
      env: SHELL_ENV,
    });
    const dir = join(sup.home, 'logs');
    try {
      await waitFor('some ticks', () => readFileSync(join(dir, 'robbie.log'), 'utf8').includes('"tick 20"'));
      renameSync(join(dir, 'robbie.log'), join(dir, 'robbie.log.moved'));
      sup.proc.kill('SIGHUP');
      await waitFor('a new robbie.log', () => existsSync(join(dir, 'robbie.log')));
      await waitFor(
        'ticks in the new file',
        () => readFileSync(join(dir, 'robbie.log'), 'utf8').includes('"tick 399"'),
        20_000,
      );
      const moved = readFileSync(join(dir, 'robbie.log.moved'), 'utf8');
      const fresh = readFileSync(join(dir, 'robbie.log'), 'utf8');
      assert.match(fresh, /log files reopened \(SIGHUP\)/);
      const ticks = (text: string) => [...text.matchAll(/"msg":"tick (\d+)"/g)].map((m) => Number(m[1]));
      const all = [...ticks(moved), ...ticks(fresh)];
      assert.deepEqual(
        all,
        Array.from({ length: 400 }, (_, i) => i),
        'every tick once, in order, across the two files',
      );
    } finally {
      await sup.stop();
    }
  });

  it('an unwritable log directory is reported and supervision goes on', async () => {
    const { home, cleanup } = tempHome();
    try {
      // A regular file where a directory should be: unwritable even for root.
      writeFileSync(join(home, 'not-a-dir'), '');
      const logDir = join(home, 'not-a-dir', 'logs');
      const sup = spawnRobbie([
        'supervise',
        '--home',
        home,
        '--log-dir',
        logDir,
        '--port',
        '0',
        '--no-standby',
      ]);
      try {
        await waitFor('the child', () => sup.jsonLines().some((l) => l.msg === 'child ready'), 20_000);
        assert.match(sup.stderr(), /robbie: cannot write log file: ENOTDIR on .*robbie\.log/);
        const r = await runRobbie(['status', '--json', '--home', home]);
        const status = JSON.parse(r.stdout) as { logs: { files: { ok: boolean; error?: string }[] } };
        assert.equal(status.logs.files[0]?.ok, false);
        assert.match(status.logs.files[0]?.error ?? '', /ENOTDIR/);
        // The child is still supervised: kill it and it comes back.
        const child = (JSON.parse(r.stdout) as { children: { pid: number }[] }).children[0]?.pid as number;
        process.kill(child, 'SIGKILL');
        await waitFor(
          'a new child',
          () => sup.jsonLines().filter((l) => l.msg === 'child ready').length >= 2,
          20_000,
        );
      } finally {
        await stopProc(sup, 'SIGTERM', 20_000);
      }
    } finally {
      cleanup();
    }
  });

  it("a child's JSON line cannot forge the time or source (kept as child_*) and its secret fields are masked", async () => {
    const line = JSON.stringify({
      msg: 'login',
      time: '1999-01-01T00:00:00.000Z',
      source: 'forged',
      // robbie serve's own "stream ended" says how the stream ended in this field
      stream: 'cut',
      password: 'hunter2-very-secret',
      token: 'tok-very-secret',
      user: 'bob',
    });
    const sup = await startSupervisor(['--restart', 'never'], {
      command: ['sh', '-c', `echo '${line}'`],
      waitReady: false,
      env: SHELL_ENV,
    });
    try {
      await sup.proc.exited;
      const rec = readFileSync(join(sup.home, 'logs', 'robbie.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"login"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)[0];
      assert.ok(rec, 'the line is logged');
      assert.equal(rec.source, 'app-0');
      assert.equal(rec.child_source, 'forged', "the child's own source is kept beside it");
      assert.equal(rec.stream, 'stdout');
      assert.equal(rec.child_stream, 'cut');
      assert.notEqual(rec.time, '1999-01-01T00:00:00.000Z');
      assert.equal(rec.child_time, '1999-01-01T00:00:00.000Z');
      assert.equal(rec.password, '***');
      assert.equal(rec.token, '***');
      assert.equal(rec.user, 'bob');
      assert.doesNotMatch(readFileSync(join(sup.home, 'logs', 'robbie.log'), 'utf8'), /very-secret/);
    } finally {
      await sup.stop();
    }
  });

  it('secrets from DATABASE_URL never reach the log files, even in a child’s error message', async () => {
    const url = 'postgres://robbie:Sup3r-S3cret-pw@127.0.0.1:1/robbie';
    const sup = await startSupervisor(['--restart', 'never'], {
      command: [
        'sh',
        '-c',
        `echo "db error: connect ECONNREFUSED ${url}" >&2; echo "retrying with Sup3r-S3cret-pw"`,
      ],
      waitReady: false,
      env: { ...SHELL_ENV, DATABASE_URL: url },
    });
    try {
      await waitFor('the exit', () => sup.events('not restarting (restart policy)').length > 0);
      await stopProc(sup.proc);
      const dir = join(sup.home, 'logs');
      for (const f of ['robbie.log', 'robbie-errors.log']) {
        const text = readFileSync(join(dir, f), 'utf8');
        assert.doesNotMatch(text, /Sup3r-S3cret-pw/, f);
      }
      assert.match(
        readFileSync(join(dir, 'robbie-errors.log'), 'utf8'),
        /postgres:\/\/robbie:\*\*\*@127\.0\.0\.1:1\/robbie/,
      );
    } finally {
      await sup.stop();
    }
  });
});

describe('the foreground', () => {
  it('says where the API is, in one line, once it serves', async () => {
    const sup = await startSupervisor(['--no-standby'], {
      env: { ROBBIE_LOG_FORMAT: 'pretty' },
      waitReady: false,
    });
    try {
      const line = `serving http://127.0.0.1:${sup.port}`;
      await waitFor('the serving line', () => sup.proc.stdout().includes(line), 20_000);
      assert.equal(sup.proc.stdout().split(line).length, 2, 'said once');
    } finally {
      await sup.stop();
    }
  });
});

describe('journald', () => {
  it('under systemd the supervisor writes priority-prefixed lines without timestamps to stdout', async () => {
    const sup = await startSupervisor(['--no-standby'], {
      env: { ROBBIE_LOG_FORMAT: 'journald' },
      waitReady: false,
    });
    try {
      await waitFor('the ready line', () => sup.proc.stdout().includes('child ready'), 20_000);
      const lines = sup.proc.stdout().split('\n').filter(Boolean);
      assert.ok(
        lines.every((l) => /^<[0-7]>/.test(l)),
        lines.join('\n'),
      );
      assert.ok(lines.some((l) => l.startsWith('<6>supervisor started')));
      assert.ok(
        !lines.some((l) => /\d{4}-\d\d-\d\dT\d\d:\d\d/.test(l.split(' ')[0] ?? '')),
        'no timestamps of its own',
      );
      // The files still get full JSON records.
      const rec = allRecords(join(sup.home, 'logs')).find((r) => r.msg === 'supervisor started');
      assert.ok(rec?.time);
    } finally {
      await sup.stop();
    }
  });
});

/** `robbie logs -f` on app-0's lines from the start, and the numbers of the `line N…` it printed. */
function followLines(home: string) {
  const follower = spawnRobbie(['logs', '-f', '-n', '0', '--json', '--home', home, '--source', 'app-0']);
  const seen = () =>
    follower
      .jsonLines()
      .map((l) => /^line (\d+)(?: |$)/.exec(String(l.msg))?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number);
  return { follower, seen };
}

describe('robbie logs and robbie errors', () => {
  it('reads current and rotated (gzipped) files in order, with filters, pretty or JSON', async () => {
    const { home, cleanup } = tempHome();
    try {
      const dir = join(home, 'logs');
      mkdirSync(dir, { recursive: true });
      const line = (i: number, level: string, source: string) =>
        JSON.stringify({
          time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
          level,
          source,
          pid: 1,
          msg: `m${i}`,
        });
      const { gzipSync } = await import('node:zlib');
      writeFileSync(
        join(dir, 'robbie.log.2.gz'),
        gzipSync(`${line(0, 'info', 'serve-0')}\n${line(1, 'error', 'serve-0')}\n`),
      );
      writeFileSync(join(dir, 'robbie.log.1'), `${line(2, 'warn', 'supervisor')}\n`);
      writeFileSync(
        join(dir, 'robbie.log'),
        `${line(3, 'info', 'serve-0')}\n${line(4, 'debug', 'serve-0')}\n`,
      );
      const all = await runRobbie(['logs', '--home', home, '--json']);
      assert.equal(all.code, 0);
      assert.deepEqual(
        all.stdout
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { msg: string }).msg),
        ['m0', 'm1', 'm2', 'm3', 'm4'],
      );
      const last2 = await runRobbie(['logs', '--home', home, '-n', '2', '--json']);
      assert.deepEqual(
        last2.stdout
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { msg: string }).msg),
        ['m3', 'm4'],
      );
      const warn = await runRobbie(['logs', '--home', home, '--level', 'warn']);
      assert.match(warn.stdout, /m1/);
      assert.match(warn.stdout, /m2/);
      assert.doesNotMatch(warn.stdout, /m0|m3|m4/);
      assert.match(warn.stdout, /^2026-01-01 00:00:01Z ERROR serve-0\[1\] m1$/m);
      const source = await runRobbie(['logs', '--home', home, '--source', 'supervisor', '--json']);
      assert.equal(source.stdout.trim().split('\n').length, 1);
      const since = await runRobbie(['logs', '--home', home, '--since', '2026-01-01T00:00:03Z', '--json']);
      assert.equal(since.stdout.trim().split('\n').length, 2);
      const none = await runRobbie(['errors', '--home', home]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no robbie-errors\.log in .*logs/);
      const bad = await runRobbie(['logs', '--home', home, '--level', 'loud']);
      assert.equal(bad.code, 2);
    } finally {
      cleanup();
    }
  });

  it('logs -f follows robbie.log across rotations without a gap', async () => {
    const sup = await startSupervisor(['--log-max-size', '64KiB', '--log-keep', '50'], {
      // 3,000 lines over about 3 s, so that the follower is running while the file rotates.
      command: [
        NODE,
        '-e',
        "let i = 0; const t = setInterval(() => { for (let k = 0; k < 10 && i < 3000; k++) console.log('line ' + i++); if (i >= 3000) clearInterval(t); }, 10); setTimeout(() => {}, 300000);",
      ],
      waitReady: false,
      env: SHELL_ENV,
    });
    try {
      await waitFor('the child', () => sup.events('child started').length > 0);
      const { follower, seen } = followLines(sup.home);
      await waitFor('line 2999 through the follower', () => seen().includes(2999), 30_000, 100);
      await stopProc(follower);
      const got = seen();
      assert.deepEqual(
        got,
        Array.from({ length: 3000 }, (_, i) => i),
        'every line once, in order',
      );
      const rotated = readdirSync(join(sup.home, 'logs')).filter((f) => /^robbie\.log\.\d/.test(f));
      assert.ok(rotated.length >= 3, `the follow crossed ${rotated.length} rotations`);
    } finally {
      await sup.stop();
    }
  });

  /**
   * A child that writes 20,000 lines in bursts of `burst`, `everyMs` apart, once told (the follower
   * is attached by then), into files of `maxSize`; the follower must print every line once, in
   * order. Returns how many rotated files there are.
   */
  async function followBursts(maxSize: string, burst: number, everyMs: number) {
    const total = 20_000;
    const sup = await startSupervisor(
      ['--log-max-size', maxSize, '--log-keep', '10000', '--log-max-total', '1GiB'],
      {
        command: [
          NODE,
          '-e',
          `const go = require('path').join(process.env.ROBBIE_HOME, 'go'); let n = 0; const t = setInterval(() => { if (!require('fs').existsSync(go)) return; let s = ''; for (let k = 0; k < ${burst}; k++, n++) s += 'line ' + n + ' ' + 'x'.repeat(80) + '\\n'; process.stdout.write(s); if (n >= ${total}) clearInterval(t); }, ${everyMs}); setTimeout(() => {}, 300000);`,
        ],
        waitReady: false,
        env: SHELL_ENV,
      },
    );
    try {
      await waitFor('the child', () => sup.events('child started').length > 0);
      const { follower, seen } = followLines(sup.home);
      // Attached: it has read the existing files (its first poll is well under a second away).
      await sleep(1000);
      writeFileSync(join(sup.home, 'go'), '');
      await waitFor(`line ${total - 1} through the follower`, () => seen().includes(total - 1), 30_000, 100);
      await stopProc(follower);
      const got = seen();
      assert.equal(got.length, total, `${got.length} of ${total} lines`);
      assert.deepEqual(
        got,
        Array.from({ length: total }, (_, i) => i),
        'every line once, in order',
      );
      assert.equal(follower.stderr(), '', 'no warning: every catch-up was sure of its files');
      const rotated = readdirSync(join(sup.home, 'logs')).filter((f) => /^robbie\.log\.\d/.test(f));
      return rotated.length;
    } finally {
      await sup.stop();
    }
  }

  it('logs -f misses no file when several rotations happen between two of its polls', async () => {
    // Each burst of 2,000 lines rotates the 64 KiB file several times between two polls.
    const rotations = await followBursts('64KiB', 2000, 1000);
    assert.ok(rotations >= 30, `${rotations} rotations`);
  });

  it('logs -f prints every line once while the files rotate every few milliseconds', async () => {
    // Each rotation renames every rotated file, and a directory read while they are renamed can
    // miss one or list it twice: the follower must still find exactly the files it has not read.
    // About 190 rotations on an idle machine; fewer when the supervisor batches more under load.
    const rotations = await followBursts('4KiB', 100, 5);
    assert.ok(rotations >= 30, `${rotations} rotations`);
  });
});
