/**
 * Many long streams at once, beside Portkey: 500 concurrent `/v1/chat/completions` streams of
 * 2,000 pieces each from a fake OpenAI-compatible model that sends one piece per stream every
 * 25 ms (40 tokens a second: 20,000 pieces a second in all), each piece stamped with the time it
 * was sent. For the model alone, a Node proxy that only passes bytes (the floor), robbie
 * (defaults, SQLite recording on, `--rate-limit 100000000/1m` so that one load-test user is not
 * refused) and Portkey, one after another on the same machine:
 *
 * - the added gap: for each piece, its delay (arrival − stamp) less the previous piece's delay —
 *   how much longer than the model's own gap the client waited; reported at p99 and worst;
 * - RSS per open stream: the gateway's RSS with 500 streams open at one piece a second, less its
 *   RSS before, ÷ 500; then what 500 more streams add, ÷ 500: the cost of one more stream, without
 *   what the first load adds once (V8 grows the young generation to its bound, 16 MiB more: 33 KiB a
 *   stream when 500 share it, in the heap spaces of /metrics); and the peak of the fast run, garbage
 *   not yet collected included;
 * - CPU per piece: the gateway's CPU over the run ÷ the pieces delivered.
 *
 * Each gateway first serves 50 streams of 40 pieces as a warm-up. STREAMS, PIECES and PIECE_MS
 * (environment) change the load. Portkey 1.15.2 answers every stream with 500 ("Something went wrong":
 * it appends to the immutable headers of fetch's response), which its row shows.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamRedactor } from '../src/api/pipeline/stream-redaction.ts';
import { freePort } from '../tests/helpers/process.ts';
import { startFloor, startPortkey, startRobbie, waitForUrl } from './gateway.ts';
import { cpuSeconds, median, percentile, type Row, rssMiB } from './lib.ts';

const STREAMS = Number(process.env.STREAMS ?? 500);
const PIECES = Number(process.env.PIECES ?? 2000);
const PIECE_MS = Number(process.env.PIECE_MS ?? 25);

/** One timer per stream; each piece's content is its send time (ms, since the epoch) and a space. */
const FAKE = `
import http from 'node:http';
const PIECES = Number(process.env.PIECES), EVERY = Number(process.env.EVERY);
const now = () => performance.timeOrigin + performance.now();
const chunk = (delta) => 'data: ' + JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1,
  model: 'fake-model', choices: [{ index: 0, delta, finish_reason: null }] }) + '\\n\\n';
const srv = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    let n = PIECES, every = EVERY;
    try { const b = JSON.parse(raw); n = b.max_tokens ?? PIECES; every = b.every_ms ?? EVERY; } catch {}
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let i = 0;
    const t = setInterval(() => {
      if (res.destroyed) { clearInterval(t); return; }
      if (i++ < n) { res.write(chunk({ content: 't' + now().toFixed(3) + ' ' })); return; }
      clearInterval(t);
      res.write('data: ' + JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'fake-model',
        choices: [], usage: { prompt_tokens: 1, completion_tokens: PIECES, total_tokens: PIECES + 1 } }) + '\\n\\n');
      res.end('data: [DONE]\\n\\n');
    }, every);
  });
});
srv.keepAliveTimeout = 65000;
srv.listen(Number(process.env.PORT), '127.0.0.1');
`;

interface StreamResult {
  pieces: number;
  /** Each piece's added gap, ms. */
  added: number[];
}

