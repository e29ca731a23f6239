/**
 * Which settings a command about the service goes by: the running supervisor's own first (asked
 * over its control socket), then the installed service's env file, then this environment and the
 * defaults.
 */
import type { EnvFile } from '../config/env-file.ts';
import { installedServiceFor, type LoadOptions, loadSettings } from '../config/load.ts';
import { resolvePaths } from '../config/paths.ts';
import type { Flags, Resolved } from '../config/resolve.ts';
import { envName, KEYS, settingOf } from '../config/settings.ts';
import { control } from '../supervisor/control-client.ts';
import type { RunningSettings } from '../supervisor/control-protocol.ts';

/** The settings a command that describes the service goes by, and where they came from. */
export interface ServiceSettings {
  settings: Resolved;
  /** `the running supervisor, pid 123`, `the installed system service (/etc/robbie/robbie.env)`, … */
  source: string;
}

/**
 * The settings of the service a command talks about: the running supervisor's own, asked over its
 * control socket; else the installed service's env file; else this environment and the defaults.
 * A flag still wins: it is the user asking about something else.
 */
export async function settingsOfService(flags: Flags, opts: LoadOptions = {}): Promise<ServiceSettings> {
  const here = loadSettings(flags, { ...opts, discover: true });
  const paths = resolvePaths(here.values);
  let running: RunningSettings;
  try {
    running = await control(paths.controlSocket, paths.home, 'settings', 3000);
  } catch {
    const service = installedServiceFor(flags, opts.env);
    return {
      settings: here,
      source: service
        ? `the installed ${service.scope} service (${service.envFile})`
        : 'this environment and the defaults (no supervisor runs)',
    };
  }
  const source = `the running supervisor, pid ${running.pid}`;
  // Its settings and nothing else: one it was not given is at its default, whatever this shell
  // says. This process's own (its log format) stay this shell's.
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env) };
  for (const key of KEYS) if (settingOf(key).scope !== 'process') delete env[envName(key)];
  Object.assign(env, running.env);
  const given: EnvFile = {
    path: source,
    supervisorPid: running.pid,
    origins: new Map(Object.entries(running.origins ?? {})),
    entries: new Map(Object.entries(running.env).map(([name, value]) => [name, { value, line: 0 }])),
  };
  return { settings: loadSettings(flags, { ...opts, env, given }), source };
}
