/**
 * Degraded mode, for any store whose database can go away: while the database is up (and nothing
 * waits in the outbox) a batch of writes goes to it; while it is down — at start or later — writes
 * are committed to the local outbox and acknowledged, and the outbox is replayed in order,
 * idempotently, once it is back. It owns the up/down state, the outage's events and the outbox's
 * health; the store owns how its database is probed and written.
 */
import type { CheckResult } from '../checks.ts';
import type { Logger } from '../logger/logger.ts';
import type { Outbox, OutboxRow } from './outbox.ts';
import { type StorageEvents, StorageRefusedError, type WriteOp } from './types.ts';

/** What degraded mode needs of a database. */
export interface Database {
  /** Applies a batch of writes (idempotently), bounded in time; `replay` for the outbox's. */
  apply(ops: WriteOp[], replay: boolean): Promise<void>;
  /** The failure is the connection's (the database is away), not this batch's. */
  isConnectionError(err: unknown): boolean;
  /** A failure described without secrets. */
  describe(err: unknown): string;
}

const DRAIN_BATCH = 500;

type Landed = 'database' | 'outbox' | Error;

export class DegradedMode {
  readonly #db: Database;
  readonly #outbox: Outbox;
  readonly #log: Logger;
  readonly #events: StorageEvents;
  #up = false;
  #lastError: string | undefined;
  /** When the current outage began (undefined while up). */
  #downSince: string | undefined;
  #draining = false;
  #drainBackoffMs = 0;
  #closed = false;

  constructor(db: Database, outbox: Outbox, log: Logger, events: StorageEvents) {
    this.#db = db;
    this.#outbox = outbox;
    this.#log = log;
    this.#events = events;
  }

  get up(): boolean {
    return this.#up;
  }

  /** Why the database is not usable, while it is not. */
  get lastError(): string | undefined {
    return this.#up ? undefined : this.#lastError;
  }

