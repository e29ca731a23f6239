/**
 * Alerts to a webhook (Slack-compatible: a `text` field, plus structured fields) on crash, hang,
 * cool-down and recovery. Deduplicated per event and child within `dedupeMs` (a crash loop sends one
 * crash alert, and the next one counts what was suppressed); each POST is bounded in time; a
 * failing receiver is logged and never disturbs supervision.
 */
import type { Logger } from '../logger/logger.ts';
import { redact } from '../logger/redact.ts';

export type AlertEvent =
  | 'crash'
  | 'hang'
  | 'cooldown'
  | 'recovery'
  | 'gave-up'
  | 'config-refused'
  | 'restart-rate';

export interface Alert {
  event: AlertEvent;
  child?: string;
  message: string;
  [field: string]: unknown;
}

const POST_TIMEOUT_MS = 5000;
const MAX_QUEUE = 50;

export class Alerter {
  readonly #url: string | undefined;
  readonly #dedupeMs: number;
  readonly #log: Logger;
  readonly #lastSent = new Map<string, { at: number; suppressed: number }>();
  readonly #hostname: string;
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(url: string | undefined, dedupeMs: number, log: Logger, hostname: string) {
    this.#url = url;
    this.#dedupeMs = dedupeMs;
    this.#log = log;
    this.#hostname = hostname;
  }

  notify(alert: Alert): void {
    if (!this.#url) return;
    const key = `${alert.event}:${alert.child ?? ''}`;
    const now = Date.now();
    const last = this.#lastSent.get(key);
    if (last && now - last.at < this.#dedupeMs) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#lastSent.set(key, { at: now, suppressed: 0 });
    if (this.#pending >= MAX_QUEUE) {
      this.#log.warn('alert queue full: alert dropped', { event: alert.event });
      return;
    }
    const body = {
      text: `robbie on ${this.#hostname}: ${alert.message}${suppressed ? ` (${suppressed} similar alerts suppressed)` : ''}`,
      ...alert,
      host: this.#hostname,
      time: new Date(now).toISOString(),
      suppressed,
    };
    this.#pending++;
    // One at a time, in order; a slow receiver delays alerts, never the supervisor.
    this.#queue = this.#queue.then(() => this.#post(body)).finally(() => this.#pending--);
  }

  /** Waits (bounded) for queued alerts, e.g. before the supervisor exits. */
  async drain(timeoutMs = POST_TIMEOUT_MS): Promise<void> {
    await Promise.race([this.#queue, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  async #post(body: Record<string, unknown>): Promise<void> {
    try {
      const res = await fetch(this.#url as string, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(POST_TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (!res.ok)
        this.#log.warn('alert webhook answered an error', { status: res.status, event: body.event });
    } catch (err) {
      this.#log.warn('alert webhook failed', {
        event: body.event,
        error: redact(
          err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err),
        ),
      });
    }
  }
}
