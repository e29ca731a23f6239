/** What `robbie status` shows: the supervisor and each child, as data (`--json`) or a table. */

import { formatDuration, formatSize } from '../config/units.ts';
import { VERSION } from '../runtime/version.ts';
import type { ChildHandle } from './child-handle.ts';
import type { FileHealth } from './output/rotating-file.ts';
import { processUsage } from './process-info.ts';
import type { SlotSnapshot } from './slot.ts';
import type { SuperviseConfig } from './supervise-config.ts';

export interface ChildStatus {
  id: string;
  role: 'active' | 'standby';
  pid: number | null;
  state: string;
  uptime_s: number | null;
  restarts: { total: number; in_window: number };
  last_exit: {
    pid: number;
    code: number | null;
    signal: string | null;
    time: string;
    reason: string;
    error?: string;
  } | null;
  last_probe: { ok: boolean; latency_ms: number; time: string; error?: string } | null;
  rss_bytes: number | null;
  cpu_s: number | null;
  backoff_ms: number | null;
  next_restart_at: string | null;
}

export interface StatusReport {
  supervisor: {
    pid: number;
    state: string;
    version: string;
    uptime_s: number;
    started_at: string;
    home: string;
    control_socket: string;
    rss_bytes: number | null;
    cpu_s: number | null;
  };
  children: ChildStatus[];
  logs: { dir: string; files: FileHealth[] };
}

function usage(pid: number | undefined) {
  const u = pid && pid > 0 ? processUsage(pid) : undefined;
  return { rss_bytes: u ? u.rssBytes : null, cpu_s: u ? Math.round(u.cpuSeconds * 100) / 100 : null };
}

function childUsage(c: ChildHandle | undefined) {
  return c?.alive ? usage(c.pid) : { rss_bytes: null, cpu_s: null };
}

const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());

export function statusReport(input: {
  config: SuperviseConfig;
  now: number;
  startedAt: number;
  state: string;
  slots: SlotSnapshot[];
  standby: ChildHandle | undefined;
  standbyReady: boolean;
  logs: FileHealth[];
}): StatusReport {
  const { now } = input;
  const children: ChildStatus[] = input.slots.map((s) => {
    const c = s.child?.alive ? s.child : undefined;
    return {
      id: s.id,
      role: 'active',
      pid: c?.pid ?? null,
      state: s.state,
      uptime_s: c ? Math.floor((now - c.startedAt) / 1000) : null,
      restarts: { total: s.restartsTotal, in_window: s.restartsInWindow },
      last_exit: s.lastExit
        ? {
            pid: s.lastExit.pid,
            code: s.lastExit.code,
            signal: s.lastExit.signal,
            time: new Date(s.lastExit.time).toISOString(),
            reason: s.lastExit.reason,
            ...(s.lastExit.error ? { error: s.lastExit.error } : {}),
          }
        : null,
      last_probe: s.lastProbe
        ? {
            ok: s.lastProbe.ok,
            latency_ms: s.lastProbe.latencyMs,
            time: new Date(s.lastProbe.time).toISOString(),
            ...(s.lastProbe.error ? { error: s.lastProbe.error } : {}),
          }
        : null,
      ...childUsage(c),
      backoff_ms: s.delayMs ?? null,
      next_restart_at: iso(s.nextRestartAt),
    };
  });
  if (input.standby?.alive) {
    children.push({
      id: 'standby',
      role: 'standby',
      pid: input.standby.pid,
      state: input.standbyReady ? 'ready' : 'starting',
      uptime_s: Math.floor((now - input.standby.startedAt) / 1000),
      restarts: { total: 0, in_window: 0 },
      last_exit: null,
      last_probe: null,
      ...childUsage(input.standby),
      backoff_ms: null,
      next_restart_at: null,
    });
  }
  return {
    supervisor: {
      pid: process.pid,
      state: input.state,
      version: VERSION,
      uptime_s: Math.floor((now - input.startedAt) / 1000),
      started_at: new Date(input.startedAt).toISOString(),
      home: input.config.paths.home,
      control_socket: input.config.paths.controlSocket,
      ...usage(process.pid),
    },
    children,
    logs: { dir: input.config.paths.logDir, files: input.logs },
  };
}

/** Whole seconds, as the report keeps them: under one is "<1s", not "0ms". */
function formatUptime(seconds: number): string {
  return seconds < 1 ? '<1s' : formatDuration(seconds * 1000);
}

/** The human view of a status report. */
export function formatStatus(r: StatusReport): string {
  const s = r.supervisor;
  const lines = [
    `supervisor  pid ${s.pid}  ${s.state}  up ${formatUptime(s.uptime_s)}  v${s.version}  rss ${s.rss_bytes === null ? '-' : formatSize(s.rss_bytes)}`,
    `state dir   ${s.home}`,
    '',
  ];
  const header = ['CHILD', 'PID', 'STATE', 'UPTIME', 'RESTARTS', 'LAST EXIT', 'PROBE', 'RSS', 'CPU'];
  const rows = r.children.map((c) => [
    c.id,
    c.pid === null ? '-' : String(c.pid),
    c.state +
      (c.next_restart_at
        ? ` (next ${formatDuration(Math.max(0, Date.parse(c.next_restart_at) - Date.now()))})`
        : ''),
    c.uptime_s === null ? '-' : formatUptime(c.uptime_s),
    `${c.restarts.total} (${c.restarts.in_window} recent)`,
    c.last_exit
      ? `${c.last_exit.reason}: ${c.last_exit.signal ?? `code ${c.last_exit.code}`} ${c.last_exit.time.slice(11, 19)}`
      : '-',
    c.last_probe
      ? c.last_probe.ok
        ? `ok ${c.last_probe.latency_ms}ms`
        : `fail ${c.last_probe.error ?? ''}`
      : '-',
    c.rss_bytes === null ? '-' : formatSize(c.rss_bytes),
    c.cpu_s === null ? '-' : `${c.cpu_s}s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const fmt = (row: string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  lines.push(fmt(header), ...rows.map(fmt), '');
  for (const f of r.logs.files) {
    lines.push(
      `log         ${f.path}${f.ok ? '' : `  ERROR ${f.error}`}${f.droppedLines ? `  (${f.droppedLines} lines dropped)` : ''}`,
    );
  }
  return lines.join('\n');
}
