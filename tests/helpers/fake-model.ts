/**
 * A fake model server on loopback speaking Ollama's native API (/api/chat, /api/embed) and the
 * OpenAI-compatible one (/v1/chat/completions, /v1/embeddings), whole or streamed (Ollama's NDJSON,
 * OpenAI's SSE, a piece every `pieceMs`). It counts calls, remembers headers, notices a client
 * that closes a stream before its end, and can be told to be slow, to fail (now or on the Nth
 * call), to hang, to stall mid-stream, to rate-limit, or to reset the next connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type Mode =
  | { kind: 'ok' }
  | { kind: 'slow'; ms: number }
  | { kind: 'fail'; status: number }
  | { kind: 'hang' }
  | { kind: 'reset-once' }
  | { kind: 'stall'; after: number }
  | { kind: 'rate-limited'; retryAfterS: number }
  /** An answer of `bytes` (a stream: one line that never ends), written as fast as it is read. */
  | { kind: 'huge'; bytes: number };

export interface FakeModel {
  url: string;
  calls: { path: string; body: Record<string, unknown>; headers: IncomingMessage['headers'] }[];
  mode: Mode;
  /** Fail (HTTP 500) on this call number (1-based), whatever the mode. */
  failOnCall: number | undefined;
  /** What chat answers contain (default: "fake answer to: <input>"). */
  reply: ((input: string) => string) | undefined;
  /** Milliseconds between streamed pieces. */
  pieceMs: number;
  /** Stream pieces of this many characters instead of one word each. */
  pieceChars: number | undefined;
  /** Streamed responses the client closed before their end, and when (performance.now()). */
  closedEarly: number[];
  /** Pieces written to streams so far. */
  piecesSent: number;
  /** The models it lists (Ollama's /api/tags, OpenAI's /v1/models). */
  listed: string[];
  /** The usage each answer reports, from the request's body (default: 5 prompt, 7 completion tokens). */
  usage: (body: Record<string, unknown>) => { prompt: number; completion: number };
  close(): Promise<void>;
}

/**
 * OpenAI's answer fields a request asks for: a refusal instead of content (an input that begins
 * `refuse:`), and the tokens' log probabilities (`logprobs: true`).
 */
interface OpenAiExtras {
  refuse: boolean;
  logprobs: boolean;
}

/** OpenAI's `logprobs` for these tokens: each with a logprob of -0.5. */
function logprobsOf(tokens: string[], refusal: boolean) {
  const entries = tokens.map((token) => ({
    token,
    logprob: -0.5,
    bytes: [...Buffer.from(token)],
    top_logprobs: [],
  }));
  return refusal ? { content: null, refusal: entries } : { content: entries, refusal: null };
}

const EMBEDDING = [0.1, 0.2, 0.3, 0.4];
/** An embedding request's inputs (a string, or an array of them). */
const inputsOf = (body: Record<string, unknown>): string[] =>
  Array.isArray(body.input) ? (body.input as string[]) : [String(body.input)];
/** EMBEDDING, except for an input `order:N`: [N, 0, 0, 0] (to see which vector is whose). */
const vectorOf = (input: string): number[] =>
  input.startsWith('order:') ? [Number(input.slice(6)), 0, 0, 0] : EMBEDDING;
/** The arguments of every tool call the fake makes: a secret inside, for the redaction. */
export const TOOL_ARGUMENTS = '{"city":"Paris","password":"hunter2hunter2"}';

/** The answer in pieces of one word (with its trailing space), or of `chars` characters. */
function piecesOf(text: string, chars: number | undefined): string[] {
  return chars ? (text.match(new RegExp(`[^]{1,${chars}}`, 'g')) ?? []) : text.split(/(?<= )/);
}

