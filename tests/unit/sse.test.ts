import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { createApp } from '../../src/api/app.ts';
import { newLifecycle } from '../../src/api/lifecycle.ts';
import { chunkFrames } from '../../src/api/openai/format.ts';
import type { GatewayRequest } from '../../src/api/pipeline/outcome.ts';
import type { AnswerStream } from '../../src/api/pipeline/pipeline.ts';
import { sendFrames, sendStream, sseText } from '../../src/api/sse.ts';
import { createLogger } from '../../src/logger/logger.ts';
import { createHttpServer } from '../../src/server/http-server.ts';

const log = createLogger({ format: 'none', level: 'error' });
const streaming = { writeTimeoutMs: 30_000, log };

/** A stream of `pieces` whose end is recorded at once. */
function recordedAnswer(pieces: AsyncIterable<string>): AnswerStream {
  return { provider: 'echo', model: 'm', pieces, recorded: Promise.resolve({ status: 200, body: {} }) };
}

/** An app with two event-stream routes: frames known in full, and a stream of three pieces. */
function streamingApp() {
  const app = createApp({ version: '1', log, lifecycle: newLifecycle() });
  app.get('/frames', (c) =>
    sendFrames(
      c,
      [{ event: 'delta', data: '{"text":"a"}' }, { data: 'two\nlines' }],
      { 'X-Served-By': 'x' },
      streaming,
    ),
  );
  app.get('/stream', (c) => {
    async function* pieces() {
      yield 'po';
      yield 'ng';
    }
    const answer: AnswerStream = {
      provider: 'echo',
      model: 'm',
      pieces: pieces(),
      recorded: Promise.resolve({ status: 200, body: { done: true } }),
    };
    return sendStream(
      c,
      answer,
      {
        start: () => [{ data: 'start' }],
        piece: (text) => [{ event: 'delta', data: text }],
        toolCalls: (calls) => [{ event: 'tool_calls', data: JSON.stringify(calls) }],
        end: (reply) => [{ event: 'answer', data: JSON.stringify(reply.body) }],
        broken: (reason) => [{ event: 'error', data: reason }],
        failed: (reply) => [{ event: 'error', data: JSON.stringify(reply.body) }],
      },
      {},
      streaming,
    );
  });
  return app;
}

const FRAMES = 'event: delta\ndata: {"text":"a"}\n\ndata: two\ndata: lines\n\n';
const STREAM =
  'data: start\n\nevent: delta\ndata: po\n\nevent: delta\ndata: ng\n\nevent: answer\ndata: {"done":true}\n\n';

