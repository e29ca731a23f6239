/**
 * What every command does first: find the env file (the flag, ROBBIE_ENV_FILE, or the installed
 * service's), merge it below the environment, report unknown ROBBIE_* variables, and resolve the
 * settings table.
 */
import { findInstalledService, type InstalledService } from '../service/installed.ts';
import { type EnvFile, EnvFileError, mergeBelow, readEnvFile } from './env-file.ts';
import { type Paths, resolvePaths } from './paths.ts';
import {
  type Flags,
  type Resolved,
  registerSettingSecrets,
  resolveSettings,
  settingError,
  unknownSettings,
} from './resolve.ts';
import { envName } from './settings.ts';

export interface LoadOptions {
  /**
   * For commands that talk to or about the service: with no env file and no state directory
   * given, use the installed service's env file and state directory.
   */
  discover?: boolean;
  /** `supervise -- CMD`: defaults for a command of the user's. */
  custom?: boolean;
  env?: NodeJS.ProcessEnv;
  warn?: (line: string) => void;
  /** Settings already in `env` that came from elsewhere (the running supervisor): their origin. */
  given?: EnvFile;
}

const warned = new Set<string>();

const stderrWarning = (line: string) => process.stderr.write(`robbie: warning: ${line}\n`);

export function loadSettings(flags: Flags, opts: LoadOptions = {}): Resolved {
  // A copy: the env files' values go below the environment here, never into process.env.
  const env = { ...(opts.env ?? process.env) };
  const warn = opts.warn ?? stderrWarning;
  const where = resolveSettings({ flags, env }, undefined, ['env-file', 'home']);
  const files: EnvFile[] = [];
  const path = where.values['env-file'];
  if (path) {
    try {
      files.push(readEnvFile(path, warn));
    } catch (err) {
      if (!(err instanceof EnvFileError)) throw err;
      throw settingError('env-file', where.origins['env-file'], `cannot be read: ${path}: ${err.code}`);
    }
  } else if (opts.discover && where.values.home === undefined) {
    const service = findInstalledService(env);
    if (service) {
      try {
        files.push(readEnvFile(service.envFile, warn));
      } catch (err) {
        if (!(err instanceof EnvFileError)) throw err;
        warn(
          `cannot read ${service.envFile}, the settings of the installed ${service.scope} service (${err.code}): run as root or the service's user, or give --env-file`,
        );
      }
      // The unit's own Environment= lines: where the service keeps its state and logs.
      files.push({
        path: service.unit,
        entries: new Map([
          [envName('home'), { value: service.home, line: 0 }],
          [envName('log-dir'), { value: service.logDir, line: 0 }],
        ]),
      });
    }
  }
  const fileEnv: Record<string, string> = {};
  for (const file of files) Object.assign(fileEnv, mergeBelow(env, file));
  if (opts.given) files.unshift(opts.given);
  // A supervised child's environment was checked by its supervisor.
  if (!env.ROBBIE_SUPERVISED) {
    for (const w of unknownSettings(env, files)) {
      // A command that loads the settings twice (restart starting a supervisor) warns once.
      if (warned.has(w)) continue;
      warned.add(w);
      warn(w);
    }
  }
  const resolved = resolveSettings({ flags, env, files, fileEnv }, { custom: opts.custom ?? false });
  registerSettingSecrets(resolved);
  return resolved;
}

/** Where the service keeps its state and logs, for a command that talks to or about it. */
export function servicePaths(flags: Flags): Paths {
  return resolvePaths(loadSettings(flags, { discover: true }).values);
}

/**
 * The installed service a command talks to when it is given no env file and no state directory
 * of its own; undefined otherwise, or when none is installed.
 */
export function installedServiceFor(
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
): InstalledService | undefined {
  const where = resolveSettings({ flags, env }, undefined, ['env-file', 'home']);
  if (where.values['env-file'] !== undefined || where.values.home !== undefined) return undefined;
  return findInstalledService(env);
}