export async function startFakeModel(): Promise<FakeModel> {
  const open = new Set<ServerResponse>();
  let resetPending = false;
  const fake: FakeModel = {
    url: '',
    calls: [],
    mode: { kind: 'ok' },
    failOnCall: undefined,
    reply: undefined,
    pieceMs: 20,
    pieceChars: undefined,
    closedEarly: [],
    piecesSent: 0,
    usage: () => ({ prompt: 5, completion: 7 }),
    listed: ['fake-chat', 'fake-embed'],
    close: async () => {
      for (const r of open) r.socket?.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  const openAiUsage = (u: { prompt: number; completion: number }) => ({
    prompt_tokens: u.prompt,
    completion_tokens: u.completion,
    total_tokens: u.prompt + u.completion,
  });

  async function stream(
    req: IncomingMessage,
    res: ServerResponse,
    text: string,
    stallAfter: number | undefined,
    usage: { prompt: number; completion: number },
    openAi: OpenAiExtras = { refuse: false, logprobs: false },
  ) {
    const ollama = req.url === '/api/chat';
    res.writeHead(200, { 'content-type': ollama ? 'application/x-ndjson' : 'text/event-stream' });
    let ended = false;
    res.on('close', () => {
      if (!ended) fake.closedEarly.push(performance.now());
    });
    const pieces = piecesOf(text, fake.pieceChars);
    for (const [i, piece] of pieces.entries()) {
      if (res.destroyed) return;
      if (stallAfter !== undefined && i >= stallAfter) return; // never ends
      const room = res.write(
        ollama
          ? `${JSON.stringify({ message: { role: 'assistant', content: piece }, done: false })}\n`
          : `data: ${JSON.stringify({
              choices: [
                {
                  index: 0,
                  delta: openAi.refuse ? { refusal: piece } : { content: piece },
                  ...(openAi.logprobs ? { logprobs: logprobsOf([piece], openAi.refuse) } : {}),
                },
              ],
            })}\n\n`,
      );
      fake.piecesSent++;
      // As a real server does, write no faster than the client reads.
      if (!room)
        await new Promise((r) => {
          res.once('drain', r);
          res.once('close', r);
        });
      await new Promise((r) => setTimeout(r, fake.pieceMs));
    }
    if (res.destroyed) return;
    ended = true;
    if (ollama)
      res.end(
        `${JSON.stringify({ message: { role: 'assistant', content: '' }, done: true, eval_count: usage.completion, prompt_eval_count: usage.prompt })}\n`,
      );
    else res.end(`data: ${JSON.stringify({ choices: [], usage: openAiUsage(usage) })}\n\ndata: [DONE]\n\n`);
  }

  /**
   * A request with tools: the model calls the first one with TOOL_ARGUMENTS (a secret inside),
   * whole or streamed (OpenAI: the arguments in 8-character fragments; Ollama: one object).
   */
  function toolCall(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) {
    const name = ((body.tools as { function?: { name?: string } }[])[0]?.function?.name ?? 'tool') as string;
    const ollama = req.url === '/api/chat';
    if (ollama) {
      const message = {
        role: 'assistant',
        content: '',
        tool_calls: [{ function: { name, arguments: JSON.parse(TOOL_ARGUMENTS) } }],
      };
      const out = { message, done: true, done_reason: 'stop', eval_count: 7, prompt_eval_count: 5 };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(out)}\n`);
      return;
    }
    const call = { id: 'call_abc', type: 'function', function: { name, arguments: TOOL_ARGUMENTS } };
    if (body.stream !== true) {
      const message = { role: 'assistant', content: null, tool_calls: [call] };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          choices: [{ index: 0, message, finish_reason: 'tool_calls' }],
          usage: openAiUsage({ prompt: 5, completion: 7 }),
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.write(event({ role: 'assistant', content: null }));
    res.write(
      event({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name, arguments: '' } }] }),
    );
    for (const part of TOOL_ARGUMENTS.match(/[\s\S]{1,8}/g) ?? [])
      res.write(event({ tool_calls: [{ index: 0, function: { arguments: part } }] }));
    res.write(event({}, 'tool_calls'));
    res.end('data: [DONE]\n\n');
  }

  /**
   * Anthropic's Messages API: the text (in word pieces when streamed), or with tools a `tool_use`
   * of the first tool with TOOL_ARGUMENTS as its input.
   */
  function anthropic(
    res: ServerResponse,
    body: Record<string, unknown>,
    text: string,
    usage: { prompt: number; completion: number },
  ) {
    const tool = (body.tools as { name?: string }[] | undefined)?.[0]?.name;
    const content = tool
      ? [{ type: 'tool_use', id: 'toolu_fake', name: tool, input: JSON.parse(TOOL_ARGUMENTS) }]
      : [{ type: 'text', text }];
    const stop = tool ? 'tool_use' : 'end_turn';
    const u = { input_tokens: usage.prompt, output_tokens: usage.completion };
    if (body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'msg_fake',
          type: 'message',
          role: 'assistant',
          model: body.model,
          content,
          stop_reason: stop,
          usage: u,
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = (type: string, data: object) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event('message_start', {
      message: {
        id: 'msg_fake',
        type: 'message',
        role: 'assistant',
        content: [],
        usage: { input_tokens: usage.prompt, output_tokens: 1 },
      },
    });
    if (tool) {
      event('content_block_start', {
        index: 0,
        content_block: { type: 'tool_use', id: 'toolu_fake', name: tool, input: {} },
      });
      for (const part of TOOL_ARGUMENTS.match(/[\s\S]{1,8}/g) ?? [])
        event('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: part } });
    } else {
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
      for (const piece of piecesOf(text, fake.pieceChars))
        event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece } });
    }
    event('content_block_stop', { index: 0 });
    event('message_delta', { delta: { stop_reason: stop }, usage: { output_tokens: usage.completion } });
    event('message_stop', {});
    res.end();
  }

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => {
      raw += d;
    });
    req.on('end', async () => {
      // Model listings (robbie reads them in the background) are answered apart: not calls.
      if (req.method === 'GET' && (req.url === '/api/tags' || req.url === '/v1/models')) {
        const out =
          req.url === '/api/tags'
            ? { models: fake.listed.map((name) => ({ name, model: name })) }
            : { object: 'list', data: fake.listed.map((id) => ({ id, object: 'model', owned_by: 'fake' })) };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(out));
        return;
      }
      const mode = fake.mode;
      if (mode.kind === 'reset-once' && !resetPending) {
        resetPending = true;
        fake.mode = { kind: 'ok' };
        req.socket.destroy();
        return;
      }
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      fake.calls.push({ path: req.url ?? '', body, headers: req.headers });
      open.add(res);
      res.on('close', () => open.delete(res));
      if (mode.kind === 'hang') return;
      if (mode.kind === 'slow') await new Promise((r) => setTimeout(r, mode.ms));
      if (mode.kind === 'fail' || fake.calls.length === fake.failOnCall) {
        res.writeHead(mode.kind === 'fail' ? mode.status : 500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'model "x" not found, internal detail /var/lib/ollama' }));
        return;
      }
      if (mode.kind === 'rate-limited') {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(mode.retryAfterS) });
        res.end(JSON.stringify({ error: { message: 'slow down' } }));
        return;
      }
      if (mode.kind === 'huge') {
        const stream = body.stream === true;
        res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' });
        const filler = 'a'.repeat(64 * 1024);
        res.write(
          stream
            ? 'data: {"choices":[{"index":0,"delta":{"content":"'
            : '{"choices":[{"message":{"role":"assistant","content":"',
        );
        for (let sent = 0; sent < mode.bytes && !res.destroyed; sent += filler.length) {
          if (!res.write(filler)) await new Promise((r) => res.once('drain', r).once('close', r));
        }
        if (!res.destroyed) res.end(stream ? '"}}]}\n\ndata: [DONE]\n\n' : '"}}]}');
        return;
      }
      const messages = (body.messages as { role: string; content: unknown }[] | undefined) ?? [];
      const last = messages[messages.length - 1]?.content;
      // A string, or (Anthropic) blocks of text and tool results.
      const input =
        typeof last === 'string'
          ? last
          : Array.isArray(last)
            ? last.map((b: { text?: string; content?: string }) => b.text ?? b.content ?? '').join('')
            : '';
      const text = fake.reply ? fake.reply(input) : `fake answer to: ${input}`;
      const chat = req.url === '/api/chat' || req.url === '/v1/chat/completions';
      const usage = fake.usage(body);
      if (req.url === '/v1/messages') {
        anthropic(res, body, text, usage);
        return;
      }
      if (req.url === '/v1/messages/count_tokens') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ input_tokens: usage.prompt }));
        return;
      }
      if (chat && Array.isArray(body.tools) && body.tools.length > 0) {
        toolCall(req, res, body);
        return;
      }
      const refuse = input.startsWith('refuse:');
      const extras: OpenAiExtras = { refuse, logprobs: body.logprobs === true };
      const said = refuse ? 'I cannot help with that.' : text;
      if (chat && body.stream === true) {
        await stream(req, res, said, mode.kind === 'stall' ? mode.after : undefined, usage, extras);
        return;
      }
      let out: unknown;
      if (req.url === '/api/chat')
        out = {
          message: { role: 'assistant', content: text },
          eval_count: usage.completion,
          prompt_eval_count: usage.prompt,
          done: true,
        };
      else if (req.url === '/api/embed')
        out = { embeddings: inputsOf(body).map(vectorOf), prompt_eval_count: 3 * inputsOf(body).length };
      else if (req.url === '/v1/chat/completions')
        out = {
          choices: [
            {
              message: refuse
                ? { role: 'assistant', content: null, refusal: said }
                : { role: 'assistant', content: text },
              ...(extras.logprobs ? { logprobs: logprobsOf(piecesOf(said, undefined), refuse) } : {}),
            },
          ],
          usage: openAiUsage(usage),
        };
      else if (req.url === '/v1/embeddings')
        // Listed last to first, with their index, as a server may.
        out = {
          data: inputsOf(body)
            .map((input, index) => ({ object: 'embedding', index, embedding: vectorOf(input) }))
            .reverse(),
          usage: { total_tokens: 3 * inputsOf(body).length },
        };
      else {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  fake.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return fake;
}
