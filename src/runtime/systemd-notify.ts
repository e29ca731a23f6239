/**
 * Tells systemd how the service is doing (`Type=notify`): READY once the API answers, a watchdog
 * ping from the event loop (`WatchdogSec=`), STOPPING on the way out.
 *
 * Node has no AF_UNIX datagram sockets, which the notify protocol needs, so each message goes
 * through `systemd-notify`, which ships with systemd itself and so is present wherever the unit
 * runs. The unit says `NotifyAccess=all`, as these messages come from a child of the supervisor.
 * A ping costs one short-lived process (a few milliseconds of CPU) every WatchdogSec/2.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../logger/logger.ts';

/** Variables systemd sets for the service's main process only. */
export const NOTIFY_ENV = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

export interface Notifier {
  /** False when not run by systemd as a notify service: every call does nothing. */
  readonly enabled: boolean;
  ready(status: string): void;
  stopping(): void;
  /** Starts the watchdog pings (when systemd asked for them); returns how often, in ms. */
  startWatchdog(): number | undefined;
  close(): void;
}

const NONE: Notifier = {
  enabled: false,
  ready() {},
  stopping() {},
  startWatchdog: () => undefined,
  close() {},
};

export function systemdNotifier(env: NodeJS.ProcessEnv, log: Logger, pid = process.pid): Notifier {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return NONE;
  // The children must not talk to systemd in the supervisor's name.
  const childEnv = { PATH: env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket };
  let warned = false;
  const send = (args: string[]) => {
    const p = spawn('systemd-notify', args, { env: childEnv, stdio: 'ignore' });
    p.on('error', (err: NodeJS.ErrnoException) => {
      if (warned) return;
      warned = true;
      log.warn('cannot notify systemd (is systemd-notify installed?)', { reason: err.code ?? err.message });
    });
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    enabled: true,
    ready: (status) => send(['--ready', `--status=${status}`]),
    stopping: () => send(['STOPPING=1']),
    startWatchdog() {
      const usec = Number(env.WATCHDOG_USEC);
      const forPid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : pid;
      if (!Number.isFinite(usec) || usec <= 0 || forPid !== pid) return undefined;
      // Half the timeout: one late ping is not yet a missed one.
      const everyMs = Math.max(100, Math.floor(usec / 2000));
      send(['WATCHDOG=1']);
      timer = setInterval(() => send(['WATCHDOG=1']), everyMs);
      timer.unref();
      return everyMs;
    },
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
