/**
 * The one path every alert takes, to every channel: deduplicated per event and child within a
 * window (a crash loop sends one crash alert, and the next one counts what was suppressed), queued
 * per channel (bounded), retried with backoff when a receiver fails. A failing or slow receiver is
 * logged and never disturbs supervision or serving: `notify` returns at once.
 */
import type { Logger } from '../logger/logger.ts';
import { redact } from '../logger/redact.ts';
import { type Alert, type Composed, compose, type Origin } from './alert.ts';
import type { Channel } from './channels.ts';

const MAX_QUEUE = 50;
/** Waits before the retries of a failed send: three more tries within about half a minute. */
export const RETRY_DELAYS_MS = [1000, 5000, 20_000];

export function errorText(err: unknown): string {
  const e = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return redact(e instanceof Error ? e.message : String(e));
}

class Queue {
  #tail: Promise<void> = Promise.resolve();
  pending = 0;
  readonly channel: Channel;
  readonly log: Logger;
  readonly delays: readonly number[];
  constructor(channel: Channel, log: Logger, delays: readonly number[]) {
    this.channel = channel;
    this.log = log;
    this.delays = delays;
  }

  push(alert: Composed, event: string): void {
    if (this.pending >= MAX_QUEUE) {
      this.log.warn('alert queue full: alert dropped', { channel: this.channel.name, event });
      return;
    }
    this.pending++;
    // One at a time, in order; a slow receiver delays alerts, never the supervisor.
    this.#tail = this.#tail.then(() => this.#deliver(alert, event)).finally(() => this.pending--);
  }

  async #deliver(alert: Composed, event: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.channel.send(alert);
        return;
      } catch (err) {
        const delay = this.delays[attempt];
        this.log.warn(
          delay === undefined ? 'alert not delivered: giving up' : 'alert not delivered: retrying',
          {
            channel: this.channel.name,
            event,
            error: errorText(err),
            ...(delay === undefined ? {} : { retry_in_ms: delay }),
          },
        );
        if (delay === undefined) return;
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  get idle(): Promise<void> {
    return this.#tail;
  }
}

export class Alerter {
  readonly #queues: Queue[];
  readonly #dedupeMs: number;
  readonly #lastSent = new Map<string, { at: number; suppressed: number }>();
  readonly #origin: Origin;
  readonly #now: () => number;

  constructor(
    channels: readonly Channel[],
    opts: {
      dedupeMs: number;
      log: Logger;
      origin: Origin;
      now?: () => number;
      retryDelaysMs?: readonly number[];
    },
  ) {
    this.#queues = channels.map((c) => new Queue(c, opts.log, opts.retryDelaysMs ?? RETRY_DELAYS_MS));
    this.#dedupeMs = opts.dedupeMs;
    this.#origin = opts.origin;
    this.#now = opts.now ?? Date.now;
  }

  notify(alert: Alert): void {
    if (this.#queues.length === 0) return;
    const key = `${alert.event}:${alert.child ?? ''}`;
    const now = this.#now();
    const last = this.#lastSent.get(key);
    if (last && now - last.at < this.#dedupeMs) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#lastSent.set(key, { at: now, suppressed: 0 });
    const composed = compose(alert, this.#origin, new Date(now), suppressed);
    for (const q of this.#queues) q.push(composed, alert.event);
  }

  /** Waits (bounded) for queued alerts, e.g. before the supervisor exits. */
  async drain(timeoutMs = 5000): Promise<void> {
    await Promise.race([
      Promise.all(this.#queues.map((q) => q.idle)),
      new Promise((r) => setTimeout(r, timeoutMs).unref()),
    ]);
  }
}
