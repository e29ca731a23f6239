/** The settings' secrets, registered so that no log line or message ever shows them. */
import { registerSecret } from '../logger/redact.ts';
import type { Resolved } from './resolve.ts';
import { KEYS, settingOf } from './settings.ts';

/** A URL's password and query values: what a URL setting may carry that is nobody's business. */
function urlCredentials(url: string): string[] {
  try {
    const u = new URL(url);
    return [decodeURIComponent(u.password), ...[...u.searchParams.values()]].filter((v) => v.length >= 4);
  } catch {
    return [];
  }
}

/**
 * Every secret setting's value is masked wherever it would appear in a log line or a message: the
 * keys themselves, and the password of a secret URL (DATABASE_URL, ROBBIE_SMTP_URL).
 */
export function registerSettingSecrets(resolved: Resolved): void {
  for (const key of KEYS) {
    const s = settingOf(key);
    const value = resolved.values[key] as unknown;
    if (s.kind === 'url' && !s.secret && value !== undefined) {
      // A URL setting that is no secret may still carry credentials (http://user:pass@host).
      for (const part of urlCredentials(String(value))) registerSecret(part);
      continue;
    }
    if (!s.secret || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) registerSecret(String(v));
    else if (s.kind === 'url') {
      try {
        registerSecret(decodeURIComponent(new URL(String(value)).password));
      } catch {
        // not a URL: refused by its codec already
      }
    } else registerSecret(String(value));
  }
}
