/**
 * The container image, built from the repository's Dockerfile with Debian's docker.io and run as a
 * user would (README "Container image"): non-root, healthy through its HEALTHCHECK, state kept in
 * the volume across containers, and `docker stop` draining and exiting 0.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Docker, dockerMissing, startDocker } from '../helpers/docker.ts';
import { startFakeModel } from '../helpers/fake-model.ts';
import { freePort, killAll, ROOT, requireBinary, sleep, waitFor } from '../helpers/process.ts';

after(killAll);

const KEY = 'docker-api-key-1234567890';
const missing = dockerMissing();

describe('the container image', { skip: !process.env.CI && missing ? missing : false }, () => {
  let docker: Docker;
  before(async () => {
    if (missing) throw new Error(`${missing} (CI=true: this test must run)`);
    requireBinary();
    docker = await startDocker('debian:bookworm-slim');
  });
  after(async () => {
    await docker?.stop();
  });

  it('builds from the Dockerfile, runs non-root, turns healthy, keeps state in its volume, and stops cleanly', async () => {
    const t0 = performance.now();
    docker.ok(['build', '-q', '-t', 'robbie:test', ROOT], 300_000);
    const buildMs = performance.now() - t0;
    const config = JSON.parse(docker.ok(['image', 'inspect', '-f', '{{json .Config}}', 'robbie:test'])) as {
      User: string;
      ExposedPorts: Record<string, unknown>;
      Healthcheck: { Test: string[] };
      StopSignal: string;
      Entrypoint: string[];
      Cmd: string[];
      Volumes: Record<string, unknown>;
    };
    assert.equal(config.User, 'robbie:robbie');
    assert.deepEqual(Object.keys(config.ExposedPorts), ['8000/tcp']);
    assert.deepEqual(config.Healthcheck.Test, ['CMD', 'robbie', 'health']);
    assert.equal(config.StopSignal, 'SIGTERM');
    assert.deepEqual([...config.Entrypoint, ...config.Cmd], ['robbie', 'supervise']);
    assert.deepEqual(Object.keys(config.Volumes), ['/var/lib/robbie']);

    const fake = await startFakeModel();
    const port = await freePort();
    const start = (name: string) =>
      docker.ok([
        'run',
        '-d',
        '--name',
        name,
        '--network',
        'host',
        '--health-interval',
        '1s',
        '-e',
        `PORT=${port}`,
        '-e',
        `ROBBIE_API_KEYS=${KEY}`,
        '-e',
        `OLLAMA_URL=${fake.url}`,
        '-v',
        'robbie-state:/var/lib/robbie',
        'robbie:test',
      ]);
    const health = (name: string) => docker.ok(['inspect', '-f', '{{.State.Health.Status}}', name]);
    const ask = () =>
      fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': KEY },
        body: JSON.stringify({
          request_id: 'in-the-volume',
          source: 'chat',
          ai_service: 'chat',
          payload: { input: 'remember me' },
        }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    try {
      start('robbie-1');
      await waitFor('healthy', () => health('robbie-1') === 'healthy', 30_000, 250);
      const ps = docker.ok(['exec', 'robbie-1', 'ps', '-eo', 'user,args']);
      assert.match(ps, /^robbie\s+robbie supervise$/m);
      assert.match(ps, /^robbie\s+robbie serve$/m);
      assert.doesNotMatch(ps, /^root\s+robbie/m);
      const first = await ask();
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const calls = fake.calls.length;

      const stopped = performance.now();
      const stop = docker.run(['stop', '-t', '15', 'robbie-1'], 30_000);
      assert.equal(stop.code, 0, stop.stderr);
      const stopMs = performance.now() - stopped;
      assert.equal(docker.ok(['inspect', '-f', '{{.State.ExitCode}}', 'robbie-1']), '0');
      const logs = docker.run(['logs', 'robbie-1']);
      assert.match(logs.stdout + logs.stderr, /"msg":"supervisor stopped".*"exit_code":0/);
      assert.ok(stopMs < 15_000, `docker stop took ${stopMs.toFixed(0)} ms`);

      // A new container on the same volume answers the same request id from the stored record.
      start('robbie-2');
      await waitFor('healthy again', () => health('robbie-2') === 'healthy', 30_000, 250);
      const again = await ask();
      assert.deepEqual(again, first);
      assert.equal(fake.calls.length, calls, 'answered from the volume, no second model call');
      console.log(`# docker build ${buildMs.toFixed(0)} ms, docker stop ${stopMs.toFixed(0)} ms`);
    } finally {
      docker.run(['rm', '-f', 'robbie-1', 'robbie-2']);
      docker.run(['volume', 'rm', '-f', 'robbie-state']);
      await fake.close();
      await sleep(0);
    }
  });
});
