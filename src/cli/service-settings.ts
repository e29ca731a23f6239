/**
 * Which settings a command about the service goes by: the running supervisor's own first (asked
 * over its control socket), then the installed service's env file, then this environment and the
 * defaults.
 */
import { type LoadOptions, loadSettings, namesNoService } from '../config/load.ts';
import { type Paths, resolvePaths } from '../config/paths.ts';
import type { Flags, Resolved } from '../config/resolve.ts';
import { findInstalledService, type InstalledService } from '../service/installed.ts';
import { control } from '../supervisor/control-client.ts';
import type { RunningSettings } from '../supervisor/control-protocol.ts';

/** The settings a command that describes the service goes by, and where they came from. */
export interface ServiceSettings {
  settings: Resolved;
  /** `the running supervisor, pid 123`, `the installed system service (/etc/robbie/robbie.env)`, … */
  source: string;
}

/**
 * The installed service a command talks to when it is given no env file and no state directory
 * of its own; undefined otherwise, or when none is installed.
 */
export function installedServiceFor(
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
): InstalledService | undefined {
  return namesNoService(flags, env) ? findInstalledService(env) : undefined;
}

/** The settings of the service a command talks about, short of asking it: the installed service's, or these. */
export function serviceSettingsHere(flags: Flags, opts: LoadOptions = {}): Resolved {
  return loadSettings(flags, { ...opts, installed: findInstalledService });
}

/** Where the service keeps its state and logs, for a command that talks to or about it. */
export function servicePaths(flags: Flags): Paths {
  return resolvePaths(serviceSettingsHere(flags).values);
}

/**
 * The settings of the service a command talks about: the running supervisor's own, asked over its
 * control socket; else the installed service's env file; else this environment and the defaults.
 * A flag still wins: it is the user asking about something else.
 */
export async function settingsOfService(flags: Flags, opts: LoadOptions = {}): Promise<ServiceSettings> {
  const here = serviceSettingsHere(flags, opts);
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
  // Its settings and nothing else: one it was not given is at its default, whatever this shell
  // says. This process's own (its log format) stay this shell's.
  return {
    settings: serviceSettingsHere(flags, { ...opts, running }),
    source: `the running supervisor, pid ${running.pid}`,
  };
}
