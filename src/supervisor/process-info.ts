/** Facts about a running process: start time (to recognise our own pids), memory and CPU. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces). */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function ps(pid: number, field: string): string | undefined {
  try {
    const out = execFileSync('ps', ['-o', `${field}=`, '-p', String(pid)], {
      encoding: 'utf8',
      timeout: 2000,
    }).trim();
    return out || undefined;
  } catch {
    return undefined;
  }
}

/** True when a process with this pid exists (one we may not signal counts too). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An opaque token for when the process started: equal tokens mean the same process, not a later
 * one that reused the pid.
 */
export function processStartToken(pid: number): string | undefined {
  if (process.platform === 'linux') return procStat(pid)?.[19];
  return ps(pid, 'lstart');
}

export interface Usage {
  rssBytes: number;
  cpuSeconds: number;
}

export function processUsage(pid: number): Usage | undefined {
  if (process.platform === 'linux') {
    const stat = procStat(pid);
    if (!stat) return undefined;
    let rssKb = 0;
    try {
      rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return undefined;
    }
    return { rssBytes: rssKb * 1024, cpuSeconds: (Number(stat[11]) + Number(stat[12])) / ticksPerSecond() };
  }
  const rss = ps(pid, 'rss');
  const time = ps(pid, 'time');
  if (!rss || !time) return undefined;
  const [h = '0', m = '0', s = '0'] =
    time.split(':').length === 3 ? time.split(':') : ['0', ...time.split(':')];
  return { rssBytes: Number(rss) * 1024, cpuSeconds: Number(h) * 3600 + Number(m) * 60 + Number(s) };
}
