/**
 * Finds the robbie service installed on this machine, so that `robbie status`, `health`, `logs` and
 * the rest read the settings and state the service uses without being told where they are.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isRoot } from '../config/paths.ts';
import { type Platform, type Scope, type ServiceLocations, serviceLocations } from './plan.ts';

export interface InstalledService extends ServiceLocations {
  scope: Scope;
}

/**
 * The installed service's locations: as root the system service first, otherwise the user's own
 * first; undefined when neither unit (or plist) exists, or on a platform without services.
 */
export function findInstalledService(env: NodeJS.ProcessEnv = process.env): InstalledService | undefined {
  const platform = process.platform;
  if (platform !== 'linux' && platform !== 'darwin') return undefined;
  const scopes: Scope[] = isRoot() ? ['system', 'user'] : ['user', 'system'];
  for (const scope of scopes) {
    const where = serviceLocations(platform as Platform, scope, env.HOME || homedir());
    if (existsSync(where.unit)) return { scope, ...where };
  }
  return undefined;
}
