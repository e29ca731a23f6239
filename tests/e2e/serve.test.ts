import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  freePort,
  getJson,
  killAll,
  type Proc,
  runRobbie,
  sleep,
  spawnRobbie,
  stopProc,
  waitFor,
  waitHealthy,
} from '../helpers/process.ts';
import { tempHome } from '../helpers/supervisor.ts';

after(killAll);

/** One throwaway state directory for this file's serves: never the machine's own (/var/lib/robbie as root). */
const HOME = tempHome();
after(() => HOME.cleanup());

describe('robbie serve (built binary, no Node on PATH)', () => {
  let port: number;
  let proc: Proc;
  const base = () => `http://127.0.0.1:${port}`;

  before(async () => {
    port = await freePort();
    // The echo provider has no server to reach: healthy without a model server at hand.
    proc = spawnRobbie(['serve', '--home', HOME.home, '--port', String(port)], { ROBBIE_PROVIDER: 'echo' });
    await waitHealthy(port);
  });
  after(async () => {
    await stopProc(proc);
  });

  it('GET /health answers in the seed shape with uptime and checks', async () => {
    const { status, body, headers } = await getJson(`${base()}/health`);
    assert.equal(status, 200);
    const b = body as Record<string, unknown>;
    assert.equal(b.status, 'healthy');
    assert.equal(b.service, 'Universal Input API');
    assert.match(String(b.version), /^\d+\.\d+\.\d+/);
    assert.match(String(b.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    assert.equal(typeof b.uptime_s, 'number');
    const checks = b.checks as Record<string, { status: string; store?: string }>;
    assert.equal(checks.database?.status, 'up');
    assert.equal(checks.database?.store, 'sqlite', 'the embedded store by default');
    assert.ok(checks.model, 'the model provider is reported');
    assert.equal(headers.get('cache-control'), 'no-store');
    assert.match(headers.get('content-type') ?? '', /application\/json/);
  });

  it('GET /livez and /readyz answer 200', async () => {
    assert.deepEqual((await getJson(`${base()}/livez`)).body, { status: 'ok' });
    const ready = await getJson(`${base()}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready' });
  });

  it('an HTTP/1.0 request without Host (a load balancer health check) is answered; HTTP/1.1 without Host is 400', async () => {
    const raw = async (request: string) => {
      const sock = connect(port, '127.0.0.1');
      sock.on('error', () => {});
      let response = '';
      sock.setEncoding('utf8').on('data', (d: string) => {
        response += d;
      });
      sock.write(request);
      await new Promise((r) => sock.once('close', r));
      return response;
    };
    assert.match(await raw('GET /readyz HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200[\s\S]*"status":"ready"/);
    assert.match(await raw('GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/);
  });

  it('unknown routes answer 404 as JSON with the request id', async () => {
    const res = await fetch(`${base()}/no/such/route`, { headers: { 'X-Request-Id': 'client-id-42' } });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('x-request-id'), 'client-id-42');
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.error, 'not_found');
    assert.equal(body.request_id, 'client-id-42');
  });

  it('X-Request-Id is generated when absent or unsafe', async () => {
    const plain = await fetch(`${base()}/livez`);
    assert.match(plain.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const unsafe = await fetch(`${base()}/livez`, { headers: { 'X-Request-Id': 'bad id; drop table' } });
    const got = unsafe.headers.get('x-request-id') ?? '';
    assert.notEqual(got, 'bad id; drop table');
    assert.match(got, /^[0-9a-f-]{36}$/);
    const long = await fetch(`${base()}/livez`, { headers: { 'X-Request-Id': 'a'.repeat(200) } });
    assert.match(long.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('writes one JSON access-log line per request with method, path, status, duration and id', async () => {
    await fetch(`${base()}/health`, { headers: { 'X-Request-Id': 'access-log-check' } });
    const line = await waitFor('the access-log line', () =>
      proc.jsonLines().find((l) => l.msg === 'request' && l.request_id === 'access-log-check'),
    );
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/health');
    assert.equal(line.status, 200);
    assert.equal(typeof line.duration_ms, 'number');
    assert.equal(line.level, 'info');
    assert.match(String(line.time), /Z$/);
  });

  it('a second unsupervised serve on a port robbie already serves fails instead of sharing it', async () => {
    // Only supervised children share their port (instances, reload, standby): two serves started
    // by hand on one port, say with different --home, would split the traffic without a word.
    const home = mkdtempSync(join(tmpdir(), 'robbie-second-serve-'));
    try {
      const r = await runRobbie(['serve', '--port', String(port), '--home', home], {
        ROBBIE_PROVIDER: 'echo',
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`port ${port} on 127.0.0.1 is already in use`));
      assert.equal((await getJson(`${base()}/health`)).status, 200, 'the first serve still answers');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

/** A client that has sent its request line and one header, and not the rest: in flight, unfinished. */
async function slowRequest(port: number): Promise<{ sock: Socket; response: () => string }> {
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.on('error', () => {});
  let response = '';
  sock.setEncoding('utf8').on('data', (d: string) => {
    response += d;
  });
  sock.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  await sleep(100);
  return { sock, response: () => response };
}

describe('robbie serve shutdown', () => {
  it('SIGTERM lets a slow in-flight request finish, then exits 0', async () => {
    const port = await freePort();
    const proc = spawnRobbie(['serve', '--home', HOME.home, '--port', String(port)]);
    await waitHealthy(port);
    // A slow client: its request line and first header are sent, the rest comes after SIGTERM.
    const client = await slowRequest(port);
    proc.kill('SIGTERM');
    await waitFor('the draining line', () => proc.jsonLines().find((l) => l.msg === 'draining'));
    // New connections are refused once draining started.
    await assert.rejects(
      new Promise((resolve, reject) =>
        connect(port, '127.0.0.1').once('connect', resolve).once('error', reject),
      ),
      /ECONNREFUSED/,
    );
    client.sock.write('X-Request-Id: slow-client\r\n\r\n');
    const { code } = await proc.exited;
    assert.equal(code, 0);
    assert.match(client.response(), /^HTTP\/1\.1 200/);
    assert.match(client.response(), /"service":"Universal Input API".*\}$/, 'the whole answer arrived');
    assert.match(client.response(), /connection: close/i);
    client.sock.destroy();
  });

  it('an idle keep-alive connection stays usable while draining, until its keep-alive timeout', async () => {
    const port = await freePort();
    const proc = spawnRobbie(['serve', '--home', HOME.home, '--port', String(port)]);
    await waitHealthy(port);
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    let response = '';
    sock.setEncoding('utf8').on('data', (d: string) => {
      response += d;
    });
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => {});
    const get = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    sock.write(get);
    await waitFor('the first answer', () => /\r\n\r\n\{.*\}$/s.test(response));
    assert.match(response, /keep-alive: timeout=5/i, 'the server says how long the connection may idle');
    const first = response.length;
    proc.kill('SIGTERM');
    await waitFor('the draining line', () => proc.jsonLines().find((l) => l.msg === 'draining'));
    // A client may send on its idle connection at any moment it was told it could: well past the
    // first instants of the drain, it is still answered, and told to close.
    await sleep(1000);
    sock.write(get);
    await closed;
    const second = response.slice(first);
    assert.match(second, /^HTTP\/1\.1 200/, `answered: ${JSON.stringify(second.slice(0, 80))}`);
    assert.match(second, /connection: close/i);
    const { code } = await proc.exited;
    assert.equal(code, 0);
  });

  it('a request that never completes is cut at --shutdown-timeout and the process still exits 0', async () => {
    const port = await freePort();
    const proc = spawnRobbie([
      'serve',
      '--home',
      HOME.home,
      '--port',
      String(port),
      '--shutdown-timeout',
      '500ms',
    ]);
    await waitHealthy(port);
    const { sock } = await slowRequest(port);
    const t0 = Date.now();
    proc.kill('SIGTERM');
    const { code } = await proc.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 5000, 'exited near the deadline');
    assert.ok(
      proc.jsonLines().some((l) => l.msg === 'shutdown deadline reached: remaining connections closed'),
    );
    sock.destroy();
  });

  it('a second signal exits at once', async () => {
    const port = await freePort();
    const proc = spawnRobbie([
      'serve',
      '--home',
      HOME.home,
      '--port',
      String(port),
      '--shutdown-timeout',
      '30s',
    ]);
    await waitHealthy(port);
    const { sock } = await slowRequest(port);
    proc.kill('SIGTERM');
    await waitFor('the draining line', () => proc.jsonLines().find((l) => l.msg === 'draining'));
    proc.kill('SIGINT');
    const { code } = await proc.exited;
    assert.equal(code, 130);
    sock.destroy();
  });
});

describe('robbie command line', () => {
  it('--version and version print the version', async () => {
    const a = await runRobbie(['--version']);
    const b = await runRobbie(['version']);
    assert.equal(a.code, 0);
    assert.match(a.stdout, /^\d+\.\d+\.\d+\n$/);
    assert.equal(b.stdout, a.stdout);
  });

  it('--help lists the commands; every command has --help', async () => {
    const top = await runRobbie(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /serve/);
    const serve = await runRobbie(['serve', '--help']);
    assert.equal(serve.code, 0);
    assert.match(serve.stdout, /--port/);
    assert.ok(!serve.stdout.includes('\u001b['), 'no colour codes when not a terminal');
  });

  for (const [args, pattern] of [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['serve', '--prot', '8000'], /unknown option '--prot'/],
    [['serve', '--port'], /option '--port' needs a value/],
    [['serve', '--port', 'eighty'], /--port must be a whole number/],
    [['serve', 'extra'], /unexpected argument 'extra'/],
    [['serve', '--shutdown-timeout', 'soon'], /--shutdown-timeout must be a duration/],
  ] as const) {
    it(`'robbie ${args.join(' ')}' is a one-line usage error with exit code 2`, async () => {
      const r = await runRobbie([...args]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line, got: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('a bad PORT in the environment names the variable and exits 78 (configuration refused)', async () => {
    const r = await runRobbie(['serve'], { PORT: '99999' });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /PORT \(environment\) must be a whole number from 0 to 65535/);
  });

  it('--env-file settings apply below the real environment, with a warning for a readable file', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'robbie-env-'));
    try {
      const port = await freePort();
      const file = join(dir, 'robbie.env');
      writeFileSync(file, `PORT=${port}\nHOST=127.0.0.1\n`, { mode: 0o644 });
      const proc = spawnRobbie(['serve', '--home', HOME.home, '--env-file', file]);
      await waitHealthy(port);
      await stopProc(proc);
      assert.match(proc.stderr(), /warning: .*robbie\.env is readable by others \(mode 0644\)/);
      const overridden = await runRobbie(['serve', '--home', HOME.home, '--env-file', file], {
        PORT: 'not-a-port',
      });
      assert.equal(overridden.code, 78, 'the environment wins over the file (and a bad value there is 78)');
      // Inside the single executable Node itself reads --env-file first and reports a missing file
      // (exit 9); from source robbie does (exit 2). Either way: one line naming the file.
      const missing = await runRobbie(['serve', '--env-file', join(dir, 'nope.env')]);
      assert.ok(missing.code === 2 || missing.code === 9, `exit ${missing.code}`);
      assert.match(missing.stderr, /nope\.env: (ENOENT|not found)/);
      assert.equal(missing.stderr.trim().split('\n').length, 1);
      const viaEnv = spawnRobbie(['serve', '--home', HOME.home], { ROBBIE_ENV_FILE: file });
      await waitHealthy(port);
      await stopProc(viaEnv);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('config shows the effective settings with every secret redacted', async () => {
    const r = await runRobbie(['config', '--json', '--port', '9001'], {
      DATABASE_URL: 'postgres://robbie:Db-Secret-77@db.internal:5432/robbie',
      ROBBIE_API_KEYS: 'key-aaaa1111,key-bbbb2222',
      ROBBIE_ADMIN_KEY: 'admin-cccc3333',
      OPENAI_API_KEY: 'sk-dddd4444eeee5555',
    });
    assert.equal(r.code, 0, r.stderr);
    for (const secret of [
      'Db-Secret-77',
      'key-aaaa1111',
      'key-bbbb2222',
      'admin-cccc3333',
      'sk-dddd4444eeee5555',
    ]) {
      assert.ok(!r.stdout.includes(secret), `${secret} is hidden`);
    }
    const c = JSON.parse(r.stdout) as {
      listen: string;
      store: string;
      settings: Record<string, { value: unknown; env: string; origin: string }>;
    };
    assert.equal(c.listen, '127.0.0.1:9001');
    assert.match(c.store, /postgres:\/\/robbie:\*\*\*@db\.internal:5432\/robbie/);
    assert.deepEqual(c.settings.port, { value: 9001, env: 'PORT', origin: 'flag --port' });
    assert.deepEqual(c.settings['api-keys'], {
      value: 'set (hidden)',
      env: 'ROBBIE_API_KEYS',
      origin: 'env ROBBIE_API_KEYS',
    });
    assert.equal(c.settings['admin-key']?.value, 'set (hidden)');
    assert.equal(c.settings['max-body']?.origin, 'default');
  });

  it('refuses a public address without API keys (exit 78, one line)', async () => {
    const r = await runRobbie(['serve', '--host', '0.0.0.0']);
    assert.equal(r.code, 78);
    assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0 without API keys/);
  });

  it('a port already in use is a one-line error', async () => {
    // robbie shares its port only with processes that also ask for SO_REUSEPORT: a plain listener
    // holding the port makes it fail.
    const port = await freePort();
    const blocker = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const r = await runRobbie(['serve', '--home', HOME.home, '--port', String(port)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`port ${port} on 127.0.0.1 is already in use`));
      assert.equal(r.stderr.trim().split('\n').length, 1);
    } finally {
      blocker.close();
    }
  });
});
