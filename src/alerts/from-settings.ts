import type { AlertSettings } from '../config/supervise-config.ts';
import { type Channel, emailChannel, webhookChannel } from './channels.ts';

/** The channels the settings configure: the webhook, email, both or none. */
export function alertChannels(a: AlertSettings): Channel[] {
  return [
    ...(a.webhook ? [webhookChannel(a.webhook)] : []),
    ...(a.email ? [emailChannel(a.email.smtpUrl, a.email.to, a.email.from)] : []),
  ];
}
