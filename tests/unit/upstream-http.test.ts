/**
 * robbie's HTTP client to model servers (providers/http.ts) against a real server on loopback: a
 * stream cut by its caller closes the upstream request, and opens no other connection; a caller
 * that stops reading early closes an unfinished answer's request, and keeps a finished one's
 * connection for the next call.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { UpstreamHttp } from '../../src/api/providers/http.ts';
import { NO_TRACING } from '../../src/telemetry/tracer.ts';

describe('the upstream HTTP client', () => {
  let connections = 0;
  let closedEarly: (() => void) | undefined;
  const open = new Set<ServerResponse>();
  // An endless stream: a piece every 20 ms until the client goes. At /finite: one piece and the
  // end marker, then the end.
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (req.url === '/finite') {
      res.end('data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n');
      return;
    }
    open.add(res);
    const timer = setInterval(() => res.write('data: {"choices":[{"delta":{"content":"x"}}]}\n\n'), 20);
    res.on('close', () => {
      clearInterval(timer);
      open.delete(res);
      closedEarly?.();
    });
  });
  server.on('connection', () => {
    connections++;
  });
  let url = '';
  let origin = '';
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    url = `${origin}/v1/chat/completions`;
  });
  /** A call's context, and the controller that aborts it. */
  const call = () => {
    const abort = new AbortController();
    return {
      abort,
      ctx: { signal: abort.signal, traceparent: NO_TRACING.server('test', undefined).traceparent },
    };
  };
  after(async () => {
    for (const res of open) res.socket?.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('closes the upstream request of a stream its caller cuts, and opens no other connection', async () => {
    const http = new UpstreamHttp({ answerBytes: 1 << 20, lineBytes: 1 << 16 });
    const { abort, ctx } = call();
    const upstream = await http.post(url, { stream: true }, {}, ctx);
    const closed = new Promise<void>((resolve) => {
      closedEarly = resolve;
    });
    const pieces = http.streamText(upstream, abort.signal);
    const first = await pieces.next();
    assert.match(String(first.value), /"content":"x"/);
    abort.abort();
    await assert.rejects(pieces.next());
    await closed;
    // An HTTP client that puts the aborted request back in its queue connects again for it at
    // once, then drops the new connection: a TLS handshake with the provider per cut stream.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(connections, 1, 'connections the server accepted');
  });

  it('closes the request of an answer its caller stops reading before the end', async () => {
    const http = new UpstreamHttp({ answerBytes: 1 << 20, lineBytes: 1 << 16 });
    const before = connections;
    const { ctx } = call();
    const closed = new Promise<void>((resolve) => {
      closedEarly = resolve;
    });
    const pieces = http.streamText(await http.post(url, { stream: true }, {}, ctx), ctx.signal);
    assert.match(String((await pieces.next()).value), /"content":"x"/);
    await pieces.return(undefined);
    await closed;
    assert.equal(connections - before, 1, 'connections the server accepted');
  });

  it("keeps a finished answer's connection for the next call when its caller stops at the end marker", async () => {
    const http = new UpstreamHttp({ answerBytes: 1 << 20, lineBytes: 1 << 16 });
    const before = connections;
    for (let i = 0; i < 3; i++) {
      const { ctx } = call();
      const pieces = http.streamText(
        await http.post(`${origin}/finite`, { stream: true }, {}, ctx),
        ctx.signal,
      );
      // The whole answer comes in one piece here; its caller stops as it reads the end marker.
      assert.match(String((await pieces.next()).value), /\[DONE\]/);
      await pieces.return(undefined);
      // Time for a closed connection to be seen as closed before the next call.
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(connections - before, 1, 'connections the server accepted for three calls');
  });
});
