import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where robbie keeps its state (lock, control socket, SQLite store, outbox) and its logs:
 * the `home` and `log-dir` settings when given; otherwise system-wide as root
 * (/var/lib/robbie, /var/log/robbie), per user elsewhere ($XDG_STATE_HOME/robbie, or on macOS
 * ~/Library/Application Support/robbie and ~/Library/Logs/robbie).
 */
export interface Paths {
  home: string;
  logDir: string;
  controlSocket: string;
  lockFile: string;
  stateFile: string;
}

/** The `home` and `log-dir` settings, as resolved (undefined: the default for this platform). */
export interface PathSettings {
  home?: string | undefined;
  'log-dir'?: string | undefined;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function resolvePaths(settings: PathSettings, env: NodeJS.ProcessEnv = process.env): Paths {
  const explicitHome = settings.home;
  let home: string;
  let defaultLogs: string;
  if (explicitHome) {
    home = resolve(explicitHome);
    defaultLogs = join(home, 'logs');
  } else if (isRoot() && process.platform !== 'darwin') {
    home = '/var/lib/robbie';
    defaultLogs = '/var/log/robbie';
  } else if (process.platform === 'darwin') {
    const base = isRoot() ? '/Library' : join(env.HOME || homedir(), 'Library');
    home = join(base, 'Application Support/robbie');
    defaultLogs = join(base, 'Logs/robbie');
  } else {
    const stateHome = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local/state');
    home = join(stateHome, 'robbie');
    defaultLogs = join(home, 'logs');
  }
  const logDir = resolve(settings['log-dir'] || defaultLogs);
  return {
    home,
    logDir,
    controlSocket: join(home, 'control.sock'),
    lockFile: join(home, 'supervisor.lock'),
    stateFile: join(home, 'supervisor.json'),
  };
}
