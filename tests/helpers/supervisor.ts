/** Starting a supervisor from the built binary in a throwaway state directory, and reading it. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type Proc, runRobbie, spawnRobbie, stopProc, waitFor, waitHealthy } from './process.ts';

export interface ChildStatus {
  id: string;
  role: string;
  pid: number | null;
  state: string;
  uptime_s: number | null;
  restarts: { total: number; in_window: number };
  last_exit: { pid: number; code: number | null; signal: string | null; time: string; reason: string } | null;
  last_probe: { ok: boolean; latency_ms: number; time: string; error?: string } | null;
  rss_bytes: number | null;
  cpu_s: number | null;
  backoff_ms: number | null;
  next_restart_at: string | null;
}

export interface Status {
  supervisor: {
    pid: number;
    state: string;
    uptime_s: number;
    home: string;
    control_socket: string;
    rss_bytes: number | null;
  };
  children: ChildStatus[];
  logs: { dir: string; files: { path: string; ok: boolean }[] };
}

export function tempHome(prefix = 'robbie-test-'): { home: string; cleanup: () => void } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

export interface Running {
  proc: Proc;
  home: string;
  port: number;
  status(): Promise<Status>;
  /** The active child of instance 0 once it is running. */
  active(index?: number): Promise<ChildStatus>;
  events(msg: string): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startSupervisor(
  args: string[] = [],
  opts: { env?: NodeJS.ProcessEnv; command?: string[]; waitReady?: boolean } = {},
): Promise<Running> {
  const { home, cleanup } = tempHome();
  const port = await freePort();
  const full = ['supervise', '--home', home, '--port', String(port), ...args];
  if (opts.command) full.push('--', ...opts.command);
  const proc = spawnRobbie(full, opts.env ?? {});
  const running: Running = {
    proc,
    home,
    port,
    status: () => statusOf(home),
    active: (index = 0) =>
      waitFor(`instance ${index} running`, async () => {
        const s = await statusOf(home);
        const c = s.children.filter((x) => x.role === 'active')[index];
        return c && c.state === 'running' && c.pid ? c : undefined;
      }),
    events: (msg) => proc.jsonLines().filter((l) => l.msg === msg),
    stop: async () => {
      await stopProc(proc, 'SIGTERM', 20_000);
      cleanup();
    },
  };
  if (opts.waitReady !== false) {
    await waitFor(
      'the supervisor to start its children',
      () => running.events('child ready').length > 0,
      20_000,
    );
  }
  return running;
}

export async function statusOf(home: string): Promise<Status> {
  const r = await runRobbie(['status', '--json', '--home', home]);
  if (r.code !== 0) throw new Error(`status failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Status;
}

/** `robbie serve` in a throwaway state directory with no rate limit to speak of, and its stop. */
export async function serveInTempHome(
  env: NodeJS.ProcessEnv,
): Promise<{ port: number; home: string; stop: () => Promise<void> }> {
  const { home, cleanup } = tempHome();
  const port = await freePort();
  const proc = spawnRobbie(['serve', '--port', String(port), '--home', home], {
    ROBBIE_RATE_LIMIT: '100000/1m',
    ...env,
  });
  await waitHealthy(port, 15_000);
  return {
    port,
    home,
    stop: async () => {
      await stopProc(proc);
      cleanup();
    },
  };
}

/**
 * Stops whatever supervisor runs on `home`, ignoring "not running": for the finally of a test that
 * used `robbie start`, whose background supervisor killAll does not know about.
 */
export async function stopQuietly(home: string): Promise<void> {
  await runRobbie(['stop', '--home', home], {}, 30_000).catch(() => undefined);
}
