/**
 * What one robbie process hands another (a supervised child, the background supervisor): every
 * setting of some scopes that was not left at its default, as it was written, and where it came from.
 */
import { originText, type Resolved } from './resolve.ts';
import { envName, KEYS, type Scope, settingOf } from './settings.ts';

/** Where each setting `handOver` hands over came from, as `robbie config` shows an origin. */
export function handedOrigins(resolved: Resolved, scopes: readonly Scope[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of KEYS) {
    if (key === 'env-file' || resolved.raw[key] === undefined || !scopes.includes(settingOf(key).scope))
      continue;
    out[envName(key)] = originText(key, resolved.origins[key]);
  }
  return out;
}

/**
 * The environment that hands every setting of `scopes` that was not left at its default to another
 * robbie process (a supervised child, the background supervisor), as it was written. The one way
 * settings reach another process: nothing goes on its command line, where `ps` shows it.
 */
export function handOver(resolved: Resolved, scopes: readonly Scope[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of KEYS) {
    const text = resolved.raw[key];
    // The env file's values are in the environment already; reading it again would only repeat its warnings.
    if (key === 'env-file' || text === undefined || !scopes.includes(settingOf(key).scope)) continue;
    env[envName(key)] = text;
  }
  return env;
}
