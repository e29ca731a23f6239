/**
 * Supervision scenarios, measured the way PM2 and supervisord were: SIGKILL the child and time until
 * /health answers 200 from a new process; SIGSTOP the child and time until a new one serves; the
 * supervisor's memory at rest; restarts during the first 10 s of a crash loop.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { sleep, waitFor } from '../tests/helpers/process.ts';
import { type Running, startSupervisor } from '../tests/helpers/supervisor.ts';
import { median, percentile, type Row, rssMiB } from './lib.ts';

/** A fresh connection per request, as a client would after its server vanished. */
function healthOk(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

async function timeRecovery(sup: Running, signal: NodeJS.Signals, standby: boolean): Promise<number> {
  const before = await sup.active();
  if (standby) {
    await waitFor('a ready standby', async () =>
      (await sup.status()).children.some((c) => c.role === 'standby' && c.state === 'ready'),
    );
  }
  const t0 = performance.now();
  process.kill(before.pid as number, signal);
  // Until the old process is gone, a 200 could still come from it (SIGSTOP keeps its socket).
  for (let i = 0; i < 100_000; i++) {
    if (signal === 'SIGKILL' || i % 20 === 0) {
      if (await healthOk(sup.port)) {
        const answeredAt = performance.now() - t0;
        const now = await sup.active();
        if (now.pid !== before.pid) return answeredAt;
      }
    }
    if (performance.now() - t0 > 30_000) throw new Error('no recovery within 30 s');
    if (signal === 'SIGSTOP') await sleep(5);
  }
  throw new Error('no recovery');
}

function pssMiB(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? Number.NaN) / 1024;
  } catch {
    return Number.NaN;
  }
}

function anonMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

export async function benchSupervisor(): Promise<Row[]> {
  const rows: Row[] = [];

  for (const standby of [true, false]) {
    // Defaults, and the peers' scenario (../shared/peer-bench): each kill after 2 s of uptime
    // plus up to 500 ms of jitter, 15 in a row on one supervisor.
    const sup = await startSupervisor(standby ? [] : ['--no-standby']);
    try {
      await sup.active();
      const times: number[] = [];
      for (let i = 0; i < 15; i++) {
        await sleep(2000 + Math.random() * 500);
        times.push(await timeRecovery(sup, 'SIGKILL', standby));
      }
      times.sort((a, b) => a - b);
      const label = standby ? 'with warm standby' : 'without standby';
      rows.push({
        scenario: `SIGKILL child → /health 200 from a new pid (${label})`,
        metric: 'recovery',
        value: `${median(times).toFixed(1)} ms median`,
        note: `p90 ${percentile(times, 90).toFixed(1)} ms, max ${(times.at(-1) as number).toFixed(1)} ms, 15 kills 2–2.5 s apart, defaults`,
      });
      if (!standby) {
        const startups = sup.proc
          .jsonLines()
          .filter((l) => l.msg === 'child ready')
          .map((l) => l.startup_ms as number);
        rows.push({
          scenario: 'robbie serve start-up (spawn → listening)',
          metric: 'start-up',
          value: `${median(startups).toFixed(0)} ms median`,
          note: `${startups.length} starts`,
        });
      }
    } finally {
      await sup.stop();
    }
  }

  const hung = await startSupervisor([]);
  try {
    await hung.active();
    const t = await timeRecovery(hung, 'SIGSTOP', true);
    rows.push({
      scenario: 'SIGSTOP child → /health 200 from a new pid',
      metric: 'hang replaced',
      value: `${(t / 1000).toFixed(2)} s`,
      note: 'probe every 1 s, timeout 1 s, 3 failures',
    });
    await sleep(5000);
    const pid = hung.proc.pid;
    rows.push({
      scenario: 'supervisor at rest (1 child + standby)',
      metric: 'RSS',
      value: `${rssMiB(pid).toFixed(1)} MiB`,
      note: `anonymous ${anonMiB(pid).toFixed(1)} MiB, PSS ${pssMiB(pid).toFixed(1)} MiB (binary pages shared with the children)`,
    });
  } finally {
    await hung.stop();
  }

  const loop = await startSupervisor([], {
    env: { PATH: '/usr/bin:/bin' },
    command: ['sh', '-c', 'exit 1'],
    waitReady: false,
  });
  try {
    await sleep(10_000);
    const restarts = loop.events('child exited').length;
    rows.push({
      scenario: 'crash loop (sh -c "exit 1"), first 10 s',
      metric: 'starts',
      value: `${restarts}`,
      note: 'start failures back off 0, 250 ms ×2 …; a 60 s cool-down after 10 within 60 s',
    });
  } finally {
    await loop.stop();
  }
  return rows;
}
