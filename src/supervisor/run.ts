/** Runs `robbie supervise` to completion: lock, logs, predecessor clean-up, supervision, exit. */
import { unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Alerter } from '../alerts/alerter.ts';
import { alertChannels } from '../alerts/from-settings.ts';
import { resolveSettings } from '../config/resolve.ts';
import { fromEnv, fromVars } from '../config/sources.ts';
import { UserError } from '../errors.ts';
import { consoleLogger } from '../logger/logger.ts';
import { guardStdio } from '../logger/stdio.ts';
import { privateDir } from '../private-dir.ts';
import { selfCommand } from '../runtime/platform.ts';
import { nameProcess } from '../runtime/process-name.ts';
import { enableRequestMigration } from '../runtime/reuseport.ts';
import { systemdNotifier } from '../runtime/systemd-notify.ts';
import { tcpConnect } from '../runtime/tcp-connect.ts';
import { startTracing } from '../telemetry/tracing.ts';
import { ManagedChild } from './child.ts';
import { systemClock } from './clock.ts';
import { startControlServer } from './control-server.ts';
import { StateLock } from './lock.ts';
import { LogSink } from './output/log-sink.ts';
import { probeOnce } from './probe.ts';
import { healthUrlOf, serving } from './serving.ts';
import { reapPredecessor, writeState } from './state-file.ts';
import { type SuperviseConfig, superviseConfig } from './supervise-config.ts';
import { Supervisor } from './supervisor.ts';

/** Unix socket paths hold at most 107 bytes (sun_path); a longer one fails with a bare EINVAL. */
const MAX_SOCKET_PATH = 107;

