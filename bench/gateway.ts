/**
 * `/v1/chat/completions` beside the Portkey gateway, on the same fake OpenAI-compatible model (the
 * one ../shared/research/portkey-peer.sh uses: a fixed completion at once; with `stream: true`,
 * three pieces 100 ms apart), and robbie's `/v1/messages` (Anthropic's API in, OpenAI's out):
 * req/s and latency at 1 and 32 connections with wrk, each gateway's CPU per request, the latency
 * each adds at 1 connection (p50 and p99) over calling the model directly, and the time to the
 * first streamed piece it adds — warm (after 500 streams, as wrk's warm-up does for whole
 * answers), cold (right after the wrk runs), and with each stream read to its end. The same for
 * a Node proxy that only passes bytes (the floor of any Node gateway), in the same run. The wrk
 * runs go in interleaved rounds (ROUNDS, default 3: the model alone, then every gateway at 1 and
 * 32 connections, in each), and the first pieces in blocks taken in turn:
 * each figure is the median of its rounds with their spread, each ratio to Portkey taken within
 * a round.
 *
 * robbie runs with its defaults and its durable recording on (SQLite), and with
 * `--rate-limit 100000000/1m` (a load test from one user would be refused at the default 120/1m).
 * One more row runs it at one connection with `--home` on /dev/shm: the same robbie without the
 * disk's fsync of each record, the floor of its one-connection figure, in the same run; and the
 * byte-passing proxy that fdatasyncs each answer before it sends it, at one connection: the floor of
 * any gateway whose answers are durable before they are sent, on this disk.
 * Portkey is not a dependency: it is looked for in PORTKEY_DIR (default /tmp/portkey-peer/portkey,
 * where `npm install @portkey-ai/gateway` put it); without it its rows say so.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withServingHeap } from '../src/runtime/serving-heap.ts';
import { freePort, spawnRobbieLogged, stopProc, waitHealthy } from '../tests/helpers/process.ts';
import { cpuSeconds, median, type Row, spread } from './lib.ts';

const SECONDS = 8;
/** Rounds of the wrk runs, every target in each (ROUNDS in the environment). */
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PORTKEY_DIR = process.env.PORTKEY_DIR ?? '/tmp/portkey-peer/portkey';
const PORTKEY_BIN = join(PORTKEY_DIR, 'node_modules/@portkey-ai/gateway/build/start-server.js');
/** What a client of each protocol sends (whole or streamed), and how its first streamed piece looks. */
const PROTOCOLS = {
  openai: {
    path: '/v1/chat/completions',
    body: (stream: boolean) =>
      JSON.stringify({
        model: 'fake-model',
        ...(stream ? { stream } : {}),
        messages: [{ role: 'user', content: 'ping' }],
      }),
    marker: '"content":"po"',
  },
  anthropic: {
    path: '/v1/messages',
    body: (stream: boolean) =>
      JSON.stringify({
        model: 'fake-model',
        max_tokens: 16,
        ...(stream ? { stream } : {}),
        messages: [{ role: 'user', content: 'ping' }],
      }),
    marker: '"text":"po"',
  },
} as const;
type Protocol = keyof typeof PROTOCOLS;

const FAKE = `
import http from 'node:http';
const body = JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion', created: 1700000000, model: 'fake-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'pong' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } });
const srv = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    let stream = false; try { stream = JSON.parse(raw).stream === true; } catch {}
    if (!stream) { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); return; }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const parts = ['po', 'ng', '!']; let i = 0;
    const t = setInterval(() => {
      if (i < parts.length) res.write('data: ' + JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'fake-model',
        choices: [{ index: 0, delta: { content: parts[i++] }, finish_reason: null }] }) + '\\n\\n');
      else { res.write('data: [DONE]\\n\\n'); res.end(); clearInterval(t); }
    }, 100);
  });
});
srv.keepAliveTimeout = 65000;
srv.listen(Number(process.env.PORT), '127.0.0.1');
`;

/** Portkey binds every interface; this preload keeps it on loopback (as portkey-peer.sh does). */
const portkeyLoopback = `
import net from 'node:net';
const orig = net.Server.prototype.listen;
net.Server.prototype.listen = function (...a) {
  if (typeof a[0] === 'number') { const cb = a.find((x) => typeof x === 'function'); return cb ? orig.call(this, a[0], '127.0.0.1', cb) : orig.call(this, a[0], '127.0.0.1'); }
  if (a[0] && typeof a[0] === 'object' && 'port' in a[0]) a[0] = { ...a[0], host: '127.0.0.1' };
  return orig.apply(this, a);
};
`;

