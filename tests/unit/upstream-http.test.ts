/**
 * robbie's HTTP client to model servers (providers/http.ts) against a real server on loopback: a
 * stream cut by its caller closes the upstream request, and opens no other connection.
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
  // An endless stream: a piece every 20 ms until the client goes.
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
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
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
  });
  after(async () => {
    for (const res of open) res.socket?.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('closes the upstream request of a stream its caller cuts, and opens no other connection', async () => {
    const http = new UpstreamHttp({ answerBytes: 1 << 20, lineBytes: 1 << 16 });
    const abort = new AbortController();
    const ctx = { signal: abort.signal, traceparent: NO_TRACING.server('test', undefined).traceparent };
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
});
