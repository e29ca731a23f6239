/**
 * The durable outbox: while PostgreSQL is unreachable, writes are committed here (a SQLite file in
 * the state directory, synchronous commits) before they are acknowledged, and replayed in order
 * once the database is back. It also remembers the last killswitch state read from the database,
 * so a restart during an outage still knows it.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { KillswitchState } from './killswitch.ts';
import { describeSqliteError, openSqlite, stmt, transaction } from './sqlite/open.ts';
import { StorageUnavailableError, type WriteOp } from './types.ts';

export interface OutboxRow {
  seq: number;
  op: WriteOp;
}

/** A request's outbox key is its key's and its own id (a row of no key, or of an earlier version, has its id alone). */
function scoped(keyId: string | undefined, requestId: string): string {
  return keyId ? `${keyId}\u0000${requestId}` : requestId;
}

function keyOf(op: WriteOp): string {
  return op.kind === 'killswitch' ? op.data.change_id : scoped(op.data.key_id, op.data.request_id);
}

export class Outbox {
  readonly path: string;
  #handle: DatabaseSync | undefined;
  lastError: string | undefined;
  /**
   * False once the file was seen empty and this process has put nothing in it since: the write
   * path asks per commit, and a query per commit was 15 µs of a request at one connection. Rows
   * another process adds (`robbie db requeue`) are seen by the next `hasPending(true)`.
   */
  #mayHoldRows = true;

  constructor(path: string) {
    this.path = path;
    // A file system that refuses the outbox now (read-only, full) is reported by each write that
    // needs it; the store still works while the database is up.
    try {
      this.#open();
    } catch (err) {
      this.lastError = (err as Error).message.replace(/^cannot open .*?: /, '');
    }
  }

  get #db(): DatabaseSync {
    if (this.#handle) return this.#handle;
    try {
      return this.#open();
    } catch (err) {
      this.lastError = (err as Error).message.replace(/^cannot open .*?: /, '');
      throw new StorageUnavailableError(
        `database unreachable and the local outbox cannot be written: ${this.lastError}`,
      );
    }
  }

  #open(): DatabaseSync {
    const db = openSqlite(this.path);
    db.exec(`
      create table if not exists outbox (
        seq integer primary key autoincrement,
        kind text not null,
        key text not null,
        payload text not null,
        created_at integer not null
      );
      create index if not exists outbox_key on outbox (kind, key);
      create table if not exists meta (key text primary key, value text not null);
      -- Rows the database refused on their own: kept (they were acknowledged), never replayed
      -- again by themselves, moved back by requeue().
      create table if not exists quarantine (
        seq integer primary key,
        kind text not null,
        key text not null,
        payload text not null,
        created_at integer not null,
        reason text not null,
        quarantined_at integer not null
      );
    `);
    this.#handle = db;
    this.lastError = undefined;
    return db;
  }

  get available(): boolean {
    return this.#handle !== undefined;
  }

  /** Commits the writes (one transaction); throws StorageUnavailableError when the disk refuses. */
  append(ops: WriteOp[]): void {
    const now = Date.now();
    const db = this.#db;
    try {
      transaction(db, () => {
        const insert = stmt(
          this.#db,
          'insert into outbox (kind, key, payload, created_at) values (?, ?, ?, ?)',
        );
        for (const op of ops) insert.run(op.kind, keyOf(op), JSON.stringify(op.data), now);
      });
      this.#mayHoldRows = true;
      this.lastError = undefined;
    } catch (err) {
      this.lastError = describeSqliteError(err);
      throw new StorageUnavailableError(
        `database unreachable and the local outbox cannot be written: ${this.lastError}`,
      );
    }
  }

  /** Whether writes wait here; `reread` looks at the file itself (rows of other processes). */
  hasPending(reread = false): boolean {
    if (!this.#handle) return false;
    if (!reread && !this.#mayHoldRows) return false;
    this.#mayHoldRows = stmt(this.#handle, 'select 1 from outbox limit 1').get() !== undefined;
    return this.#mayHoldRows;
  }

  depth(): { pending: number; oldestMs: number | null } {
    if (!this.#handle) return { pending: 0, oldestMs: null };
    const row = stmt(this.#db, 'select count(*) as n, min(created_at) as oldest from outbox').get() as {
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
      const del = stmt(this.#db, 'delete from outbox where seq = ?');
      for (const s of seqs) del.run(s);
    });
  }

  /** A pending (or quarantined) write of this kind and key: the answer to a retried request. */
  find(kind: WriteOp['kind'], id: string, keyId?: string): WriteOp | undefined {
    if (!this.#handle) return undefined;
    const key = kind === 'killswitch' ? id : scoped(keyId, id);
    const row = (stmt(
      this.#db,
      'select payload from outbox where kind = ? and key = ? order by seq desc limit 1',
    ).get(kind, key) ??
      stmt(
        this.#db,
        'select payload from quarantine where kind = ? and key = ? order by seq desc limit 1',
      ).get(kind, key)) as { payload: string } | undefined;
    return row ? ({ kind, data: JSON.parse(row.payload) } as WriteOp) : undefined;
  }

  /** Moves a row the database refuses out of the replay queue, keeping it and the reason. */
  quarantine(seq: number, reason: string): void {
    transaction(this.#db, () => {
      stmt(
        this.#db,
        `insert or replace into quarantine (seq, kind, key, payload, created_at, reason, quarantined_at)
         select seq, kind, key, payload, created_at, ?, ? from outbox where seq = ?`,
      ).run(reason, Date.now(), seq);
      stmt(this.#db, 'delete from outbox where seq = ?').run(seq);
    });
  }

  quarantined(): { count: number; reason: string | null } {
    if (!this.#handle) return { count: 0, reason: null };
    const row = stmt(
      this.#db,
      'select count(*) as n, (select reason from quarantine order by quarantined_at desc limit 1) as reason from quarantine',
    ).get() as { n: number; reason: string | null };
    return { count: Number(row.n), reason: row.reason };
  }

  /** Puts every quarantined row back at the end of the replay queue (once the cause is fixed). */
  requeue(): number {
    let moved = 0;
    transaction(this.#db, () => {
      moved = Number(
        stmt(
          this.#db,
          'insert into outbox (kind, key, payload, created_at) select kind, key, payload, created_at from quarantine order by seq',
        ).run().changes,
      );
      stmt(this.#db, 'delete from quarantine').run();
    });
    this.#mayHoldRows = true;
    return moved;
  }

  pendingKillswitch(): WriteOp[] {
    return this.peekKind('killswitch');
  }

  peekKind(kind: WriteOp['kind']): WriteOp[] {
    if (!this.#handle) return [];
    const rows = stmt(this.#db, 'select payload from outbox where kind = ? order by seq').all(kind) as {
      payload: string;
    }[];
    return rows.map((r) => ({ kind, data: JSON.parse(r.payload) }) as WriteOp);
  }

  rememberKillswitch(state: KillswitchState): void {
    if (!this.#handle) return;
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
    if (!this.#handle) return undefined;
    const row = stmt(this.#db, "select value from meta where key = 'killswitch'").get() as
      | { value: string }
      | undefined;
    return row ? (JSON.parse(row.value) as KillswitchState) : undefined;
  }

  close(): void {
    this.#handle?.close();
    this.#handle = undefined;
  }
}
