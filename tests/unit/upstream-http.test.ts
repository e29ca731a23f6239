/**
 * robbie's HTTP client to model servers (providers/http.ts) against a real server on loopback: a
 * stream cut by its caller closes the upstream request, and the client does not connect again for
 * it; a caller that stops reading early closes an unfinished answer's request, and keeps a
 * finished one's connection for the next call; the call after a cut goes out on the spare
 * connection opened ahead (providers/spare-connection.ts), and a spare the server closed is not
 * used.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { type StreamReader, UpstreamHttp } from '../../src/api/providers/http.ts';
import { withSpareConnection } from '../../src/api/providers/spare-connection.ts';
import type { ChatDelta, ProviderError } from '../../src/api/providers/types.ts';
import { NO_TRACING } from '../../src/telemetry/tracer.ts';
import { sleep, waitFor } from '../helpers/process.ts';

describe('the upstream HTTP client', () => {
  /** Every connection the server accepted, in order, and how many requests came on each. */
  const accepted: { socket: Socket; requests: number; closed: boolean }[] = [];
  const connectionOf = (socket: Socket) => accepted.find((c) => c.socket === socket);
  /** Connections since `from` that carried a request, and those that carried none. */
  const since = (from: number) => {
    const mine = accepted.slice(from);
    return { used: mine.filter((c) => c.requests > 0).length, idle: mine.filter((c) => c.requests === 0) };
  };
  let closedEarly: (() => void) | undefined;
  /** 48 MiB of events, 1 KiB each. */
  const FLOOD_EVENTS = 48 * 1024;
  const floodEvent = (i: number) => `data: ${String(i).padStart(8, '0')}${'x'.repeat(1008)}\n\n`;
  /** Events the server has written so far. */
  const flood = { written: 0 };
  const open = new Set<ServerResponse>();
  // An endless stream: a piece every 20 ms until the client goes. At /finite: one piece and the
  // end marker, then the end.
  const server = createServer((req, res) => {
    const connection = connectionOf(req.socket);
    if (connection) connection.requests++;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (req.url === '/finite') {
      res.end('data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n');
      return;
    }
    if (req.url === '/flood') {
      // FLOOD_EVENTS as fast as the connection takes them, counting those written.
      let i = 0;
      const more = () => {
        while (i < FLOOD_EVENTS) {
          flood.written = i;
          if (!res.write(floodEvent(i++))) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
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
  server.on('connection', (socket: Socket) => {
    const connection = { socket, requests: 0, closed: false };
    accepted.push(connection);
    socket.on('close', () => {
      connection.closed = true;
    });
  });
  let url = '';
  let origin = '';
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    url = `${origin}/v1/chat/completions`;
  });
  /** Reads a stream as its raw text, a piece a chunk. */
  const asText: StreamReader = { read: (text) => [{ text }] };
  const textOf = (r: IteratorResult<ChatDelta>): string => (!r.done && 'text' in r.value ? r.value.text : '');
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
    for (const c of accepted) c.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('closes the upstream request of a stream its caller cuts, and does not connect again for it', async () => {
    const http = new UpstreamHttp({ answerBytes: 1 << 20, lineBytes: 1 << 16 });
    const from = accepted.length;
    const { abort, ctx } = call();
    const closed = new Promise<void>((resolve) => {
      closedEarly = resolve;
    });
    const pieces = http.stream(url, { stream: true }, {}, ctx, asText);
    const first = await pieces.next();
    assert.match(textOf(first), /"content":"x"/);
    abort.abort();
    await assert.rejects(pieces.next());
    await closed;
    // An HTTP client that puts the aborted request back in its queue connects again for it at
    // once, then drops the new connection: a TLS handshake with the provider per cut stream. The
    // one connection beside the call's is the spare its connect opened, unused.
    await sleep(300);
    const { used, idle } = since(from);
    assert.equal(used, 1, 'connections that carried a request');
    assert.equal(idle.length, 1, 'connections that carried none (the spare)');
    assert.equal(idle[0]?.closed, false, 'the spare is still open');
  });

  it('closes the request of an answer its caller stops reading before the end', async () => {
    const http = new UpstreamHttp({ answerBytes: 1 << 20, lineBytes: 1 << 16 });
    const from = accepted.length;
    const { ctx } = call();
    const closed = new Promise<void>((resolve) => {
      closedEarly = resolve;
    });
    const pieces = http.stream(url, { stream: true }, {}, ctx, asText);
    assert.match(textOf(await pieces.next()), /"content":"x"/);
    await pieces.return(undefined);
    await closed;
    assert.equal(since(from).used, 1, 'connections that carried a request');
  });

  it("keeps a finished answer's connection for the next call when its caller stops at the end marker", async () => {
    const http = new UpstreamHttp({ answerBytes: 1 << 20, lineBytes: 1 << 16 });
    const from = accepted.length;
    for (let i = 0; i < 3; i++) {
      const { ctx } = call();
      const pieces = http.stream(`${origin}/finite`, { stream: true }, {}, ctx, asText);
      // The whole answer comes in one piece here; its caller stops as it reads the end marker.
      assert.match(textOf(await pieces.next()), /\[DONE\]/);
      await pieces.return(undefined);
      // Time for a closed connection to be seen as closed before the next call.
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(since(from).used, 1, 'connections that carried the three calls');
  });

  it('stops reading an upstream its caller does not keep up with, and reads all of it in order after', async () => {
    const http = new UpstreamHttp({ answerBytes: 64 << 20, lineBytes: 1 << 16 });
    const { ctx } = call();
    const pieces = http.stream(`${origin}/flood`, { stream: true }, {}, ctx, asText);
    let held = textOf(await pieces.next());
    // The caller takes nothing for a while: robbie holds a few chunks and stops reading; the
    // sockets fill, and the server has to wait.
    await sleep(1000);
    // Socket buffers hold a few MiB (3.7 here); a client that kept reading took 40 MiB in half a second.
    assert.ok(
      flood.written < 16 * 1024,
      `the server wrote ${flood.written >> 10} MiB to a client that stopped reading`,
    );
    const size = floodEvent(0).length;
    let events = 0;
    for (let i = 0; i < FLOOD_EVENTS * 4; i++) {
      let next: IteratorResult<ChatDelta>;
      try {
        next = await pieces.next();
      } catch (err) {
        // The reader here never sees an end marker: the body's end is a stream cut short.
        assert.equal((err as ProviderError).kind, 'broken_off');
        break;
      }
      held += textOf(next);
      for (; held.length >= size; events++) {
        assert.ok(held.startsWith(floodEvent(events)), `event ${events} in its place`);
        held = held.slice(size);
      }
    }
    assert.equal(events, FLOOD_EVENTS, 'events read');
    assert.equal(held, '', 'characters after the last event');
  });

  /** A stream called and cut once its first piece came; resolves once the server saw it closed. */
  const cutStream = async (http: UpstreamHttp) => {
    const { abort, ctx } = call();
    const closed = new Promise<void>((resolve) => {
      closedEarly = resolve;
    });
    const pieces = http.stream(url, { stream: true }, {}, ctx, asText);
    assert.match(textOf(await pieces.next()), /"content":"x"/);
    abort.abort();
    await assert.rejects(pieces.next());
    await closed;
  };
  /** The server's connection that has carried no request since `from`, once the client opened it. */
  const spareSince = (from: number) =>
    waitFor('the spare connection, accepted by the server', () => since(from).idle.find((c) => !c.closed));

  it('sends the call after a cut on the spare connection, opened before it', async () => {
    const http = new UpstreamHttp({ answerBytes: 1 << 20, lineBytes: 1 << 16 });
    const from = accepted.length;
    await cutStream(http);
    const spare = await spareSince(from);
    await cutStream(http);
    assert.equal(spare.requests, 1, 'the second call came on the connection opened before it');
    // It opened the next spare in turn.
    await waitFor('a new spare', () => since(from).idle.find((c) => !c.closed && c !== spare));
  });

  it('does not use a spare the server closed: the call connects anew', async () => {
    const http = new UpstreamHttp({ answerBytes: 1 << 20, lineBytes: 1 << 16 });
    const from = accepted.length;
    await cutStream(http);
    const spare = await spareSince(from);
    spare.socket.destroy();
    // Time for the client to see the connection closed (loopback: well under a millisecond).
    await sleep(200);
    await cutStream(http);
    assert.equal(spare.requests, 0, 'requests on the closed spare');
    assert.equal(since(from).used, 2, 'connections that carried the two calls');
  });

  it('closes a spare nobody used after the idle time', async () => {
    const pool = new Pool(origin, { connect: withSpareConnection(100) });
    const from = accepted.length;
    try {
      const res = await pool.request({ path: '/finite', method: 'POST', body: '{}' });
      await res.body.text();
      const spare = await spareSince(from);
      await waitFor('the unused spare closed after 100 ms', () => spare.closed);
    } finally {
      await pool.close();
    }
  });
});
