/** `robbie start`: `supervise` in the background, returning once the API is healthy. */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineCommand } from 'citty';
import { loadSettings } from '../../config/load.ts';
import { describeOrigin, type Flags, type Resolved, resolveSettings } from '../../config/resolve.ts';
import { envName, KEYS, STARTED_WITH, settingOf } from '../../config/settings.ts';
import { fromEnv } from '../../config/sources.ts';
import { UserError } from '../../errors.ts';
import { selfCommand } from '../../runtime/platform.ts';
import { throughServiceManager } from '../../service/manager.ts';
import { control, NotRunningError } from '../../supervisor/control-client.ts';
import type { RunningSettings } from '../../supervisor/control-protocol.ts';
import { MAIN_LOG } from '../../supervisor/output/log-sink.ts';
import { processAlive } from '../../supervisor/process-info.ts';
import { healthUrlOf, serving } from '../../supervisor/serving.ts';
import type { StatusReport } from '../../supervisor/status.ts';
import { superviseConfig } from '../../supervisor/supervise-config.ts';
import { superviseArgs } from '../args.ts';
import { prettyLine } from '../logs/pretty.ts';
import { tailLines } from '../logs/tail.ts';
import { commandData, givenFlags } from '../parse-args.ts';
import { installedServiceFor } from '../service-settings.ts';

/** What the background supervisor writes outside its log files (a crash before logging started). */
const SUPERVISOR_STDERR = 'supervisor-stderr.log';

