/**
 * A fake model server on loopback speaking Ollama's native API (/api/chat, /api/embed) and the
 * OpenAI-compatible one (/v1/chat/completions, /v1/embeddings). It counts calls, remembers headers,
 * and can be told to be slow, to fail, to hang, or to reset the next connection.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';

export type Mode =
  | { kind: 'ok' }
  | { kind: 'slow'; ms: number }
  | { kind: 'fail'; status: number }
  | { kind: 'hang' }
  | { kind: 'reset-once' };

export interface FakeModel {
  url: string;
  calls: { path: string; body: Record<string, unknown>; headers: IncomingMessage['headers'] }[];
  mode: Mode;
  /** What chat answers contain (default: "fake answer to: <input>"). */
  reply: ((input: string) => string) | undefined;
  close(): Promise<void>;
}

export async function startFakeModel(): Promise<FakeModel> {
  const hanging = new Set<IncomingMessage>();
  let resetPending = false;
  const fake: FakeModel = {
    url: '',
    calls: [],
    mode: { kind: 'ok' },
    reply: undefined,
    close: async () => {
      for (const r of hanging) r.socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => {
      raw += d;
    });
    req.on('end', async () => {
      const mode = fake.mode;
      if (mode.kind === 'reset-once' && !resetPending) {
        resetPending = true;
        fake.mode = { kind: 'ok' };
        req.socket.destroy();
        return;
      }
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      fake.calls.push({ path: req.url ?? '', body, headers: req.headers });
      if (mode.kind === 'hang') {
        hanging.add(req);
        return;
      }
      if (mode.kind === 'slow') await new Promise((r) => setTimeout(r, mode.ms));
      if (mode.kind === 'fail') {
        res.writeHead(mode.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'model "x" not found, internal detail /var/lib/ollama' }));
        return;
      }
      const messages = (body.messages as { role: string; content: string }[] | undefined) ?? [];
      const input = messages[messages.length - 1]?.content ?? '';
      const text = fake.reply ? fake.reply(input) : `fake answer to: ${input}`;
      const embedding = [0.1, 0.2, 0.3, 0.4];
      let out: unknown;
      if (req.url === '/api/chat')
        out = {
          message: { role: 'assistant', content: text },
          eval_count: 7,
          prompt_eval_count: 5,
          done: true,
        };
      else if (req.url === '/api/embed') out = { embeddings: [embedding], prompt_eval_count: 3 };
      else if (req.url === '/v1/chat/completions')
        out = { choices: [{ message: { role: 'assistant', content: text } }], usage: { total_tokens: 12 } };
      else if (req.url === '/v1/embeddings') out = { data: [{ embedding }], usage: { total_tokens: 3 } };
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
