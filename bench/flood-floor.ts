/**
 * The floor of the log flood on this machine, beside robbie and supervisord in the same minutes.
 * A child (tests/fixtures/flood.mjs) writes 200 MiB of numbered 100-byte lines into a pipe as
 * fast as it is read; each reader puts them in a file:
 * - `C, raw`: bench/flood-floor.c copying the bytes as they come — what supervisord does, with no
 *   runtime at all;
 * - `C, JSON records`: the same program writing each line as robbie's record (the same prefix and
 *   suffix, no escaping scan) — the cheapest JSON framing can be;
 * - `Node, JSON records`: bench/flood-floor-node.ts, robbie's own pipe and framer and nothing else;
 * - `robbie supervise` (the built binary, defaults but `--log-max-size 1GiB`, as in
 *   ../shared/peer-bench, so the lines stay in one file), and supervisord when it is installed.
 * Each is timed from the child's first write to its last line written (the child's FLOOD_DONE
 * marker carries its start), with the reader's CPU time over the flood. The readers take turns,
 * round after round, so each comparison shares the machine's state of that minute.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT, requireBinary, sleep, spawnProc, stopProc } from '../tests/helpers/process.ts';
import { cpuSeconds, median, type Row, tail } from './lib.ts';

const MIB = 200;
const ROUNDS = Number(process.env.FLOOD_FLOOR_ROUNDS ?? 5);
const DELAY_MS = 1500;
const MARK = /FLOOD_DONE start_ms=([\d.]+)/;

interface Run {
  ms: number;
  cpuS: number;
}

interface Reader {
  name: string;
  /** Why it cannot run here, if it cannot. */
  missing?: string;
  run(work: string): Promise<Run>;
}

function childCommand(): string[] {
  return [process.execPath, join(ROOT, 'tests/fixtures/flood.mjs'), String(MIB), 'stay'];
}

const floodEnv = { ...process.env, FLOOD_MARK: '1', FLOOD_DELAY_MS: String(DELAY_MS) };

/** A floor program: runs the child itself and prints {ms, cpu_s} once the marker is written. */
function floor(command: string, args: string[], work: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, [...args, join(work, 'out.log'), ...childCommand()], {
      env: floodEnv,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.once('exit', () => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(out) as { ms: number; cpu_s: number };
        resolve({ ms: r.ms, cpuS: r.cpu_s });
      } catch {
        reject(new Error(`${command} printed no result: ${out.slice(0, 200)}`));
      }
    });
  });
}

/** A supervisor that writes the child's lines to `log`: its CPU over the flood and the marker's arrival. */
async function supervisorRun(pid: number, log: string): Promise<Run> {
  // The flood starts DELAY_MS after the child does; the CPU baseline is taken before it.
  await sleep(DELAY_MS - 500);
  const cpu0 = cpuSeconds(pid);
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    const m = MARK.exec(tail(log, 4096));
    if (m) {
      const ms = performance.timeOrigin + performance.now() - Number(m[1]);
      return { ms, cpuS: cpuSeconds(pid) - cpu0 };
    }
    await sleep(5);
  }
  throw new Error(`no FLOOD_DONE in ${log} within 120 s`);
}

function supervisordConfig(work: string): string {
  return [
    '[unix_http_server]',
    `file=${join(work, 'supervisor.sock')}`,
    '[supervisord]',
    `logfile=${join(work, 'supervisord.log')}`,
    `pidfile=${join(work, 'supervisord.pid')}`,
    'nodaemon=true',
    '[rpcinterface:supervisor]',
    'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
    '[program:flood]',
    `command=${childCommand().join(' ')}`,
    'autorestart=false',
    'startsecs=0',
    'redirect_stderr=true',
    `stdout_logfile=${join(work, 'child.log')}`,
    'stdout_logfile_maxbytes=0',
    'stdout_logfile_backups=0',
    '',
  ].join('\n');
}

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function readers(bin: string): Reader[] {
  const cFloor = join(bin, 'flood-floor');
  const cMissing = has('cc') ? undefined : 'no C compiler (cc)';
  if (!cMissing) execFileSync('cc', ['-O2', '-o', cFloor, join(ROOT, 'bench/flood-floor.c')]);
  return [
    {
      name: 'supervisord (raw bytes)',
      missing: has('supervisord') ? undefined : 'supervisord is not installed',
      async run(work) {
        writeFileSync(join(work, 'supervisord.conf'), supervisordConfig(work));
        const p = spawnProc('supervisord', ['-c', join(work, 'supervisord.conf')], { env: floodEnv });
        try {
          return await supervisorRun(p.pid, join(work, 'child.log'));
        } finally {
          await stopProc(p, 'SIGTERM', 10_000);
        }
      },
    },
    {
      name: 'robbie supervise (JSON records)',
      async run(work) {
        const home = join(work, 'home');
        const port = String(await freePort());
        const p = spawnProc(
          requireBinary(),
          ['supervise', '--home', home, '--port', port, '--log-max-size', '1GiB', '--', ...childCommand()],
          { env: floodEnv },
        );
        try {
          return await supervisorRun(p.pid, join(home, 'logs', 'robbie.log'));
        } finally {
          await stopProc(p, 'SIGTERM', 10_000);
        }
      },
    },
    { name: 'C, raw bytes', missing: cMissing, run: (work) => floor(cFloor, ['raw'], work) },
    { name: 'C, JSON records', missing: cMissing, run: (work) => floor(cFloor, ['json'], work) },
    {
      name: 'Node, JSON records (robbie\u2019s pipe and framer)',
      run: (work) => floor(process.execPath, [join(ROOT, 'bench/flood-floor-node.ts')], work),
    },
  ];
}

export async function benchFloodFloor(): Promise<Row[]> {
  const base = join(tmpdir(), `robbie-flood-floor-${process.pid}`);
  mkdirSync(base, { recursive: true });
  try {
    const all = readers(base);
    const runnable = all.filter((r) => !r.missing);
    const runs = new Map<string, Run[]>(runnable.map((r) => [r.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const reader of runnable) {
        const work = join(base, `run-${round}`);
        mkdirSync(work, { recursive: true });
        try {
          runs.get(reader.name)?.push(await reader.run(work));
        } finally {
          rmSync(work, { recursive: true, force: true });
        }
      }
    }
    const mibs = (r: Run) => MIB / (r.ms / 1000);
    const reference = runs.get('supervisord (raw bytes)');
    const refMedian = reference && reference.length > 0 ? median(reference.map(mibs)) : undefined;
    return all.map((reader): Row => {
      const scenario = `log flood floor: ${reader.name}, ${MIB} MiB of 100-byte lines`;
      const these = runs.get(reader.name);
      if (reader.missing || !these) return { scenario, metric: 'skipped', value: '-', note: reader.missing };
      const rate = median(these.map(mibs));
      const ratio = refMedian ? `, ${(rate / refMedian).toFixed(2)}× supervisord's` : '';
      return {
        scenario,
        metric: 'MiB/s (median)',
        value: rate.toFixed(0),
        note: `runs ${these.map((r) => mibs(r).toFixed(0)).join(', ')}${ratio}; reader CPU ${median(these.map((r) => r.cpuS)).toFixed(2)} s (runs ${these.map((r) => r.cpuS.toFixed(2)).join(', ')})`,
      };
    });
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}
