/**
 * Turns the children's storage events into alerts: the database unreachable for longer than a
 * threshold (a blip of a few seconds alerts nobody) and back again, and outbox rows the database
 * refuses. The database is shared: an outage reported by several children is one outage.
 */

import type { StorageEvent } from '../storage/types.ts';
import type { Cancel, Clock } from '../supervisor/clock.ts';
import type { Alert } from './alert.ts';

export class DatabaseWatch {
  readonly #afterMs: number;
  readonly #alert: (a: Alert) => void;
  readonly #clock: Clock;
  #down: { since: string; error: string; cancel: Cancel; alerted: boolean } | undefined;

  constructor(afterMs: number, alert: (a: Alert) => void, clock: Clock) {
    this.#afterMs = afterMs;
    this.#alert = alert;
    this.#clock = clock;
  }

  onEvent(child: string, childPid: number | undefined, e: StorageEvent): void {
    switch (e.kind) {
      case 'database-down': {
        if (this.#down) return;
        const down = { since: e.since, error: e.error, alerted: false, cancel: (() => {}) as Cancel };
        this.#down = down;
        down.cancel = this.#clock.after(this.#afterMs, () => {
          down.alerted = true;
          this.#alert({
            event: 'database-down',
            message: `the database has been unreachable since ${down.since} (${down.error}): requests are answered and their writes wait in the outbox`,
            since: down.since,
            reported_by: child,
          });
        });
        return;
      }
      case 'database-up': {
        const down = this.#down;
        this.#down = undefined;
        if (!down) return;
        down.cancel();
        if (down.alerted)
          this.#alert({
            event: 'database-up',
            message: `the database is reachable again (unreachable since ${down.since}): the outbox is being replayed`,
            since: down.since,
          });
        return;
      }
      case 'quarantined':
        this.#alert({
          event: 'quarantined',
          child,
          child_pid: childPid,
          message: `the database refuses an outbox row (${e.reason}): ${e.count} row(s) quarantined; fix the cause, then robbie db requeue`,
        });
        return;
    }
  }

  close(): void {
    this.#down?.cancel();
  }
}
