/**
 * The durable outbox: while PostgreSQL is unreachable, writes are committed here (a SQLite file in
 * the state directory, synchronous commits) before they are acknowledged, and replayed in order
 * once the database is back. It also remembers the last killswitch state read from the database,
 * so a restart during an outage still knows it.
 */
import type { DatabaseSync } from 'node:sqlite';
import { describeSqliteError, openSqlite, transaction } from './sqlite.ts';
import { type KillswitchState, StorageUnavailableError, type WriteOp } from './types.ts';

export interface OutboxRow {
  seq: number;
  op: WriteOp;
}

function keyOf(op: WriteOp): string {
  return op.kind === 'killswitch' ? op.data.change_id : op.data.request_id;
}

export class Outbox {
  readonly path: string;
  readonly #db: DatabaseSync;
  lastError: string | undefined;

  constructor(path: string) {
    this.path = path;
    this.#db = openSqlite(path);
    this.#db.exec(`
      create table if not exists outbox (
        seq integer primary key autoincrement,
        kind text not null,
        key text not null,
        payload text not null,
        created_at integer not null
      );
      create index if not exists outbox_key on outbox (kind, key);
      create table if not exists meta (key text primary key, value text not null);
    `);
  }

  /** Commits the writes (one transaction); throws StorageUnavailableError when the disk refuses. */
  append(ops: WriteOp[]): void {
    const now = Date.now();
    try {
      transaction(this.#db, () => {
        const insert = this.#db.prepare(
          'insert into outbox (kind, key, payload, created_at) values (?, ?, ?, ?)',
        );
        for (const op of ops) insert.run(op.kind, keyOf(op), JSON.stringify(op.data), now);
      });
      this.lastError = undefined;
    } catch (err) {
      this.lastError = describeSqliteError(err);
      throw new StorageUnavailableError(
        `database unreachable and the local outbox cannot be written: ${this.lastError}`,
      );
    }
  }

  hasPending(): boolean {
    return this.#db.prepare('select 1 from outbox limit 1').get() !== undefined;
  }

  depth(): { pending: number; oldestMs: number | null } {
    const row = this.#db.prepare('select count(*) as n, min(created_at) as oldest from outbox').get() as {
      n: number;
      oldest: number | null;
    };
    return { pending: Number(row.n), oldestMs: row.oldest === null ? null : Number(row.oldest) };
  }

  /** The oldest `limit` writes, in order. */
  peek(limit: number): OutboxRow[] {
    const rows = this.#db
      .prepare('select seq, kind, payload from outbox order by seq limit ?')
      .all(limit) as {
      seq: number;
      kind: WriteOp['kind'];
      payload: string;
    }[];
    return rows.map((r) => ({
      seq: Number(r.seq),
      op: { kind: r.kind, data: JSON.parse(r.payload) } as WriteOp,
    }));
  }

  remove(seqs: number[]): void {
    if (seqs.length === 0) return;
    transaction(this.#db, () => {
      const del = this.#db.prepare('delete from outbox where seq = ?');
      for (const s of seqs) del.run(s);
    });
  }

  /** A pending write of this kind and key (the answer to a retried request during an outage). */
  find(kind: WriteOp['kind'], key: string): WriteOp | undefined {
    const row = this.#db
      .prepare('select payload from outbox where kind = ? and key = ? order by seq desc limit 1')
      .get(kind, key) as { payload: string } | undefined;
    return row ? ({ kind, data: JSON.parse(row.payload) } as WriteOp) : undefined;
  }

  pendingKillswitch(): WriteOp[] {
    return this.peekKind('killswitch');
  }

  peekKind(kind: WriteOp['kind']): WriteOp[] {
    const rows = this.#db.prepare('select payload from outbox where kind = ? order by seq').all(kind) as {
      payload: string;
    }[];
    return rows.map((r) => ({ kind, data: JSON.parse(r.payload) }) as WriteOp);
  }

  rememberKillswitch(state: KillswitchState): void {
    try {
      this.#db
        .prepare(
          "insert into meta (key, value) values ('killswitch', ?) on conflict(key) do update set value = excluded.value",
        )
        .run(JSON.stringify(state));
    } catch {
      // a cache: losing one update only costs freshness
    }
  }

  lastKillswitch(): KillswitchState | undefined {
    const row = this.#db.prepare("select value from meta where key = 'killswitch'").get() as
      | { value: string }
      | undefined;
    return row ? (JSON.parse(row.value) as KillswitchState) : undefined;
  }

  close(): void {
    this.#db.close();
  }
}
