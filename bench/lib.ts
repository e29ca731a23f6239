/** Small helpers shared by the benchmark scenarios: timing, percentiles, a markdown table, a load. */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import autocannon from 'autocannon';

export interface Row {
  scenario: string;
  metric: string;
  value: string;
  note?: string;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** The lowest and highest of a figure's runs, as `low–high`. */
export function spread(values: number[], digits: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${(sorted[0] ?? Number.NaN).toFixed(digits)}–${(sorted.at(-1) ?? Number.NaN).toFixed(digits)}`;
}

/** Resident set size of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** User+system CPU seconds a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks / hz;
}

/**
 * The last `bytes` of a file as latin1 ('' while it does not exist): a benchmark watching a log
 * reads only its end, so as not to compete with the writer for the CPU.
 */
export function tail(path: string, bytes = 64 * 1024): string {
  if (!existsSync(path)) return '';
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(bytes, size));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    return buf.toString('latin1');
  } finally {
    closeSync(fd);
  }
}

export function table(rows: Row[]): string {
  const lines = ['| scenario | metric | value | note |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.scenario} | ${r.metric} | ${r.value} | ${r.note ?? ''} |`);
  return lines.join('\n');
}

/**
 * Posts uniquely identified universal requests to 127.0.0.1:`port` for `seconds` with autocannon;
 * `userId` spreads them over users (default: one anonymous user), `apiKey` sends a key, `rate`
 * holds the load to that many requests a second (default: as fast as answered).
 */
export function universalLoad(
  port: number,
  connections: number,
  seconds: number,
  userId?: () => string,
  apiKey?: string,
  rate?: number,
): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}/api/v2/universal/request`,
    method: 'POST',
    connections,
    duration: seconds,
    ...(rate === undefined ? {} : { overallRate: rate }),
    headers: { 'content-type': 'application/json', ...(apiKey ? { 'x-api-key': apiKey } : {}) },
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({
            request_id: randomUUID(),
            source: 'bench',
            ai_service: 'chat',
            ...(userId ? { user_id: userId() } : {}),
            payload: { input: 'what is the capital of France?' },
          }),
        }),
      },
    ],
  });
}
