/**
 * The receivers of alerts. Each `send` resolves with what the receiver answered, or rejects with
 * why it failed; both are bounded in time.
 */
import { maskedUrl, redact, registerSecret } from '../logger/redact.ts';
import type { Composed } from './alert.ts';

export interface Channel {
  /** How `robbie alert test` and the log name it, secrets hidden. */
  name: string;
  send(alert: Composed): Promise<string>;
}

const TIMEOUT_MS = 5000;

/** A Slack-compatible webhook: JSON with a `text` field, plus the structured fields. */
export function webhookChannel(url: string): Channel {
  // All of it: the path is the token (Slack's /services/T…/B…/xyz).
  registerSecret(url);
  return {
    name: `webhook ${maskedUrl(url)}`,
    async send(alert) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alert.fields),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`answered HTTP ${res.status}`);
      return `answered HTTP ${res.status}`;
    },
  };
}

/**
 * Email through any SMTP server, by nodemailer: `smtp://user:pass@host:587` (STARTTLS when the
 * server offers it) or `smtps://…:465` (TLS from the start).
 */
export function emailChannel(smtpUrl: string, to: readonly string[], from: string): Channel {
  const u = new URL(smtpUrl);
  // Loaded on the first alert: a supervisor that never mails never pays for nodemailer's memory.
  const transport = async () =>
    (await import('nodemailer')).createTransport({
      host: u.hostname,
      port: Number(u.port) || (u.protocol === 'smtps:' ? 465 : 587),
      secure: u.protocol === 'smtps:',
      ...(u.username
        ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } }
        : {}),
      connectionTimeout: TIMEOUT_MS,
      greetingTimeout: TIMEOUT_MS,
      socketTimeout: TIMEOUT_MS * 2,
    });
  let mailer: Awaited<ReturnType<typeof transport>> | undefined;
  return {
    name: `email to ${to.join(', ')} via ${u.protocol}//${u.host}`,
    async send(alert) {
      mailer ??= await transport();
      const info = await mailer.sendMail({ from, to: [...to], subject: alert.subject, text: alert.text });
      return `accepted (${redact(String(info.response ?? 'ok'))})`;
    },
  };
}