export async function startInBackground(flags: Flags, passthrough: string[], apply = false): Promise<void> {
  const command = passthrough.length ? passthrough : undefined;
  const settings = loadSettings(flags, { custom: command !== undefined });
  const config = superviseConfig(settings, command);
  const { paths } = config;
  try {
    let running: RunningSettings | undefined;
    try {
      running = await control(paths.controlSocket, paths.home, 'settings', 3000);
    } catch (err) {
      // A supervisor of an earlier version (its binary replaced since) has no settings to compare.
      if (err instanceof NotRunningError) throw err;
    }
    const pid =
      running?.pid ?? (await control(paths.controlSocket, paths.home, 'status', 3000)).supervisor.pid;
    const differ = running ? differences(settings, running.env) : [];
    if (differ.length > 0 && apply && running) {
      // What it runs with, changed by what this start was given.
      const env = { ...running.env, ...config.given.env };
      const res = await control(paths.controlSocket, paths.home, 'apply', 300_000, env);
      process.stdout.write(
        `robbie (supervisor pid ${pid}) runs with ${res.applied.join(', ')} now: ${res.reloaded
          .map((r) => `${r.child} pid ${r.old_pid ?? '-'} → ${r.new_pid}`)
          .join(', ')}, with no gap\n`,
      );
      return;
    }
    if (differ.length > 0) {
      throw new UserError(
        `robbie is already running (supervisor pid ${pid}) with other settings: ${differ.join('; ')}. To apply them without a gap: robbie start --apply (or robbie stop, then start again)`,
      );
    }
    process.stdout.write(`robbie is already running (supervisor pid ${pid})\n`);
    return;
  } catch (err) {
    if (!(err instanceof NotRunningError)) throw err;
  }
  try {
    mkdirSync(paths.logDir, { recursive: true, mode: 0o750 });
  } catch (err) {
    throw new UserError(
      `cannot create the log directory ${paths.logDir}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  // Until the supervisor holds its lock, `robbie stop` learns from this marker that one is coming.
  const marker = startingMarker(paths.home);
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  writeFileSync(marker, String(process.pid), { mode: 0o600 });
  process.once('exit', () => rmSync(marker, { force: true }));
  const errPath = join(paths.logDir, SUPERVISOR_STDERR);
  const errFd = openSync(errPath, 'a', 0o640);
  // Every setting given reaches the supervisor in its environment, as written: none on its
  // command line, where `ps` would show a DATABASE_URL.
  const self = selfCommand(['supervise', ...(command ? ['--', ...command] : [])]);
  const child = spawn(self.command, self.args, {
    detached: true,
    stdio: ['ignore', 'ignore', errFd],
    env: {
      ...process.env,
      // The env file's variables, settings or not: the supervisor does not read it again.
      ...settings.fileEnv,
      ...config.given.env,
      // Where each came from, so that `robbie config` can say so rather than "environment".
      [STARTED_WITH]: JSON.stringify(config.given.origins),
      // Both, so that the supervisor's logs are where this command says they are.
      ROBBIE_HOME: paths.home,
      ROBBIE_LOG_DIR: paths.logDir,
    },
  });
  closeSync(errFd);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => {
    exit = { code, signal };
  });
  child.unref();

  const deadline = Date.now() + config.startTimeoutMs + 5000;
  const url = healthUrlOf(config);
  let last: StatusReport | undefined;
  while (Date.now() < deadline) {
    await sleep(100);
    if (exit) break;
    try {
      last = await control(paths.controlSocket, paths.home, 'status', 2000);
    } catch {
      continue;
    }
    if (!(await serving(last, config))) continue;
    const actives = last.children.filter((c) => c.role === 'active');
    process.stdout.write(
      `robbie started: supervisor pid ${last.supervisor.pid}, ${actives.length} child${actives.length > 1 ? 'ren' : ''}${config.command ? '' : `, ${url}`}\n` +
        `logs: ${join(paths.logDir, MAIN_LOG)} (robbie logs -f)\n`,
    );
    return;
  }

  // Not healthy: say why, show the log tail, and do not leave a half-started supervisor behind.
  const reason = exit
    ? `the supervisor exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`
    : describeUnhealthy(last);
  if (!exit) {
    try {
      await control(paths.controlSocket, paths.home, 'stop', 5000);
    } catch {
      // already gone
    }
  }
  const tail = [
    ...tailLines(errPath, 5),
    ...tailLines(join(paths.logDir, MAIN_LOG), 15).map((l) => prettyLine(l, false)),
  ];
  process.stderr.write(`robbie: start failed: ${reason}\n${tail.map((l) => `  ${l}`).join('\n')}\n`);
  process.exit(1);
}

/**
 * The settings given to this start (by flag, environment or env file) that the running supervisor
 * does not have, each as `--port 8200 (it runs with 8100)`; a secret's values are not shown.
 */
function differences(asked: Resolved, runningEnv: Record<string, string>): string[] {
  const running = resolveSettings([fromEnv(runningEnv)]);
  const out: string[] = [];
  for (const key of KEYS) {
    const s = settingOf(key);
    if (
      asked.origins[key].from === 'default' ||
      s.scope === 'process' ||
      key === 'home' ||
      key === 'env-file'
    )
      continue;
    if (JSON.stringify(asked.values[key]) === JSON.stringify(running.values[key])) continue;
    const now = runningEnv[envName(key)] ?? 'its default';
    const named = describeOrigin(key, asked.origins[key]);
    out.push(
      s.secret ? `${named} (not what it runs with)` : `${named} ${asked.raw[key]} (it runs with ${now})`,
    );
  }
  return out;
}

/** The file `robbie start` holds while the supervisor it launched is not yet running. */
export function startingMarker(home: string): string {
  return join(home, 'starting.pid');
}

/** True while a `robbie start` on this state directory is still bringing a supervisor up. */
export function startInProgress(home: string): boolean {
  try {
    return processAlive(Number(readFileSync(startingMarker(home), 'utf8')));
  } catch {
    return false;
  }
}

function describeUnhealthy(status: StatusReport | undefined): string {
  if (!status) return 'the supervisor did not answer in time';
  const bad = status.children.find((c) => c.role === 'active' && c.state !== 'running');
  if (!bad) return 'the API did not answer its health check in time';
  const exit = bad.last_exit;
  const how = exit
    ? `, last exit ${exit.error ?? (exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`)}`
    : '';
  return `${bad.id} is ${bad.state}${how}`;
}

export default defineCommand({
  meta: {
    name: 'start',
    description: 'Start the supervisor in the background; returns once the API is healthy',
  },
  args: {
    ...superviseArgs,
    apply: {
      type: 'boolean',
      description:
        'When it already runs with other settings: give its children the new ones by a rolling reload, with no gap',
    },
  },
  async run({ args, data }) {
    const service = installedServiceFor(args);
    if (!service) {
      await startInBackground(args, commandData(data).passthrough, args.apply === true);
      return;
    }
    throughServiceManager(service, 'start', (line) => process.stdout.write(`${line}\n`), givenFlags(args));
    process.stdout.write(`robbie started (${service.scope} service)\n`);
  },
});
