/**
 * `robbie start --apply`: which of a start's settings a running supervisor can take without a gap.
 * What its children run with (the API's settings) changes by a rolling reload; what the supervisor
 * itself runs with (its probes, restart policy, logs, state directory) and the address the children
 * share are fixed for its lifetime: those need a stop and a start.
 */

import { envName, KEYS, type Key, settingOf } from '../config/settings.ts';
import type { SuperviseConfig } from './supervise-config.ts';

export interface SettingsChange {
  /** Settings (as `--flag`) whose value differs. */
  changed: string[];
  /** Of those, the ones only a new supervisor takes. */
  needRestart: string[];
}

/** Settings that stay with the supervisor: its own scope, its paths, the address it serves. */
function fixed(key: Key): boolean {
  const scope = settingOf(key).scope;
  return scope === 'supervise' || scope === 'paths' || key === 'host' || key === 'port';
}

export function settingsChange(before: SuperviseConfig, next: SuperviseConfig): SettingsChange {
  const changed: string[] = [];
  const needRestart: string[] = [];
  for (const key of KEYS) {
    const name = envName(key);
    if (before.given.env[name] === next.given.env[name]) continue;
    changed.push(`--${key}`);
    if (fixed(key)) needRestart.push(`--${key}`);
  }
  // A custom command is the supervisor's too.
  if (JSON.stringify(before.command) !== JSON.stringify(next.command)) needRestart.push('the command');
  return { changed, needRestart };
}
