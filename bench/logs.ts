/**
 * The child-output scenarios through the supervisor, with its defaults:
 * - flood: a child writes 200 MiB of numbered 100-byte lines; measured from the child's start to
 *   the last line on disk, with JSON framing and rotation on;
 * - JSON lines: a child writes access-log lines of its own (as `robbie serve` does) at 2,000/s;
 *   the supervisor's CPU while it merges them into its records.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ROOT, sleep, waitFor } from '../tests/helpers/process.ts';
import { startSupervisor } from '../tests/helpers/supervisor.ts';
import { cpuSeconds, type Row, tail } from './lib.ts';

const MIB = 200;

export async function benchLogs(): Promise<Row[]> {
  return [...(await flood()), ...(await jsonLines())];
}

async function jsonLines(): Promise<Row[]> {
  const rate = 2000;
  const seconds = 10;
  const sup = await startSupervisor(['--restart', 'never', '--no-standby'], {
    command: [process.execPath, join(ROOT, 'tests/fixtures/json-lines.mjs'), String(rate), String(seconds)],
    waitReady: false,
    env: { PATH: '/usr/bin:/bin' },
  });
  const log = join(sup.home, 'logs', 'robbie.log');
  try {
    await waitFor('the first line', () => readFileSync(log, 'latin1').includes('"msg":"request"'), 10_000, 5);
    const cpu0 = cpuSeconds(sup.proc.pid);
    const t0 = performance.now();
    await waitFor('the last line', () => readFileSync(log, 'latin1').includes('JSON_LINES_DONE'), 30_000, 50);
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(sup.proc.pid) - cpu0;
    const merged = (readFileSync(log, 'latin1').match(/"msg":"request"/g) ?? []).length;
    return [
      {
        scenario: `a child's own JSON lines (access-log shaped) at ${rate}/s for ${seconds} s`,
        metric: 'supervisor CPU',
        value: `${((cpu / wall) * 100).toFixed(1)} % of a core`,
        note: `${cpu.toFixed(2)} CPU s over ${wall.toFixed(1)} s, idle probes included; ${merged} of ${rate * seconds} lines merged as records`,
      },
    ];
  } finally {
    await sup.stop();
  }
}

async function flood(): Promise<Row[]> {
  const lines = Math.floor((MIB * 1024 * 1024) / 100);
  const last = String(lines - 1).padStart(10, '0');
  const sup = await startSupervisor(
    [
      '--restart',
      'never',
      '--log-max-size',
      '10MiB',
      '--log-keep',
      '100',
      '--log-max-total',
      '4GiB',
      '--no-standby',
    ],
    {
      command: [process.execPath, join(ROOT, 'tests/fixtures/flood.mjs'), String(MIB), 'stay'],
      waitReady: false,
      env: { PATH: '/usr/bin:/bin' },
    },
  );
  const dir = join(sup.home, 'logs');
  try {
    await waitFor('supervisor start', () => sup.events('supervisor started').length > 0);
    const cpu0 = cpuSeconds(sup.proc.pid);
    const t0 = performance.now();
    // The child starts right after; the last line is on disk once robbie.log holds its number.
    // Only the file's tail is read, so the bench does not compete with the supervisor for the CPU.
    await waitFor(
      'the last line on disk',
      () => tail(join(dir, 'robbie.log')).includes(`"msg":"${last} `),
      120_000,
      5,
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(sup.proc.pid) - cpu0;
    // Let compression of the rotated files finish before counting.
    await waitFor(
      'compression',
      () => !readdirSync(dir).some((f) => /^robbie\.log\.\d+$/.test(f) && f !== 'robbie.log.1'),
      120_000,
      100,
    );
    const cpuWithGzip = cpuSeconds(sup.proc.pid) - cpu0;
    await sleep(100);
    const seen = new Uint8Array(lines);
    let count = 0;
    for (const f of readdirSync(dir).filter((x) => x.startsWith('robbie.log'))) {
      const raw = readFileSync(join(dir, f));
      const text = (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString('latin1');
      for (const m of text.matchAll(/"source":"app-0","pid":\d+,"stream":"stdout","msg":"(\d{10}) /g)) {
        const n = Number(m[1]);
        if (!seen[n]) count++;
        seen[n] = 1;
      }
    }
    return [
      {
        scenario: `log flood through the supervisor (${MIB} MiB of 100-byte lines, JSON framing, rotation at 10 MiB)`,
        metric: 'throughput',
        value: `${(MIB / seconds).toFixed(0)} MiB/s`,
        note: `${seconds.toFixed(2)} s from the child's start to its last line on disk`,
      },
      {
        scenario: 'same',
        metric: 'supervisor CPU',
        value: `${cpu.toFixed(2)} s`,
        note: `${cpuWithGzip.toFixed(2)} s including the gzip of rotated files`,
      },
      {
        scenario: 'same',
        metric: 'lines lost',
        value: `${lines - count}`,
        note: `${count} of ${lines} found exactly`,
      },
    ];
  } finally {
    await sup.stop();
  }
}
