/** `robbie stop`, `restart`, `reload` and `status`: commands that talk to a running supervisor. */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineCommand } from 'citty';
import { durationCodec } from '../../config/kinds.ts';
import { formatDuration } from '../../config/units.ts';
import { flagValue } from '../../config/values.ts';
import { UserError } from '../../errors.ts';
import { throughServiceManager } from '../../service/manager.ts';
import { control, NotRunningError } from '../../supervisor/control-client.ts';
import type { ControlAnswers } from '../../supervisor/control-protocol.ts';
import { ownerAlive, readLock } from '../../supervisor/lock.ts';
import { processAlive } from '../../supervisor/process-info.ts';
import { formatStatus } from '../../supervisor/status.ts';
import type { RollResult } from '../../supervisor/supervisor.ts';
import { pathArgs, superviseArgs } from '../args.ts';
import { commandData, givenFlags } from '../parse-args.ts';
import { installedServiceFor, servicePaths } from '../service-settings.ts';
import { terminalSafe } from '../terminal-safe.ts';
import { startInBackground, startInProgress } from './start.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

export const stop = defineCommand({
  meta: { name: 'stop', description: 'Stop the supervisor and its children gracefully' },
  args: {
    ...pathArgs,
    timeout: {
      type: 'string',
      description: 'How long to wait for everything to stop (default 60s)',
      valueHint: 'duration',
    },
  },
  async run({ args }) {
    const service = installedServiceFor(args);
    if (service) {
      throughServiceManager(service, 'stop', out);
      process.stdout.write('robbie stopped\n');
      return;
    }
    const paths = servicePaths(args);
    const waitMs = flagValue('timeout', args.timeout as string | undefined, durationCodec(1), 60_000);
    const res = await stopStarting(paths);
    const deadline = Date.now() + waitMs;
    while (processAlive(res.pid)) {
      if (Date.now() > deadline) {
        throw new UserError(
          `the supervisor (pid ${res.pid}) is still stopping after ${formatDuration(waitMs)}`,
        );
      }
      await sleep(50);
    }
    process.stdout.write(`robbie stopped (supervisor pid ${res.pid})\n`);
  },
});

/**
 * Sends stop; a supervisor that holds the lock but has not opened its control socket yet (it is
 * starting) is waited for, rather than reported as not running and left to come up anyway.
 */
async function stopStarting(paths: {
  controlSocket: string;
  home: string;
  lockFile: string;
}): Promise<ControlAnswers['stop']> {
  const deadline = Date.now() + STARTING_WAIT_MS;
  for (let i = 0; ; i++) {
    try {
      return await control(paths.controlSocket, paths.home, 'stop', 5000);
    } catch (err) {
      const owner = readLock(paths.lockFile);
      const starting =
        err instanceof NotRunningError &&
        ((owner !== undefined && ownerAlive(owner)) || startInProgress(paths.home));
      if (!starting || Date.now() > deadline || i > 10_000) throw err;
      await sleep(50);
    }
  }
}

/** How long `stop` waits for a supervisor that is still starting to open its control socket. */
const STARTING_WAIT_MS = 15_000;

export const restart = defineCommand({
  meta: {
    name: 'restart',
    description:
      'Replace every child with no gap, ending any backoff or cool-down (starts the supervisor when none runs)',
  },
  args: superviseArgs,
  async run({ args, data }) {
    const paths = servicePaths(args);
    try {
      const res = await control(paths.controlSocket, paths.home, 'restart', 300_000);
      process.stdout.write(formatRoll(res.restarted));
    } catch (err) {
      if (!(err instanceof NotRunningError)) throw err;
      const service = installedServiceFor(args);
      if (service) throughServiceManager(service, 'start', out, givenFlags(args));
      else await startInBackground(args, commandData(data).passthrough);
    }
  },
});

export const reload = defineCommand({
  meta: {
    name: 'reload',
    description: 'Zero-downtime rolling restart: each new child is healthy before the old one drains',
  },
  args: pathArgs,
  async run({ args }) {
    const paths = servicePaths(args);
    const res = await control(paths.controlSocket, paths.home, 'reload', 300_000);
    process.stdout.write(formatRoll(res.reloaded));
  },
});

function formatRoll(rows: RollResult): string {
  return rows.map((r) => `${r.child}: ${r.old_pid ? `pid ${r.old_pid} → ` : ''}pid ${r.new_pid}\n`).join('');
}

export const status = defineCommand({
  meta: {
    name: 'status',
    description: 'Show the supervisor and each child: pid, state, uptime, restarts, probes, memory',
  },
  args: { ...pathArgs, json: { type: 'boolean', description: 'Print the status as JSON' } },
  async run({ args }) {
    const paths = servicePaths(args);
    const report = await control(paths.controlSocket, paths.home, 'status', 5000);
    process.stdout.write(
      args.json
        ? `${JSON.stringify(report, null, 2)}\n`
        : `${formatStatus(report).split('\n').map(terminalSafe).join('\n')}\n`,
    );
  },
});