interface Wrk {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
}

function wrk(
  protocol: Protocol,
  url: string,
  connections: number,
  seconds: number,
  headers: Record<string, string>,
  dir: string,
): Wrk {
  const lua = join(dir, 'post.lua');
  writeFileSync(
    lua,
    [
      'wrk.method = "POST"',
      `wrk.body = ${JSON.stringify(PROTOCOLS[protocol].body(false))}`,
      'wrk.headers["Content-Type"] = "application/json"',
      ...Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
      'done = function(summary, latency, requests)',
      '  io.write(string.format("WRK %d %d %d %d\\n", summary.requests, summary.errors.status, latency:percentile(50), latency:percentile(99)))',
      'end',
    ].join('\n'),
  );
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', lua, url], {
    encoding: 'utf8',
  });
  const m = /WRK (\d+) (\d+) (\d+) (\d+)/.exec(out);
  const requests = Number(m?.[1]);
  return {
    requests,
    non2xx: Number(m?.[2]),
    p50: Number(m?.[3]) / 1000,
    p99: Number(m?.[4]) / 1000,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
  };
}

/**
 * Milliseconds from sending one streamed request to its first content piece. The client then hangs
 * up (a gateway closes the model's request, and opens a new connection for the next), or with
 * `toEnd` reads the stream to its end first, as an SDK does.
 */
function onePiece(
  protocol: Protocol,
  port: number,
  path: string,
  headers: Record<string, string>,
  toEnd = false,
): Promise<number> {
  const body = PROTOCOLS[protocol].body(true);
  return new Promise<number>((resolve, reject) => {
    const started = performance.now();
    let first: number | undefined;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        // A new connection each time: a kept-alive one, idle while wrk runs (synchronously: this
        // process does not see it closed), was found closed by the next request.
        agent: false,
      },
      (res) => {
        let seen = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (first !== undefined) return;
          seen += c;
          if (!seen.includes(PROTOCOLS[protocol].marker)) return;
          first = performance.now() - started;
          if (toEnd) return;
          resolve(first);
          res.destroy();
        });
        res.on('end', () =>
          first === undefined
            ? reject(new Error(`no piece from ${path}: ${seen.slice(0, 200)}`))
            : resolve(first),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const STREAM_SAMPLES = 20;
/** Streams in a row at one endpoint before the next takes its turn: about STREAM_SAMPLES in all. */
const STREAM_BLOCK = Math.ceil(STREAM_SAMPLES / ROUNDS);
/** Streams run (25 at a time) before the warm figure: wrk warms the whole-answer path only. */
const STREAM_WARMUP = 500;

interface Endpoint {
  protocol: Protocol;
  port: number;
  path: string;
  headers: Record<string, string>;
}

type FirstPiece = { cold: number; warm: number; toEnd: number } | Error;

/**
 * Median time to the first piece over about 20 streams one after another at each endpoint, the
 * endpoints taking turns in blocks, one block each per round (the model alone among them: each
 * gateway's added time is taken against samples of the same minutes). Blocks, not single streams:
 * what a gateway does after its client hangs up (closing the model's request, recording the cut
 * stream) would otherwise fall on the next endpoint's stream. `cold` right after the wrk runs (the
 * streaming code has run a few times at most), `warm` after 500 more streams at each, and `toEnd`
 * with each stream read to its end before the next. An endpoint whose stream fails gets the error.
 */
async function firstPieces(endpoints: Endpoint[]): Promise<FirstPiece[]> {
  const failed: (Error | undefined)[] = endpoints.map(() => undefined);
  const sample = async (toEnd: boolean): Promise<number[]> => {
    const times: number[][] = endpoints.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [j, e] of endpoints.entries()) {
        for (let k = 0; k < STREAM_BLOCK && !failed[j]; k++) {
          try {
            times[j]?.push(await onePiece(e.protocol, e.port, e.path, e.headers, toEnd));
          } catch (err) {
            failed[j] = err as Error;
          }
        }
      }
    }
    return times.map((t) => median(t));
  };
  const cold = await sample(false);
  for (const [j, e] of endpoints.entries()) {
    for (let i = 0; i < STREAM_WARMUP && !failed[j]; i += 25) {
      await Promise.all(Array.from({ length: 25 }, () => onePiece(e.protocol, e.port, e.path, e.headers)));
    }
  }
  const warm = await sample(false);
  const toEnd = await sample(true);
  return endpoints.map(
    (_, j) =>
      failed[j] ?? {
        cold: cold[j] ?? Number.NaN,
        warm: warm[j] ?? Number.NaN,
        toEnd: toEnd[j] ?? Number.NaN,
      },
  );
}

