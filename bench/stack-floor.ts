/**
 * The floor of robbie's stack: the same libraries doing the least a universal request needs —
 * Hono on @hono/node-server parses the body, undici calls the model, postgres.js inserts one row
 * per request (through robbie's own group commit) and the JSON answer goes back. No validation, gatekeeper, rate limit, killswitch, metrics,
 * tracing, log line or deadline. The API benchmark runs it beside `robbie serve` under the same
 * load, so robbie's figures can be read against what its libraries alone cost on this machine.
 *
 *   node bench/stack-floor.ts PORT MODEL_URL DATABASE_URL
 */
import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import postgres from 'postgres';
import { Agent } from 'undici';
import { GroupCommit } from '../src/storage/group-commit.ts';

const [port, modelUrl, databaseUrl] = process.argv.slice(2);
if (!port || !modelUrl || !databaseUrl) {
  process.stderr.write('usage: node bench/stack-floor.ts PORT MODEL_URL DATABASE_URL\n');
  process.exit(2);
}
const model = new URL('/api/chat', modelUrl);
const sql = postgres(databaseUrl, { max: 4, onnotice: () => {} });
await sql`create table if not exists stack_floor_logs (
  request_id text primary key, source text, ai_service text, input_summary text,
  output_summary text, processing_time_ms double precision, created_at timestamptz default now())`;
const agent = new Agent({ connections: 64 });

interface Row {
  request_id: string;
  source: string;
  ai_service: string;
  input_summary: string;
  output_summary: string;
  processing_time_ms: number;
}
// robbie's own group commit: the writes of one turn, and those arriving during a commit, in one
// statement.
const writes = new GroupCommit<Row>(async (rows) => {
  await sql`insert into stack_floor_logs ${sql(rows)}`;
  return rows.map(() => undefined);
});

const app = new Hono();
app.post('/api/v2/universal/request', async (c) => {
  const started = performance.now();
  const body = await c.req.json<{ source: string; ai_service: string; payload: { input: string } }>();
  const res = await agent.request({
    origin: model.origin,
    path: model.pathname,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'stub',
      stream: false,
      messages: [{ role: 'user', content: body.payload.input }],
    }),
  });
  const answer = (await res.body.json()) as { message?: { content?: string } };
  const text = answer.message?.content ?? '';
  const id = randomUUID();
  await writes.add({
    request_id: id,
    source: body.source,
    ai_service: body.ai_service,
    input_summary: body.payload.input,
    output_summary: text,
    processing_time_ms: performance.now() - started,
  });
  return c.json({ request_id: id, status: 'approved', robbie_response: { message: text } });
});
app.get('/health', (c) => c.json({ status: 'healthy' }));

serve({ fetch: app.fetch, port: Number(port), hostname: '127.0.0.1' });
process.on('SIGTERM', () => process.exit(0));