/** One stream (of `pieces`, else PIECES): reads every piece, and each one's delay over its stamp. */
function oneStream(
  port: number,
  path: string,
  headers: Record<string, string>,
  pieces?: number,
  everyMs?: number,
): Promise<StreamResult> {
  // `every_ms` is no OpenAI field: robbie passes it to the model as sent, as the floor does.
  const body = JSON.stringify({
    model: 'fake-model',
    stream: true,
    messages: [{ role: 'user', content: 'go' }],
    ...(pieces ? { max_tokens: pieces } : {}),
    ...(everyMs ? { every_ms: everyMs } : {}),
  });
  return new Promise((resolve, reject) => {
    const added: number[] = [];
    let seen = 0;
    let previous: number | undefined;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        let rest = '';
        res.on('data', (text: string) => {
          const arrived = performance.timeOrigin + performance.now();
          rest += text;
          const stamps = rest.match(/t\d+\.\d{3} /g) ?? [];
          rest = rest.slice(rest.lastIndexOf(' ') + 1);
          for (const s of stamps) {
            const delay = arrived - Number(s.slice(1, -1));
            if (previous !== undefined) added.push(delay - previous);
            previous = delay;
            seen++;
          }
        });
        res.on('end', () => resolve({ pieces: seen, added }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The CPU the streamed redaction costs for 1 MiB of minified JSON (URLs, no whitespace: text it
 * must hold back) in 4-byte pieces, in this process: the first run, then the median of 7 more.
 */
function redactionCost(): Row {
  const parts: string[] = [];
  for (let i = 0, size = 0; size < 1024 * 1024; i++) {
    const part = `{"id":${i},"url":"https://example.com/items/${i}","tags":["a","b"]},`;
    parts.push(part);
    size += part.length;
  }
  const answer = `[${parts.join('')}]`;
  const runs: number[] = [];
  for (let round = 0; round < 8; round++) {
    const before = process.cpuUsage();
    const r = new StreamRedactor();
    for (let i = 0; i < answer.length; i += 4) r.push(answer.slice(i, i + 4));
    r.end();
    const used = process.cpuUsage(before);
    runs.push((used.user + used.system) / 1000);
  }
  const [cold = Number.NaN, ...warm] = runs;
  return {
    scenario: 'streamed redaction: 1 MiB of minified JSON in 4-byte pieces',
    metric: 'CPU (warm, median of 7)',
    value: `${median(warm).toFixed(0)} ms`,
    note: `the first run, before the code is optimised: ${cold.toFixed(0)} ms; the rest ${warm.map((x) => x.toFixed(0)).join(', ')} ms`,
  };
}

interface Target {
  name: string;
  port: number;
  pid: number | undefined;
  path: string;
  headers: Record<string, string>;
  stop(): Promise<void>;
}

async function run(t: Target): Promise<Row> {
  // Warm: the code paths compiled and the pools grown before the baseline RSS is read.
  await Promise.allSettled(Array.from({ length: 50 }, () => oneStream(t.port, t.path, t.headers, 40)));
  // What an open stream holds: the same number of streams open at one piece a second, RSS read once
  // they are all open — first, before thousands of pieces a second have grown the heap.
  const idle0 = t.pid ? rssMiB(t.pid) : 0;
  const slowStreams = (pieces: number) =>
    Promise.allSettled(
      Array.from({ length: STREAMS }, () => oneStream(t.port, t.path, t.headers, pieces, 1000)),
    );
  // The first streams last through the second group's reading.
  const slow = slowStreams(30);
  await new Promise((r) => setTimeout(r, 10_000));
  const idle1 = t.pid ? rssMiB(t.pid) : 0;
  const idleKiB = ((idle1 - idle0) * 1024) / STREAMS;
  const more = slowStreams(20);
  await new Promise((r) => setTimeout(r, 10_000));
  const moreKiB = t.pid ? ((rssMiB(t.pid) - idle1) * 1024) / STREAMS : 0;
  await Promise.all([slow, more]);
  const rss0 = t.pid ? rssMiB(t.pid) : 0;
  const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
  let peakRss = rss0;
  const sampler = setInterval(() => {
    if (t.pid) peakRss = Math.max(peakRss, rssMiB(t.pid));
  }, 500);
  const started = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: STREAMS }, () => oneStream(t.port, t.path, t.headers)),
  );
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.length - done.length;
  const why = results.find((r) => r.status === 'rejected')?.reason as Error | undefined;
  const pieces = done.reduce((n, r) => n + r.pieces, 0);
  const added = done.flatMap((r) => r.added).sort((a, b) => a - b);
  const cpu = t.pid ? cpuSeconds(t.pid) - cpu0 : 0;
  const perStreamKiB = ((peakRss - rss0) * 1024) / STREAMS;
  return {
    scenario: `${t.name}: ${STREAMS} streams × ${PIECES} pieces, one per ${PIECE_MS} ms`,
    metric: 'added gap p99 / worst',
    value: `${percentile(added, 99).toFixed(1)} / ${(added.at(-1) ?? Number.NaN).toFixed(1)} ms`,
    note: [
      `${pieces} of ${STREAMS * PIECES} pieces in ${seconds.toFixed(1)} s`,
      failed ? `${failed} streams failed (${why?.message.slice(0, 80)})` : undefined,
      t.pid
        ? `RSS +${idleKiB.toFixed(0)} KiB per open stream at one piece a second (${STREAMS} more: +${moreKiB.toFixed(0)} KiB each), +${perStreamKiB.toFixed(0)} KiB at the peak of this run (${rss0.toFixed(0)} → ${peakRss.toFixed(0)} MiB)`
        : undefined,
      t.pid ? `CPU ${((cpu * 1e6) / Math.max(1, pieces)).toFixed(1)} µs per piece` : undefined,
    ]
      .filter(Boolean)
      .join('; '),
  };
}

export async function benchStreams(): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'robbie-streams-bench-'));
  const fakePort = await freePort();
  writeFileSync(join(dir, 'fake.mjs'), FAKE);
  // The client's sockets: 500 at once to each of the model and the gateway.
  http.globalAgent.maxSockets = Number.POSITIVE_INFINITY;
  const fake = spawn(process.execPath, [join(dir, 'fake.mjs')], {
    env: { PORT: String(fakePort), PIECES: String(PIECES), EVERY: String(PIECE_MS) },
    stdio: 'ignore',
  });
  const targets: Target[] = [];
  try {
    await waitForUrl(`http://127.0.0.1:${fakePort}/`);
    targets.push({
      name: 'fake model alone',
      port: fakePort,
      pid: undefined,
      path: '/v1/chat/completions',
      headers: {},
      stop: async () => undefined,
    });
    const floor = await startFloor(dir, fakePort);
    targets.push({
      name: 'floor: a Node proxy passing bytes through',
      path: '/v1/chat/completions',
      headers: {},
      ...floor,
    });
    const robbie = await startRobbie(fakePort);
    targets.push({
      name: 'robbie',
      path: '/v1/chat/completions',
      headers: {},
      ...robbie,
    });
    const portkey = await startPortkey(dir, fakePort);
    if ('skipped' in portkey) rows.push(portkey.skipped);
    else targets.push({ name: 'Portkey', path: '/v1/chat/completions', ...portkey });
    rows.push(redactionCost());
    for (const t of targets) rows.push(await run(t));
  } finally {
    for (const t of targets) await t.stop().catch(() => undefined);
    fake.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