interface Target {
  name: string;
  /** The protocol its client speaks (robbie serves both; Portkey's stream is OpenAI's). */
  protocol: Protocol;
  port: number;
  pid: number;
  path: string;
  headers: Record<string, string>;
  /** The wrk runs it takes part in (default 1 and 32), and whether its first piece is timed. */
  connections?: number[];
  streams?: boolean;
  stop(): Promise<void>;
}

export async function benchGateway(): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'robbie-gateway-bench-'));
  const fakePort = await freePort();
  writeFileSync(join(dir, 'fake.mjs'), FAKE);
  const fake = spawn(process.execPath, [join(dir, 'fake.mjs')], {
    env: { PORT: String(fakePort) },
    stdio: 'ignore',
  });
  const targets: Target[] = [];
  try {
    await waitForUrl(`http://127.0.0.1:${fakePort}/`);
    const robbie = await startRobbie(fakePort);
    targets.push({
      name: 'robbie, OpenAI in',
      protocol: 'openai',
      path: '/v1/chat/completions',
      headers: {},
      ...robbie,
    });
    // The same robbie, asked in Anthropic's Messages API, answered by the OpenAI-compatible model.
    targets.push({
      name: 'robbie, Anthropic in',
      protocol: 'anthropic',
      port: robbie.port,
      pid: robbie.pid,
      path: '/v1/messages',
      headers: {},
      stop: async () => undefined,
    });
    const portkey = await startPortkey(dir, fakePort);
    if ('skipped' in portkey) rows.push(portkey.skipped);
    else targets.push({ name: 'Portkey', protocol: 'openai', path: '/v1/chat/completions', ...portkey });
    const floor = await startFloor(dir, fakePort);
    targets.push({
      name: 'floor (a Node proxy passing bytes through)',
      protocol: 'openai',
      path: '/v1/chat/completions',
      headers: {},
      ...floor,
    });
    // The floor of any gateway that makes each answer durable before it sends it, as robbie's
    // recording does: the same proxy, holding the answer until one fdatasync of it on this disk.
    const durableFloor = await startFloor(dir, fakePort, join(dir, 'floor-record'));
    targets.push({
      name: 'floor, each answer fdatasynced before it is sent',
      protocol: 'openai',
      path: '/v1/chat/completions',
      headers: {},
      connections: [1],
      streams: false,
      ...durableFloor,
    });
    // Rounds interleaved, every target and the model alone in each: a shared machine's drift
    // falls on all of them alike, and each ratio is taken within one round.
    const directUrl = `http://127.0.0.1:${fakePort}/v1/chat/completions`;
    const urlOf = (t: Target) => `http://127.0.0.1:${t.port}${t.path}`;
    for (const t of targets) wrk(t.protocol, urlOf(t), 32, 3, t.headers, dir); // warm-up
    const direct: Wrk[] = [];
    /** By target and connections: each round's run, and the target's CPU over all of them. */
    const cells = new Map<string, { runs: Wrk[]; cpu: number }>();
    const cellOf = (t: Target, c: number) => {
      const id = `${t.name}|${c}`;
      const cell = cells.get(id) ?? { runs: [], cpu: 0 };
      cells.set(id, cell);
      return cell;
    };
    for (let round = 0; round < ROUNDS; round++) {
      direct.push(wrk('openai', directUrl, 1, SECONDS, {}, dir));
      for (const t of targets) {
        for (const c of t.connections ?? [1, 32]) {
          const cell = cellOf(t, c);
          const cpu0 = cpuSeconds(t.pid);
          cell.runs.push(wrk(t.protocol, urlOf(t), c, SECONDS, t.headers, dir));
          cell.cpu += cpuSeconds(t.pid) - cpu0;
        }
      }
    }
    const directP50 = median(direct.map((r) => r.p50));
    const directP99 = median(direct.map((r) => r.p99));
    const model: Endpoint = { protocol: 'openai', port: fakePort, path: '/v1/chat/completions', headers: {} };
    const streamed = targets.filter((t) => t.streams !== false);
    const [directOrError, ...firsts] = await firstPieces([model, ...streamed]);
    if (!directOrError || directOrError instanceof Error) throw directOrError ?? new Error('no first piece');
    const directFirst = directOrError;
    rows.push({
      scenario: 'fake model alone, 1 connection',
      metric: 'p50 latency',
      value: `${directP50.toFixed(2)} ms`,
      note: `median of ${ROUNDS} rounds (${spread(
        direct.map((r) => r.p50),
        2,
      )}); p99 ${directP99.toFixed(2)} ms; first streamed piece ${directFirst.warm.toFixed(1)} ms (${directFirst.cold.toFixed(1)} ms cold; ${directFirst.toEnd.toFixed(1)} ms read to the end)`,
    });
    const peer = targets.find((t) => t.name === 'Portkey');
    for (const t of targets) {
      for (const c of t.connections ?? [1, 32]) {
        const { runs: rs, cpu } = cellOf(t, c);
        const requests = rs.reduce((n, r) => n + r.requests, 0);
        const p50 = median(rs.map((r) => r.p50));
        const p99 = median(rs.map((r) => r.p99));
        const vsPortkey = peer && t !== peer ? cellOf(peer, c).runs : undefined;
        // Each round's ratio to Portkey's figure in the same round.
        const ratios = vsPortkey ? rs.map((r, i) => r.rps / (vsPortkey[i]?.rps ?? Number.NaN)) : [];
        rows.push({
          scenario: `${t.name} ${t.path}, ${c} connection${c > 1 ? 's' : ''}`,
          metric: 'requests/s',
          value: `${Math.round(median(rs.map((r) => r.rps)))}`,
          note: [
            `median of ${ROUNDS} rounds (${spread(
              rs.map((r) => r.rps),
              0,
            )})`,
            ratios.length
              ? `${median(ratios).toFixed(2)}× Portkey's in the same round (${spread(ratios, 2)})`
              : '',
            `p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`,
            `CPU ${Math.round((cpu * 1e6) / Math.max(1, requests))} µs/request`,
            c === 1
              ? `adds ${(p50 - directP50).toFixed(2)} ms over the model alone (per round ${spread(
                  rs.map((r, i) => r.p50 - (direct[i]?.p50 ?? Number.NaN)),
                  2,
                )}), ${(p99 - directP99).toFixed(2)} ms at p99`
              : '',
            `non-2xx ${rs.reduce((n, r) => n + r.non2xx, 0)}`,
          ]
            .filter(Boolean)
            .join('; '),
        });
      }
    }
    for (const [j, t] of streamed.entries()) {
      const first = firsts[j] ?? new Error('not measured');
      rows.push({
        scenario: `${t.name} streaming, first piece`,
        metric: 'added time to first token',
        value: first instanceof Error ? 'failed' : `${(first.warm - directFirst.warm).toFixed(2)} ms`,
        note:
          first instanceof Error
            ? first.message.slice(0, 160)
            : `median of ${ROUNDS} blocks of ${STREAM_BLOCK} after ${STREAM_WARMUP} streams, each hung up at its first piece (${first.warm.toFixed(1)} ms vs ${directFirst.warm.toFixed(1)} ms direct); each read to its end: ${(first.toEnd - directFirst.toEnd).toFixed(2)} ms added; cold, right after wrk: ${(first.cold - directFirst.cold).toFixed(2)} ms added`,
      });
    }
    rows.push(await fsyncFloor(fakePort, directP50, dir));
  } finally {
    for (const t of targets) await t.stop().catch(() => undefined);
    fake.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/**
 * The same robbie at one connection with its store in memory (`--home` on /dev/shm, where an
 * fsync costs nothing): what robbie adds besides making each record durable on this disk, the
 * floor for the one-connection figure, measured in the same run.
 */
async function fsyncFloor(fakePort: number, directP50: number, dir: string): Promise<Row> {
  const scenario = 'robbie, OpenAI in, store on /dev/shm (no disk fsync), 1 connection';
  if (!existsSync('/dev/shm'))
    return { scenario, metric: 'requests/s', value: 'skipped', note: 'no /dev/shm' };
  const robbie = await startRobbie(fakePort, '/dev/shm');
  try {
    const url = `http://127.0.0.1:${robbie.port}${PROTOCOLS.openai.path}`;
    wrk('openai', url, 32, 3, {}, dir); // warm-up
    const r = wrk('openai', url, 1, SECONDS, {}, dir);
    return {
      scenario,
      metric: 'requests/s',
      value: `${Math.round(r.rps)}`,
      note: `p50 ${r.p50.toFixed(2)} ms; adds ${(r.p50 - directP50).toFixed(2)} ms over the model alone: the default's figure less its fsync of each record`,
    };
  } finally {
    await robbie.stop();
  }
}

/**
 * `robbie serve` with its defaults in front of the fake OpenAI-compatible model at `fakePort`,
 * started as `robbie supervise` starts it (its V8 young generation bounded: runtime/serving-heap.ts),
 * its log in a file, and `--rate-limit 100000000/1m` (one load generator is one user, refused at
 * the default 120/1m).
 */
export async function startRobbie(
  fakePort: number,
  homeBase?: string,
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const home = mkdtempSync(join(homeBase ?? tmpdir(), 'robbie-gateway-bench-'));
  const cleanup = () => rmSync(home, { recursive: true, force: true });
  const port = await freePort();
  const robbie = spawnRobbieLogged(
    ['serve', '--port', String(port), '--home', home],
    join(home, 'serve.log'),
    withServingHeap({
      ROBBIE_PROVIDER: 'openai',
      OPENAI_BASE_URL: `http://127.0.0.1:${fakePort}/v1`,
      CHAT_MODEL: 'fake-model',
      ROBBIE_RATE_LIMIT: '100000000/1m',
    }),
  );
  await waitHealthy(port, 20_000);
  return {
    port,
    pid: robbie.pid,
    stop: async () => {
      await stopProc(robbie);
      cleanup();
    },
  };
}

/**
 * Portkey, headless, on loopback, sending to the fake model at `fakePort` (the headers say where);
 * or the row that says it is not installed.
 */
export async function startPortkey(
  dir: string,
  fakePort: number,
): Promise<
  { port: number; pid: number; headers: Record<string, string>; stop(): Promise<void> } | { skipped: Row }
> {
  if (!existsSync(PORTKEY_BIN)) {
    return {
      skipped: {
        scenario: 'Portkey gateway',
        metric: 'skipped',
        value: '-',
        note: `not installed in ${PORTKEY_DIR} (mkdir -p it; npm install @portkey-ai/gateway there)`,
      },
    };
  }
  writeFileSync(join(dir, 'loopback.mjs'), portkeyLoopback);
  const port = await freePort();
  const pk = spawn(
    process.execPath,
    ['--import', join(dir, 'loopback.mjs'), PORTKEY_BIN, `--port=${port}`, '--headless'],
    { cwd: PORTKEY_DIR, stdio: 'ignore', env: { ...process.env, NODE_ENV: 'production' } },
  );
  await waitForUrl(`http://127.0.0.1:${port}/`);
  return {
    port,
    pid: pk.pid as number,
    headers: {
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `http://127.0.0.1:${fakePort}/v1`,
      authorization: 'Bearer sk-fake',
    },
    stop: async () => {
      pk.kill('SIGTERM');
      await new Promise((r) => pk.once('exit', r));
    },
  };
}

/**
 * The floor: the least a Node proxy can do — pass the upstream's bytes to the client as they come
 * (node:http both ways, no parsing, no recording), and close the upstream request when its client
 * leaves, as robbie does. What robbie adds is over this. With RECORD (a file's path) it holds each
 * answer until it has written it over the start of that file and fdatasynced it: one fsync a
 * request and nothing else, the least a gateway that records each answer durably can do.
 */
const FLOOR = `
import http from 'node:http';
import { openSync, writeSync, fdatasyncSync } from 'node:fs';
const agent = new http.Agent({ keepAlive: true });
const record = process.env.RECORD ? openSync(process.env.RECORD, 'w') : undefined;
http.createServer((req, res) => {
  const up = http.request({ host: '127.0.0.1', port: Number(process.env.UPSTREAM), path: req.url, method: 'POST',
    headers: { 'content-type': 'application/json' }, agent }, (u) => {
    if (record === undefined) {
      res.writeHead(u.statusCode, { 'content-type': 'text/event-stream' });
      u.pipe(res);
      return;
    }
    const parts = [];
    u.on('data', (c) => parts.push(c));
    u.on('end', () => {
      const body = Buffer.concat(parts);
      writeSync(record, body, 0, body.length, 0);
      fdatasyncSync(record);
      res.writeHead(u.statusCode, { 'content-type': u.headers['content-type'], 'content-length': body.length });
      res.end(body);
    });
  });
  up.on('error', () => res.destroy());
  res.on('close', () => { if (!res.writableFinished) up.destroy(); });
  req.pipe(up);
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

export async function startFloor(
  dir: string,
  upstreamPort: number,
  record?: string,
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  writeFileSync(join(dir, 'floor.mjs'), FLOOR);
  const floor = spawn(process.execPath, [join(dir, 'floor.mjs')], {
    env: { PORT: String(port), UPSTREAM: String(upstreamPort), ...(record ? { RECORD: record } : {}) },
    stdio: 'ignore',
  });
  await waitForUrl(`http://127.0.0.1:${port}/`);
  if (floor.pid === undefined) throw new Error('the floor proxy did not start');
  return {
    port,
    pid: floor.pid,
    stop: async () => {
      floor.kill();
    },
  };
}

export async function waitForUrl(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}
