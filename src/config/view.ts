/** The settings as `robbie config` shows them: each value with its origin, secrets and credentials hidden. */
import { maskedUrl } from '../logger/redact.ts';
import { originText, type Resolved } from './resolve.ts';
import { envName, KEYS, settingOf } from './settings.ts';

export interface SettingView {
  /** As `robbie config` shows it: secrets hidden, unset as null. */
  value: string | number | boolean | string[] | null;
  env: string;
  /** `default`, `flag --max-body`, `env ROBBIE_MAX_BODY`, `file /etc/robbie/robbie.env:3`, `running supervisor (pid 12)`. */
  origin: string;
}

/** A URL as shown: its user, password and query hidden when it has them. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password && !u.search) return url;
    return `${u.protocol}//${u.username || u.password ? '***@' : ''}${u.host}${u.pathname === '/' ? '' : u.pathname}${u.search ? '?***' : ''}`;
  } catch {
    return url;
  }
}

/** Every setting (or only those given, not defaulted) as it may be shown: secrets never. */
export function viewSettings(resolved: Resolved, onlyGiven = false): Record<string, SettingView> {
  const out: Record<string, SettingView> = {};
  for (const key of KEYS) {
    const origin = resolved.origins[key];
    if (!origin || (onlyGiven && origin.from === 'default')) continue;
    const s = settingOf(key);
    const value = resolved.values[key] as unknown;
    let shown: SettingView['value'];
    if (value === undefined) shown = null;
    else if (s.secret) shown = s.kind === 'url' ? `${maskedUrl(String(value))} (hidden)` : 'set (hidden)';
    else if (s.kind === 'url') shown = withoutCredentials(String(value));
    else if (typeof value === 'number' && (s.kind === 'duration' || s.kind === 'size'))
      shown = s.codec.format(value);
    else if (typeof value === 'object' && !Array.isArray(value)) shown = s.codec.format(value);
    else shown = value as SettingView['value'];
    out[key] = { value: shown, env: envName(key), origin: originText(key, origin) };
  }
  return out;
}
