/**
 * The liveness probe against real sockets on loopback: the status decides (2xx and 3xx pass),
 * whatever the body and however the answer is cut; silence, a refusal and a non-HTTP answer fail
 * with a reason.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { probeOnce } from '../../src/supervisor/probe.ts';

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

describe('probeOnce', () => {
  it('passes 2xx and 3xx, fails the rest, and asks for the path it was given', async () => {
    const paths: string[] = [];
    const base = await listen(
      createHttpServer((req, res) => {
        paths.push(req.url ?? '');
        const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('s'));
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end('x'.repeat(100_000));
      }),
    );
    for (const [status, ok] of [
      [200, true],
      [204, true],
      [301, true],
      [404, false],
      [503, false],
    ] as const) {
      const r = await probeOnce(`${base}/health?s=${status}`, 1000);
      assert.equal(r.ok, ok, `HTTP ${status}`);
      assert.equal(r.status, status);
    }
    assert.equal(paths[0], '/health?s=200');
  });

  it('reads a status line that arrives a byte at a time', async () => {
    const base = await listen(
      createServer((socket) => {
        const answer = 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n';
        let i = 0;
        const timer = setInterval(() => {
          if (i < answer.length) socket.write(answer[i++] as string);
          else {
            clearInterval(timer);
            socket.end();
          }
        }, 2);
        socket.on('error', () => clearInterval(timer));
        socket.on('close', () => clearInterval(timer));
      }),
    );
    const r = await probeOnce(`${base}/`, 2000);
    assert.deepEqual([r.ok, r.status], [true, 200]);
  });

  it('fails on silence, on a refusal, on a hang-up and on an answer that is not HTTP', async () => {
    const silent = await listen(createServer(() => {}));
    const t = await probeOnce(`${silent}/health`, 150);
    assert.equal(t.ok, false);
    assert.match(t.error ?? '', /no answer within 150ms/);

    const refusedPort = await listen(createServer());
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 20));
    const refused = await probeOnce(`${refusedPort}/health`, 1000);
    assert.deepEqual([refused.ok, refused.error], [false, 'ECONNREFUSED']);

    const hangUp = await listen(createServer((s) => s.end()));
    assert.deepEqual((await probeOnce(`${hangUp}/`, 1000)).error, 'closed without an answer');

    const garbage = await listen(createServer((s) => s.end('SSH-2.0-OpenSSH\r\n')));
    assert.deepEqual((await probeOnce(`${garbage}/`, 1000)).error, 'not an HTTP answer');
  });
});