export async function runSupervise(config: SuperviseConfig): Promise<number> {
  nameProcess('robbie supervise');
  const socketBytes = Buffer.byteLength(config.paths.controlSocket);
  if (socketBytes > MAX_SOCKET_PATH) {
    throw new UserError(
      `the state directory path is too long for its control socket (${socketBytes} bytes; unix sockets allow ${MAX_SOCKET_PATH}): use a shorter --home`,
    );
  }
  privateDir(config.paths.home, 'state directory');
  const lock = new StateLock(config.paths.lockFile);
  lock.acquire();
  try {
    // An unwritable log directory is reported and survived, not fatal: the sink retries.
    try {
      privateDir(config.paths.logDir, 'log directory', false);
    } catch {
      // reported by the sink on its first write
    }
    // The alerter logs through the sink, and the sink's failures are alerts: bound once both exist.
    let alerts: Alerter | undefined;
    const sink = new LogSink(config.paths.logDir, config.logs, (problem) => {
      process.stderr.write(`robbie: ${problem}\n`);
      if (problem.startsWith('cannot write')) alerts?.notify({ event: 'log-failing', message: problem });
    });
    // Supervisor events go to the console (pretty, JSON or journald) and into robbie.log.
    const log = consoleLogger(config.serve.console, process.stdout.isTTY === true, (line, level) =>
      sink.write(line, level),
    ).child({ source: 'supervisor', pid: process.pid });
    // Its own stdout or stderr failing (closed pipe, full disk, gone terminal) never stops the
    // supervisor: the condition is recorded in robbie.log only, never on the failing stream.
    guardStdio((stream, code, recovered) =>
      sink.write(
        `${JSON.stringify({
          time: new Date().toISOString(),
          level: 'warn',
          source: 'supervisor',
          pid: process.pid,
          msg: recovered
            ? `the supervisor's ${stream} is writable again`
            : `the supervisor's ${stream} cannot be written (${code}): its lines go to robbie.log only`,
        })}\n`,
        'warn',
      ),
    );
    alerts = new Alerter(alertChannels(config.alerts), {
      dedupeMs: config.alerts.dedupeMs,
      log,
      origin: { host: hostname(), service: config.paths.home },
    });
    await reapPredecessor(config.paths.stateFile, log, config.stopTimeoutMs);
    // Built-in children share their port and hand it over on reload, restart and promotion.
    if (!config.command) enableRequestMigration(log);
    if (!config.command && (await tcpConnect(config.serve.host, config.serve.port, 500)) === undefined) {
      throw new UserError(
        `port ${config.serve.port} on ${config.serve.host} is already served by another process (another robbie with a different --home?)`,
      );
    }
    // A bug in the supervisor must leave a trace in robbie.log, not only on a stderr nobody reads;
    // the children notice it is gone and stop, and systemd or launchd start it again.
    process.on('uncaughtException', (err) => {
      log.fatal('supervisor crashed', { err });
      sink.flush();
      process.exit(70);
    });
    const { tracer, exporter } = startTracing(config.serve.telemetry, log);
    const supervisor = new Supervisor(config, {
      log,
      tracer,
      spawn: (id, _role, spec) => new ManagedChild(id, spec, sink),
      clock: systemClock,
      probe: probeOnce,
      alerts,
      self: selfCommand,
      env: process.env,
      random: Math.random,
      persist: (children) => {
        try {
          writeState(config.paths.stateFile, {
            supervisorPid: process.pid,
            children: children.map((c) =>
              c.startToken ? { id: c.id, pgid: c.pid, start: c.startToken } : { id: c.id, pgid: c.pid },
            ),
          });
        } catch (err) {
          log.warn('cannot write the state file', {
            error: (err as NodeJS.ErrnoException).code ?? String(err),
          });
        }
      },
      logHealth: () => sink.health(),
    });
    const control = await startControlServer(
      config.paths.controlSocket,
      async ({ cmd, env }) => {
        switch (cmd) {
          case 'status':
            return supervisor.status();
          case 'stop':
            setImmediate(() => void supervisor.shutdown(0, 'robbie stop'));
            return { stopping: true, pid: process.pid };
          case 'restart':
            return supervisor.restart();
          case 'reload':
            return supervisor.reload();
          case 'settings':
            return { pid: process.pid, ...supervisor.given };
          case 'traffic':
            return supervisor.traffic();
          case 'apply':
            return supervisor.apply(
              // The env file read at its start still gives the children its other variables.
              superviseConfig(
                resolveSettings([
                  fromEnv(env ?? {}),
                  fromVars('the env file read at its start', config.fileEnv),
                ]),
                config.command,
              ),
            );
        }
      },
      log,
    );
    const onSignal = (signal: NodeJS.Signals) => void supervisor.shutdown(0, signal);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', () => {
      sink.reopen();
      log.info('log files reopened (SIGHUP)');
    });
    const notify = systemdNotifier(process.env, log);
    const pingMs = notify.startWatchdog();
    if (pingMs) log.info('systemd watchdog on', { ping_every_ms: pingMs });
    supervisor.start();
    void whenServing(supervisor, config, (what) => {
      // The one line a person starting robbie by hand looks for: where the API is.
      log.info(what);
      notify.ready(what);
    });
    const code = await supervisor.stopped;
    notify.stopping();
    notify.close();
    control.close();
    await exporter?.flush(2000);
    await sink.close();
    for (const f of [config.paths.stateFile, config.paths.controlSocket]) {
      try {
        unlinkSync(f);
      } catch {
        // gone
      }
    }
    return code;
  } finally {
    lock.release();
  }
}

/** Polls between checks of the first start, bounded by the start timeout (and a minute at least). */
const READY_POLL_MS = 100;

/**
 * Once every active child runs and, for the built-in API, /health answers: `ready` is told what is
 * served (`serving http://127.0.0.1:8000`) — printed, and READY for systemd, so that
 * `systemctl start` returns when the service works (or fails when it never does).
 */
async function whenServing(supervisor: Supervisor, config: SuperviseConfig, ready: (what: string) => void) {
  const deadline = performance.now() + Math.max(60_000, config.startTimeoutMs * 2);
  let stopped = false;
  void supervisor.stopped.then(() => {
    stopped = true;
  });
  while (!stopped && performance.now() < deadline) {
    if (await serving(supervisor.status(), config)) {
      const where = healthUrlOf(config).replace('/health', '');
      ready(config.command ? `supervising ${config.command[0]}` : `serving ${where}`);
      return;
    }
    await sleep(READY_POLL_MS);
  }
}