describe('server-sent events', () => {
  it('an event is its data line by line, after its name; a name with a line break is left out', () => {
    assert.equal(sseText({ data: 'x' }), 'data: x\n\n');
    assert.equal(
      sseText({ event: 'e', data: 'a\r\nb\rc\nd' }),
      'event: e\ndata: a\ndata: b\ndata: c\ndata: d\n\n',
    );
    assert.equal(sseText({ event: 'e\nid: 1', data: 'x' }), 'data: x\n\n');
  });

  it('in memory (no Node response) the events are a stream body with the same bytes and headers', async () => {
    const app = streamingApp();
    const res = await app.request('/frames', { headers: { 'X-Request-Id': 'req-1' } });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('x-request-id'), 'req-1');
    assert.equal(res.headers.get('x-served-by'), 'x');
    assert.equal(await res.text(), FRAMES);
    assert.equal(await (await app.request('/stream')).text(), STREAM);
  });

  it('behind the Node server the events are written to the response, with the context headers', async (t) => {
    const server = createHttpServer(streamingApp(), newLifecycle());
    const port = await server.listen({ host: '127.0.0.1', port: 0, reusePort: false });
    t.after(() => server.drain(1000));
    const res = await fetch(`http://127.0.0.1:${port}/frames`, { headers: { 'X-Request-Id': 'req-2' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    assert.equal(res.headers.get('x-request-id'), 'req-2');
    assert.equal(res.headers.get('x-served-by'), 'x');
    assert.equal(res.headers.get('x-hono-already-sent'), null, 'the marker stays inside');
    assert.equal(await res.text(), FRAMES);
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/stream`)).text(), STREAM);
  });

  it('behind the Node server an event leaves at once, before the middleware after the route runs', async (t) => {
    // Node corks a response's socket on each write until the next tick; the access log and the
    // metrics would run before the first event left.
    const app = createApp({ version: '1', log, lifecycle: newLifecycle() });
    let seen: { corked: number; written: number } | undefined;
    app.use('/first', async (c, next) => {
      await next();
      const socket = (c.env as { outgoing: ServerResponse }).outgoing.socket;
      seen = { corked: socket?.writableCorked ?? -1, written: socket?.bytesWritten ?? -1 };
    });
    // As a model's answer does, the stream starts after an I/O wait, then the chain unwinds at once.
    app.get('/first', async (c) => {
      await new Promise((resolve) => setImmediate(resolve));
      return sendFrames(c, [{ data: 'first' }], {}, streaming);
    });
    const server = createHttpServer(app, newLifecycle());
    const port = await server.listen({ host: '127.0.0.1', port: 0, reusePort: false });
    t.after(() => server.drain(1000));
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/first`)).text(), 'data: first\n\n');
    assert.equal(seen?.corked, 0, 'the socket is not corked when the route has answered');
    assert.ok((seen?.written ?? 0) > 0, 'the headers and the first event have been written');
  });

  it("a stream's headers, start frames and first piece leave in one write, before the middleware after the route", async (t) => {
    // One write wakes the client once; two (headers, then the piece) woke it twice, each wake
    // taking robbie's thread away before the first piece had left.
    const app = createApp({ version: '1', log, lifecycle: newLifecycle() });
    const writes: string[] = [];
    let atMiddleware: { corked: number; writes: number } | undefined;
    let release: () => void = () => undefined;
    const later = new Promise<void>((resolve) => {
      release = resolve;
    });
    app.use('/live', async (c, next) => {
      const socket = (c.env as { outgoing: ServerResponse }).outgoing.socket;
      if (!socket) throw new Error('no socket');
      // Every write the socket makes, in the order it makes them (corked writes leave as one).
      const s = socket as unknown as {
        _writev(chunks: { chunk: Buffer | string }[], cb: () => void): void;
        _write(chunk: Buffer | string, enc: string, cb: () => void): void;
      };
      const writev = s._writev.bind(socket);
      const write = s._write.bind(socket);
      s._writev = (chunks, cb) => {
        writes.push(chunks.map((c) => c.chunk.toString()).join(''));
        writev(chunks, cb);
      };
      s._write = (chunk, enc, cb) => {
        writes.push(chunk.toString());
        write(chunk, enc, cb);
      };
      await next();
      atMiddleware = { corked: socket.writableCorked, writes: writes.length };
      release();
    });
    app.get('/live', async (c) => {
      await new Promise((resolve) => setImmediate(resolve));
      async function* pieces() {
        yield 'first';
        await later;
        yield 'second';
      }
      const answer = recordedAnswer(pieces());
      const frames = {
        start: () => [{ data: 'start' }],
        piece: (text: string) => [{ data: text }],
        toolCalls: () => [],
        end: () => [{ data: 'end' }],
        broken: () => [],
        failed: () => [],
      };
      return sendStream(c, answer, frames, {}, streaming);
    });
    const server = createHttpServer(app, newLifecycle());
    const port = await server.listen({ host: '127.0.0.1', port: 0, reusePort: false });
    t.after(() => server.drain(1000));
    const text = await (await fetch(`http://127.0.0.1:${port}/live`)).text();
    assert.equal(text, 'data: start\n\ndata: first\n\ndata: second\n\ndata: end\n\n');
    assert.deepEqual(atMiddleware, { corked: 0, writes: 1 }, 'one write had left when the route answered');
    assert.match(writes[0] ?? '', /^HTTP\/1\.1 200[\s\S]*data: start\n\n[\s\S]*data: first\n\n/);
    assert.doesNotMatch(writes[0] ?? '', /second/);
  });

  it('a client that takes no bytes for the write deadline is cut off, and the pieces are closed', async (t) => {
    const app = createApp({ version: '1', log, lifecycle: newLifecycle() });
    let produced = 0;
    let closed: (() => void) | undefined;
    const closedNow = new Promise<void>((resolve) => {
      closed = resolve;
    });
    app.get('/endless', (c) => {
      async function* pieces() {
        try {
          // Bounded: 64 MiB, far more than a socket and its buffers hold.
          for (; produced < 1024; produced++) yield 'x'.repeat(64 * 1024);
        } finally {
          closed?.();
        }
      }
      const answer = recordedAnswer(pieces());
      const frames = {
        start: () => [],
        piece: (text: string) => [{ data: text }],
        toolCalls: () => [],
        end: () => [],
        broken: () => [],
        failed: () => [],
      };
      return sendStream(c, answer, frames, {}, { writeTimeoutMs: 300, log });
    });
    const server = createHttpServer(app, newLifecycle());
    const port = await server.listen({ host: '127.0.0.1', port: 0, reusePort: false });
    t.after(() => server.drain(1000));
    // A client that sends its request, then never reads.
    const socket = connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.pause();
    socket.write('GET /endless HTTP/1.1\r\nHost: x\r\n\r\n');
    const waited = await Promise.race([
      closedNow.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still open after 10 s'), 10_000)),
    ]);
    assert.equal(waited, 'closed', 'waited for the stream to be cut off');
    assert.ok(produced < 1024, `stopped producing once cut off (${produced} pieces)`);
  });
});

describe('chunkFrames', () => {
  it("a piece's frame is the whole chunk with that content, whatever the text or the id", () => {
    for (const id of ['r1', 'quote"and\\slash', '\u0000piece']) {
      const req = { id } as unknown as GatewayRequest;
      const frames = chunkFrames(req, 'm"odel', false);
      const start = JSON.parse(frames.start()[0]?.data ?? '') as { created: number };
      for (const text of ['plain', 'a "quote"\nnew line', '\u0000piece', 'ü😀 \u2028', '']) {
        const expected = JSON.stringify({
          id: `chatcmpl-${id}`,
          object: 'chat.completion.chunk',
          created: start.created,
          model: 'm"odel',
          choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }],
        });
        assert.equal(frames.piece(text)[0]?.data, expected);
      }
    }
  });
});
