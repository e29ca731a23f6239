/**
 * What every command does first: put its sources in order (flags, its environment, the running
 * supervisor when asked, the env file: the flag's, ROBBIE_ENV_FILE's or the installed service's),
 * report unknown ROBBIE_* variables, and resolve the settings table.
 */
import { EnvFileError, readEnvFile } from './env-file.ts';
import { type Resolved, resolveSettings, settingError } from './resolve.ts';
import { registerSettingSecrets } from './secrets.ts';
import { envName, KEYS, settingOf } from './settings.ts';
import {
  type Flags,
  fromEnv,
  fromFile,
  fromFlags,
  fromSupervisor,
  fromVars,
  type Source,
} from './sources.ts';
import { unknownSettings } from './unknown-settings.ts';

/** Where an installed service keeps its settings, state and logs. */
export interface ServiceLocation {
  scope: string;
  /** Its env file. */
  envFile: string;
  /** Its unit (or plist), which sets its state and log directories. */
  unit: string;
  home: string;
  logDir: string;
}

/** What a running supervisor says it runs with: the settings it was given, and where it was given each. */
export interface RunningSupervisor {
  pid: number;
  env: Readonly<Record<string, string>>;
  origins?: Readonly<Record<string, string>> | undefined;
}

export interface LoadOptions {
  /**
   * For commands that talk to or about the service: the installed service, if any. With no env
   * file and no state directory given, its env file and unit are the lowest sources.
   */
  installed?: ((env: NodeJS.ProcessEnv) => ServiceLocation | undefined) | undefined;
  /**
   * The running supervisor's settings, for commands that describe it: a source just below the
   * flags, and this environment gives only this process's own settings (its log format).
   */
  running?: RunningSupervisor | undefined;
  /** `supervise -- CMD`: defaults for a command of the user's. */
  custom?: boolean;
  env?: NodeJS.ProcessEnv;
  warn?: (line: string) => void;
}

const warned = new Set<string>();

const stderrWarning = (line: string) => process.stderr.write(`robbie: warning: ${line}\n`);

/** This environment without the settings a running supervisor has its own values of. */
function ownSettingsOnly(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const own = { ...env };
  for (const key of KEYS) if (settingOf(key).scope !== 'process') delete own[envName(key)];
  return own;
}

/** The sources below those given: the env file a setting names, else the installed service's. */
function envFileSources(above: readonly Source[], env: NodeJS.ProcessEnv, opts: LoadOptions): Source[] {
  const warn = opts.warn ?? stderrWarning;
  const where = resolveSettings(above, undefined, ['env-file', 'home']);
  const path = where.values['env-file'];
  if (path) {
    try {
      return [fromFile(readEnvFile(path, warn))];
    } catch (err) {
      if (!(err instanceof EnvFileError)) throw err;
      throw settingError('env-file', where.origins['env-file'], `cannot be read: ${path}: ${err.code}`);
    }
  }
  const service = where.values.home === undefined ? opts.installed?.(env) : undefined;
  if (!service) return [];
  const below: Source[] = [];
  try {
    below.push(fromFile(readEnvFile(service.envFile, warn)));
  } catch (err) {
    if (!(err instanceof EnvFileError)) throw err;
    warn(
      `cannot read ${service.envFile}, the settings of the installed ${service.scope} service (${err.code}): run as root or the service's user, or give --env-file`,
    );
  }
  // The unit's own Environment= lines: where the service keeps its state and logs.
  below.push(
    fromVars(service.unit, { [envName('home')]: service.home, [envName('log-dir')]: service.logDir }),
  );
  return below;
}

export function loadSettings(flags: Flags, opts: LoadOptions = {}): Resolved {
  const env = opts.env ?? process.env;
  const { running } = opts;
  const above: Source[] = running
    ? [
        fromFlags(flags),
        fromEnv(ownSettingsOnly(env)),
        fromSupervisor(running.pid, running.env, running.origins),
      ]
    : [fromFlags(flags), fromEnv(env)];
  const sources = [...above, ...envFileSources(above, env, opts)];
  // A supervised child's environment was checked by its supervisor.
  if (!env.ROBBIE_SUPERVISED) {
    for (const w of unknownSettings(sources)) {
      // A command that loads the settings twice (restart starting a supervisor) warns once.
      if (warned.has(w)) continue;
      warned.add(w);
      (opts.warn ?? stderrWarning)(w);
    }
  }
  const resolved = resolveSettings(sources, { custom: opts.custom ?? false });
  registerSettingSecrets(resolved);
  return resolved;
}

/** True when the flags and environment name no env file and no state directory of their own. */
export function namesNoService(flags: Flags, env: NodeJS.ProcessEnv = process.env): boolean {
  const where = resolveSettings([fromFlags(flags), fromEnv(env)], undefined, ['env-file', 'home']);
  return where.values['env-file'] === undefined && where.values.home === undefined;
}
