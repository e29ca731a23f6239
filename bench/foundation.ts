/** Binary size, `--version` wall time, idle `serve` RSS, and `/health` requests per second. */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import {
  BINARY,
  freePort,
  sleep,
  spawnRobbieLogged,
  stopProc,
  waitHealthy,
} from '../tests/helpers/process.ts';
import { tempHome } from '../tests/helpers/supervisor.ts';
import { median, percentile, type Row, rssMiB } from './lib.ts';

export async function benchFoundation(): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push({
    scenario: 'binary',
    metric: 'size',
    value: `${(statSync(BINARY).size / 1024 / 1024).toFixed(1)} MiB`,
    note: 'Node 24.21.0 + bundle, linux-x64',
  });

  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    execFileSync(BINARY, ['--version']);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  rows.push({
    scenario: 'robbie --version',
    metric: 'wall time',
    value: `${median(times).toFixed(1)} ms median`,
    note: `p90 ${percentile(times, 90).toFixed(1)} ms, 20 runs`,
  });

  const port = await freePort();
  const { home, cleanup } = tempHome();
  const proc = spawnRobbieLogged(['serve', '--port', String(port), '--home', home], join(home, 'serve.log'));
  try {
    await waitHealthy(port);
    await sleep(2000);
    rows.push({
      scenario: 'robbie serve idle',
      metric: 'RSS',
      value: `${rssMiB(proc.pid).toFixed(1)} MiB`,
      note: '2 s after start',
    });
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/health`,
      connections: 32,
      duration: 10,
    });
    rows.push({
      scenario: 'GET /health, 32 connections, 10 s',
      metric: 'requests/s',
      value: `${Math.round(result.requests.average)}`,
      note: `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, errors ${result.errors + result.non2xx}`,
    });
    rows.push({
      scenario: 'robbie serve after load',
      metric: 'RSS',
      value: `${rssMiB(proc.pid).toFixed(1)} MiB`,
    });
  } finally {
    await stopProc(proc);
    cleanup();
  }
  return rows;
}
