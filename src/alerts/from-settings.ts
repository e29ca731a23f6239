import { type Resolved, settingError } from '../config/resolve.ts';
import { type Channel, emailChannel, webhookChannel } from './channels.ts';

/** Where alerts go and how often. */
export interface AlertSettings {
  webhook: string | undefined;
  email: { to: string[]; smtpUrl: string; from: string } | undefined;
  dedupeMs: number;
  /** The database unreachable this long is an alert. */
  databaseDownAfterMs: number;
}

export function alertSettings(s: Resolved): AlertSettings {
  const v = s.values;
  const to = v['alert-email'] ?? [];
  if (to.length > 0 && !v['smtp-url'])
    throw settingError('alert-email', s.origins['alert-email'], 'needs an SMTP server: set ROBBIE_SMTP_URL');
  return {
    webhook: v['alert-webhook'],
    email: to.length > 0 && v['smtp-url'] ? { to, smtpUrl: v['smtp-url'], from: v['alert-from'] } : undefined,
    dedupeMs: v['alert-dedupe'],
    databaseDownAfterMs: v['alert-db-down-after'],
  };
}

/** The channels the settings configure: the webhook, email, both or none. */
export function alertChannels(a: AlertSettings): Channel[] {
  return [
    ...(a.webhook ? [webhookChannel(a.webhook)] : []),
    ...(a.email ? [emailChannel(a.email.smtpUrl, a.email.to, a.email.from)] : []),
  ];
}
