/** Spawning robbie (the built binary, or the source under Node or Deno) and watching what it does. */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { processAlive } from '../../src/supervisor/process-info.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BINARY = join(ROOT, 'dist/robbie');
export const SOURCE_MAIN = join(ROOT, 'src/main.ts');

/** A PATH with no programs on it. */
export const EMPTY_PATH = join(ROOT, 'tests/helpers/empty-path');

export function requireBinary(): string {
  if (!existsSync(BINARY))
    throw new Error('dist/robbie is missing: run `npm run build` (npm test builds it first)');
  return BINARY;
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `everyMs` until it returns a value or `timeoutMs` passes (then throws). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const got = await check();
      if (got !== undefined && got !== false) return got;
    } catch (err) {
      lastError = err;
    }
    await sleep(everyMs);
  }
  throw new Error(
    `timed out after ${timeoutMs}ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`,
  );
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Parsed JSON lines written to stdout so far (non-JSON lines are skipped). */
  jsonLines(): Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Every process a test started, so that a failing test cannot leave one running. */
const spawned = new Set<Proc>();

/**
 * Stops whatever a test file left running: SIGTERM (a supervisor then stops its children), SIGKILL
 * after 5 s. Each test file registers it with `after(killAll)`.
 */
export async function killAll(): Promise<void> {
  await Promise.all([...spawned].map((p) => stopProc(p, 'SIGTERM', 5000)));
}

export function spawnProc(command: string, args: string[], opts: SpawnOptions = {}): Proc {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  const proc: Proc = {
    child,
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    jsonLines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  spawned.add(proc);
  void exited.then(() => spawned.delete(proc));
  return proc;
}

/** The built binary with a clean environment: no Node on PATH, as a user's server would have. */
export function spawnRobbie(args: string[], env: NodeJS.ProcessEnv = {}, binary = requireBinary()): Proc {
  return spawnProc(binary, args, { env: robbieEnv(env) });
}

/**
 * The built binary where a service may run it: install-service refuses one under /tmp or /var/tmp
 * (a unit's private /tmp hides it), so a checkout there gets a copy under the user's cache.
 */
export function installableBinary(): string {
  const binary = requireBinary();
  if (!/^\/(var\/)?tmp\//.test(binary)) return binary;
  const dir = join(homedir(), '.cache', 'robbie-tests');
  const copy = join(dir, 'robbie');
  mkdirSync(dir, { recursive: true });
  if (!existsSync(copy) || statSync(copy).mtimeMs < statSync(binary).mtimeMs) {
    rmSync(copy, { force: true });
    copyFileSync(binary, copy);
    chmodSync(copy, 0o755);
  }
  return copy;
}

/** PATH holds no Node at all: the binary must not need one. */
function robbieEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { PATH: EMPTY_PATH, ROBBIE_LOG_FORMAT: 'json', ...env };
}

/**
 * The built binary as `spawnRobbie`, its stdout and stderr appended to `logFile`, as a supervisor
 * or journald would take them: under load, its access log then neither piles up in this process's
 * memory nor takes this process's CPU. `stdout()` and `stderr()` stay empty.
 */
export function spawnRobbieLogged(args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Proc {
  const fd = openSync(logFile, 'a');
  try {
    return spawnProc(requireBinary(), args, { env: robbieEnv(env), stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

/** Runs the binary to completion (bounded) and returns its output and exit code. */
export async function runRobbie(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 15_000,
  binary = requireBinary(),
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnRobbie(args, env, binary);
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Waits for the process to exit, killing it with SIGKILL after `timeoutMs`. */
export async function stopProc(p: Proc, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<void> {
  p.kill(signal);
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  await p.exited;
  clearTimeout(timer);
}

export async function getJson(
  url: string,
  timeoutMs = 2000,
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

export async function waitHealthy(port: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    `http://127.0.0.1:${port}/health`,
    async () => (await getJson(`http://127.0.0.1:${port}/health`, 1000)).status === 200,
    timeoutMs,
  );
}

/** True when a process with this pid exists (zombies included). */
export const alive = processAlive;

/**
 * Steady GET load on `url` from `workers` clients until `stop()`, which resolves with how many
 * answered 200 and what failed (bounded: at most 100,000 requests per worker).
 */
export function steadyLoad(
  url: string,
  workers: number,
): { stop: () => Promise<{ ok: number; failures: string[] }> } {
  let ok = 0;
  const failures: string[] = [];
  let running = true;
  const worker = async () => {
    for (let i = 0; running && i < 100_000; i++) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.status === 200) ok++;
        else failures.push(`HTTP ${res.status}`);
      } catch (err) {
        failures.push(String((err as Error).cause ?? err));
      }
    }
  };
  const all = Array.from({ length: workers }, worker);
  return {
    stop: async () => {
      running = false;
      await Promise.all(all);
      return { ok, failures };
    },
  };
}