  /** Usable again (reachable, its schema in place); `detail` goes on the log line. */
  markUp(detail: Record<string, unknown> = {}): void {
    if (this.#up) return;
    this.#up = true;
    this.#lastError = undefined;
    this.#log.info('database reachable', detail);
    if (this.#downSince) this.#events({ kind: 'database-up', down_since: this.#downSince });
    this.#downSince = undefined;
  }

  /** Not usable: unreachable, or (`schema`) reachable with a schema that cannot be prepared. */
  markDown(reason: string, schema = false): void {
    if (this.#up || this.#lastError === undefined) {
      this.#log.warn(
        schema
          ? 'database schema cannot be prepared: writes go to the outbox'
          : 'database unreachable: writes go to the outbox',
        { error: reason },
      );
      this.#downSince ??= new Date().toISOString();
      this.#events({ kind: 'database-down', error: reason, since: this.#downSince });
    }
    this.#up = false;
    this.#lastError = reason;
  }

  /** A failure of a query: an outage when it is the connection's. */
  failed(err: unknown): void {
    if (this.#db.isConnectionError(err)) this.markDown(this.#db.describe(err));
  }

  /**
   * Where a batch of writes goes: the database when it is up and nothing waits in the outbox.
   * A batch the database refuses for a reason other than the connection is retried one write at a
   * time, so only the write it really refuses fails (StorageRefusedError), never its neighbours.
   */
  async commit(ops: WriteOp[]): Promise<Landed[]> {
    if (this.#up && !this.#outbox.hasPending()) {
      try {
        await this.#db.apply(ops, false);
        return ops.map(() => 'database');
      } catch (err) {
        if (this.#db.isConnectionError(err)) this.markDown(this.#db.describe(err));
        else if (ops.length === 1) return [this.#refused(ops[0] as WriteOp, err)];
        else return this.#commitEach(ops);
      }
    }
    return this.#toOutbox(ops);
  }

  async #commitEach(ops: WriteOp[]): Promise<Landed[]> {
    const results: Landed[] = [];
    for (const [i, op] of ops.entries()) {
      if (!this.#up) {
        results.push(...this.#toOutbox(ops.slice(i)));
        break;
      }
      try {
        await this.#db.apply([op], false);
        results.push('database');
      } catch (err) {
        if (this.#db.isConnectionError(err)) {
          this.markDown(this.#db.describe(err));
          results.push(...this.#toOutbox(ops.slice(i)));
          break;
        }
        results.push(this.#refused(op, err));
      }
    }
    return results;
  }

  #toOutbox(ops: WriteOp[]): 'outbox'[] {
    // Keeping order: once anything waits in the outbox, new writes queue behind it.
    this.#outbox.append(ops);
    if (this.#up) void this.drain();
    return ops.map(() => 'outbox');
  }

  #refused(op: WriteOp, err: unknown): Error {
    this.#log.error('the database refused a write', { kind: op.kind, error: this.#db.describe(err) });
    return new StorageRefusedError('the database refused to store this record');
  }

  /** Replays what waits in the outbox (read from the file: rows requeued by another process too). */
  drainPending(): void {
    if (this.#outbox.hasPending(true)) void this.drain();
  }

  /**
   * Replays the outbox into the database, oldest first, until it is empty or the database fails. A
   * batch refused for a reason other than the connection is replayed row by row, and a row the
   * database refuses on its own is quarantined (kept in the outbox file, counted, shown in /health
   * and `robbie db status`, requeued by `robbie db requeue`) so it never blocks the rows behind it.
   */
  async drain(): Promise<void> {
    if (this.#draining || this.#closed) return;
    this.#draining = true;
    let replayed = 0;
    try {
      for (let round = 0; round < 1_000_000 && !this.#closed; round++) {
        const rows = this.#outbox.peek(DRAIN_BATCH);
        if (rows.length === 0) break;
        const apply = (batch: OutboxRow[]) =>
          this.#db.apply(
            batch.map((r) => r.op),
            true,
          );
        try {
          await apply(rows);
          this.#outbox.remove(rows.map((r) => r.seq));
          replayed += rows.length;
        } catch (err) {
          if (this.#db.isConnectionError(err)) {
            this.markDown(this.#db.describe(err));
            await this.#drainPause();
            break;
          }
          // One of them is refused: find it, one row at a time.
          let lost = false;
          for (const row of rows) {
            try {
              await apply([row]);
              this.#outbox.remove([row.seq]);
              replayed++;
            } catch (rowErr) {
              if (this.#db.isConnectionError(rowErr)) {
                this.markDown(this.#db.describe(rowErr));
                lost = true;
                break;
              }
              const reason = this.#db.describe(rowErr);
              this.#outbox.quarantine(row.seq, reason);
              const count = this.#outbox.quarantined().count;
              this.#log.error('outbox row quarantined: the database refuses it', {
                kind: row.op.kind,
                error: reason,
                quarantined: count,
              });
              this.#events({ kind: 'quarantined', count, reason });
            }
          }
          if (lost) {
            await this.#drainPause();
            break;
          }
        }
        this.#drainBackoffMs = 0;
      }
    } finally {
      this.#draining = false;
      if (replayed > 0)
        this.#log.info('outbox replayed into the database', {
          rows: replayed,
          left: this.#outbox.depth().pending,
        });
    }
  }

  /** Waits longer each time the database goes away mid-replay; the probe retries. */
  async #drainPause(): Promise<void> {
    this.#drainBackoffMs = Math.min(30_000, Math.max(500, this.#drainBackoffMs * 2));
    await new Promise((r) => setTimeout(r, this.#drainBackoffMs).unref());
  }

  /** The outbox for /health: down while it cannot be written or holds rows the database refused. */
  outboxCheck(): CheckResult {
    try {
      const d = this.#outbox.depth();
      const q = this.#outbox.quarantined();
      const r: CheckResult = {
        status: this.#outbox.lastError || !this.#outbox.available || q.count > 0 ? 'down' : 'up',
        pending: d.pending,
        oldest_age_s: d.oldestMs === null ? null : Math.round((Date.now() - d.oldestMs) / 1000),
        quarantined: q.count,
      };
      if (this.#outbox.lastError) r.error = this.#outbox.lastError;
      else if (q.count > 0)
        r.error = `${q.count} outbox row(s) refused by the database and quarantined (${q.reason}); fix the cause, then robbie db requeue`;
      return r;
    } catch (err) {
      return { status: 'down', error: (err as Error).message };
    }
  }

  /** Outbox depth and quarantine, for `robbie db status` and /metrics. */
  outboxInfo() {
    const d = this.#outbox.depth();
    const q = this.#outbox.quarantined();
    return {
      outbox_pending: d.pending,
      outbox_oldest_s: d.oldestMs === null ? null : Math.round((Date.now() - d.oldestMs) / 1000),
      outbox_quarantined: q.count,
      quarantine_reason: q.reason,
    };
  }

  close(): void {
    this.#closed = true;
  }
}
