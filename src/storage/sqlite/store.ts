/** The embedded store: one SQLite file in the state directory, so robbie needs nothing installed. */
import type { DatabaseSync } from 'node:sqlite';
import type { CheckResult } from '../../checks.ts';
import { GroupCommit } from '../group-commit.ts';
import { KillswitchCache, type KillswitchState } from '../killswitch.ts';
import { batchVerdict, countedOf, type RateBatch, windowAt } from '../rate-window.ts';
import { SQLITE_MIGRATIONS } from '../schema.ts';
import {
  type BlockRecord,
  type BudgetHold,
  BudgetUndecidedError,
  type CachedAnswer,
  type Claim,
  type HoldResult,
  KeyConflictError,
  type KeyRecord,
  type RecentRequest,
  retryableSql,
  type Stats,
  StorageUnavailableError,
  type Store,
  type StoredResponse,
  type UsageQuery,
  type UsageRow,
  type WriteOp,
} from '../types.ts';
import { numericUsage, USAGE_SUMS, usageGroup } from '../usage-sql.ts';
import { applySqlite, readKillswitchSqlite } from './apply.ts';
import { holdBudgetSqlite } from './budgets.ts';
import { Checkpointer } from './checkpointer.ts';
import { keysSinceSqlite, saveKeySqlite } from './keys.ts';
import { describeSqliteError, openSqlite, stmt, transaction, WalSync } from './open.ts';

const KILLSWITCH_CACHE_MS = 500;
/**
 * The most writes one transaction takes: about 20 ms on the event loop when each records a
 * streamed answer of 40 KB, where 500 streams ending together made one of 60 ms and more. Under
 * ordinary load a batch is far smaller (at 32 connections a handful of writes share a commit).
 */
const SQLITE_BATCH = 32;

/** A stored final answer, by key and id (built once: statements are found by their text). */
const FIND_RESPONSE = `select http_status, response, request_fingerprint from ai_request_logs
  where key_id = ? and request_id = ? and not ${retryableSql('ai_request_logs')}`;

export function migrateSqlite(db: DatabaseSync): number {
  return transaction(db, () => {
    let version = Number((stmt(db, 'pragma user_version').get() as { user_version: number }).user_version);
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= version) continue;
      db.exec(m.sql);
      db.exec(`pragma user_version = ${m.version}`);
      version = m.version;
    }
    return version;
  });
}

/**
 * A batch whose acknowledgement a client waits for: one whole answer's record (its reply is sent
 * once it is durable). A streamed answer's record comes after its pieces went out, and the next
 * request may be arriving meanwhile.
 */
function waitedFor(ops: WriteOp[]): boolean {
  const [op] = ops;
  return ops.length === 1 && op?.kind === 'request' && op.data.stream == null;
}

export interface SqliteStoreOptions {
  /**
   * Makes committed writes durable (default: fsync the WAL, WalSync); a test may hold it back to
   * see that nothing is acknowledged before it.
   */
  durable?: () => Promise<void>;
  /**
   * Whether one request is in flight in the process: with a batch that is one whole answer's
   * record, the request waiting for it (WalSync's `inline`).
   */
  alone?: () => boolean;
  /** After an fsync slower than this, the next goes to the thread pool (WalSync). */
  inlineMaxMs?: number;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly degradable = false;
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #writes: GroupCommit<WriteOp>;
  #lastError: string | undefined;
  readonly #killswitch = new KillswitchCache(KILLSWITCH_CACHE_MS);

  /**
   * A second connection for request claims, without fsync: a claim is coordination between live
   * processes, and one lost with the machine belongs to an attempt that died with it.
   */
  readonly #claims: DatabaseSync;

  readonly #wal: WalSync;
  /** Checkpoints the WAL off the event loop (undefined: SQLite's own, in the commits). */
  readonly #checkpointer: Promise<Checkpointer | undefined>;
  /** The same, once started: each commit counts towards its next checkpoint with no await. */
  #started: Checkpointer | undefined;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    const { durable, alone = () => false, inlineMaxMs } = options;
    this.path = path;
    this.#db = openSqlite(path);
    this.#claims = openSqlite(path);
    this.#claims.exec('pragma synchronous = off');
    // Commits only write the WAL; the write path makes them durable before it acknowledges them.
    // The other writes on this connection (rate windows, the answer cache, the retention purge)
    // are, like claims, worth nothing after a crash of the machine.
    // (Where the file system cannot hold a WAL, SQLite keeps its rollback journal and its own
    // synchronous commits.)
    const mode = (stmt(this.#db, 'pragma journal_mode').get() as { journal_mode: string }).journal_mode;
    const wal = mode.toLowerCase() === 'wal';
    if (wal) this.#db.exec('pragma synchronous = normal');
    this.#wal = new WalSync(path, inlineMaxMs);
    this.#checkpointer = wal
      ? Checkpointer.start(path, [this.#db, this.#claims])
      : Promise.resolve(undefined);
    void this.#checkpointer.then((c) => {
      this.#started = c;
    });
    const makeDurable =
      durable ??
      (wal ? (ops: WriteOp[]) => this.#wal.sync(waitedFor(ops) && alone()) : () => Promise.resolve());
    // One transaction and one fsync per batch of concurrent writes. A transaction runs on the
    // event loop: batches of at most SQLITE_BATCH keep the loop's other work (the pieces of open
    // streams) from waiting behind hundreds of answers recorded at once.
    this.#writes = new GroupCommit<WriteOp>(
      async (ops) => {
        try {
          transaction(this.#db, () => {
            for (const op of ops) applySqlite(this.#db, op);
          });
          this.#started?.committed();
          await makeDurable(ops);
          this.#lastError = undefined;
        } catch (err) {
          this.#lastError = describeSqliteError(err);
          throw new StorageUnavailableError(`local store unavailable: ${this.#lastError}`);
        }
        return ops.map(() => undefined);
      },
      SQLITE_BATCH,
      // With one request in flight no other request's write can join this turn.
      () => !alone(),
    );
  }

  start(): void {
    // nothing runs in the background: the file is there or the store did not open
  }

  async ping(): Promise<void> {
    stmt(this.#db, 'select 1').get();
  }

  describeError(err: unknown): { reason: string; outage: boolean } {
    return { reason: describeSqliteError(err), outage: false };
  }

  async migrate(): Promise<number> {
    return migrateSqlite(this.#db);
  }

  async write(op: WriteOp): Promise<'database'> {
    await this.#writes.add(op);
    if (op.kind === 'killswitch') this.#killswitch.forget();
    return 'database';
  }

  async findResponse(keyId: string, requestId: string): Promise<StoredResponse | undefined> {
    const row = stmt(this.#db, FIND_RESPONSE).get(keyId, requestId) as
      | { http_status: number; response: string; request_fingerprint: string | null }
      | undefined;
    return row
      ? {
          http_status: row.http_status,
          response: JSON.parse(row.response) as unknown,
          fingerprint: row.request_fingerprint,
        }
      : undefined;
  }

  async claim(requestId: string, fingerprint: string, staleMs: number): Promise<Claim> {
    const now = Date.now();
    try {
      const won = stmt(
        this.#claims,
        `insert into request_claims (request_id, fingerprint, claimed_at) values (?, ?, ?)
         on conflict (request_id) do update set fingerprint = excluded.fingerprint, claimed_at = excluded.claimed_at
         where request_claims.claimed_at < ?
         returning request_id`,
      ).get(requestId, fingerprint, now, now - staleMs);
      if (won) return 'won';
      const held = stmt(this.#claims, 'select fingerprint from request_claims where request_id = ?').get(
        requestId,
      ) as { fingerprint: string } | undefined;
      if (!held) return this.claim(requestId, fingerprint, staleMs);
      return held.fingerprint === fingerprint ? 'taken' : 'conflict';
    } catch (err) {
      throw new StorageUnavailableError(`local store unavailable: ${describeSqliteError(err)}`);
    }
  }

  async renewClaim(requestId: string): Promise<void> {
    try {
      stmt(this.#claims, 'update request_claims set claimed_at = ? where request_id = ?').run(
        Date.now(),
        requestId,
      );
    } catch {
      // busy: the next renewal comes well within the lease
    }
  }

  async release(requestId: string): Promise<void> {
    try {
      stmt(this.#claims, 'delete from request_claims where request_id = ?').run(requestId);
    } catch {
      // a stale claim is taken over after its time
    }
  }

  /** On the claims connection (no fsync): the windows are coordination, not records. */
  async rateHit(key: string, max: number, windowMs: number, n: number, ahead = 0): Promise<RateBatch> {
    const db = this.#claims;
    const at = windowAt(Date.now(), windowMs);
    const count = (start: number): number =>
      (
        stmt(db, 'select count from rate_windows where key = ? and window_start = ?').get(key, start) as
          | { count: number }
          | undefined
      )?.count ?? 0;
    let result: RateBatch;
    try {
      result = transaction(db, () => {
        const previous = count(at.start - windowMs);
        const current = count(at.start);
        const admitted = countedOf(previous, current, at.weight, max, n, ahead);
        if (admitted > 0) {
          stmt(
            db,
            'insert into rate_windows (key, window_start, count) values (?, ?, ?) on conflict (key, window_start) do update set count = count + excluded.count',
          ).run(key, at.start, admitted);
        }
        return batchVerdict(previous, current, admitted, n, at, max, windowMs);
      });
    } catch (err) {
      throw new StorageUnavailableError(describeSqliteError(err));
    }
    return result;
  }

  async rateGiveBack(key: string, windowStart: number, n: number): Promise<void> {
    try {
      stmt(
        this.#claims,
        'update rate_windows set count = max(0, count - ?) where key = ? and window_start = ?',
      ).run(n, key, windowStart);
    } catch {
      // Still counted: the limit errs on the safe side until the window moves.
    }
  }

  async pruneRateWindows(before: number): Promise<void> {
    try {
      stmt(this.#claims, 'delete from rate_windows where window_start < ?').run(before);
    } catch {
      // busy: the next prune takes them
    }
  }

  /** The answer cache is on the claims connection too: a cached answer is a copy, not a record. */
  async cachedAnswer(key: string): Promise<CachedAnswer | undefined> {
    try {
      const row = stmt(this.#claims, 'select answer, created_at from answer_cache where key = ?').get(key) as
        | { answer: string; created_at: number }
        | undefined;
      return row ? { answer: JSON.parse(row.answer) as unknown, createdAt: row.created_at } : undefined;
    } catch {
      return undefined;
    }
  }

  async cacheAnswer(key: string, service: string, answer: unknown): Promise<void> {
    try {
      stmt(
        this.#claims,
        `insert into answer_cache (key, service, answer, created_at) values (?, ?, ?, ?)
         on conflict (key) do update set answer = excluded.answer, created_at = excluded.created_at`,
      ).run(key, service, JSON.stringify(answer), Date.now());
    } catch {
      // busy: the next identical answer is kept instead
    }
  }

  async pruneAnswers(before: number): Promise<void> {
    try {
      stmt(this.#claims, 'delete from answer_cache where created_at < ?').run(before);
    } catch {
      // busy: the next prune takes them
    }
  }

  /**
   * Read on every request: kept for half a second. Other processes sharing the file (instances, the
   * standby) see a change within that time; this process sees its own at once.
   */
  async killswitch(): Promise<KillswitchState> {
    const now = performance.now();
    const cached = this.#killswitch.fresh(now);
    if (cached) return cached;
    const state = readKillswitchSqlite(this.#db);
    this.#killswitch.set(state, now);
    return state;
  }

  async recentRequests(limit: number): Promise<RecentRequest[]> {
    return stmt(
      this.#db,
      `select request_id, timestamp, key_name, source, ai_model, http_status, gatekeeper_status, tokens_used,
              processing_time_ms
       from ai_request_logs order by created_at desc, rowid desc limit ?`,
    ).all(limit) as unknown as RecentRequest[];
  }

  async recentBlocks(limit: number, keyId?: string): Promise<BlockRecord[]> {
    const columns = `request_id, timestamp, block_reason, block_category, severity, source, input_pattern,
           triggered_killswitch, user_id`;
    const rows = (keyId === undefined
      ? stmt(
          this.#db,
          `select ${columns} from gatekeeper_blocks order by created_at desc, rowid desc limit ?`,
        ).all(limit)
      : stmt(
          this.#db,
          `select ${columns} from gatekeeper_blocks where key_id = ? order by created_at desc, rowid desc limit ?`,
        ).all(keyId, limit)) as unknown as (Omit<BlockRecord, 'triggered_killswitch'> & {
      triggered_killswitch: number;
    })[];
    return rows.map((r) => ({ ...r, triggered_killswitch: r.triggered_killswitch === 1 }));
  }

  async stats(sinceMs: number, keyId?: string): Promise<Stats> {
    const count = (column: string) =>
      Object.fromEntries(
        (
          stmt(
            this.#db,
            `select ${column} as k, count(*) as n from ai_request_logs where created_at >= ? and (? is null or key_id = ?) group by ${column}`,
          ).all(sinceMs, keyId ?? null, keyId ?? null) as { k: string; n: number }[]
        ).map((r) => [r.k, Number(r.n)]),
      );
    return {
      since: new Date(sinceMs).toISOString(),
      by_status: count('gatekeeper_status'),
      by_service: count('ai_service'),
    };
  }

  async usage(q: UsageQuery): Promise<UsageRow[]> {
    const group = usageGroup(q.by, 'sqlite');
    const rows = stmt(
      this.#db,
      `select ${group} as "group", ${USAGE_SUMS} from ai_request_logs
       where created_at >= ? and (? is null or key_id = ? or key_name = ?) group by 1 order by 1`,
    ).all(q.sinceMs, q.key ?? null, q.key ?? null, q.key ?? null) as unknown as UsageRow[];
    return rows.map(numericUsage);
  }

  async keysSince(rev: number): Promise<{ rev: number; keys: KeyRecord[] }> {
    return keysSinceSqlite(this.#db, rev);
  }

  async saveKey(key: Omit<KeyRecord, 'rev'>): Promise<KeyRecord> {
    try {
      const saved = saveKeySqlite(this.#db, key);
      await this.#wal.sync();
      return saved;
    } catch (err) {
      if (err instanceof KeyConflictError) throw err;
      throw new StorageUnavailableError(`local store unavailable: ${describeSqliteError(err)}`);
    }
  }

  /** Processes sharing the file see a change by polling keysSince (no notifications in SQLite). */
  onKeysChanged(_changed: () => void): void {}

  /** On the claims connection: a hold is coordination; the spend it is checked against is a record. */
  async holdBudget(h: BudgetHold): Promise<HoldResult> {
    try {
      return holdBudgetSqlite(this.#claims, h, Date.now());
    } catch (err) {
      // The file is there (or nothing is served): a failure here is a busy or full file, never a
      // reason to admit past the budget.
      throw new BudgetUndecidedError(describeSqliteError(err));
    }
  }

  async releaseBudget(holdId: string): Promise<void> {
    try {
      stmt(this.#claims, 'delete from budget_holds where id = ?').run(holdId);
    } catch {
      // it lapses at the end of its lease
    }
  }

  async purge(before: Date, batchSize: number): Promise<number> {
    let removed = 0;
    for (const table of ['ai_request_logs', 'gatekeeper_blocks']) {
      for (let i = 0; i < 100_000; i++) {
        const r = this.#db
          .prepare(
            `delete from ${table} where rowid in (select rowid from ${table} where created_at < ? limit ?)`,
          )
          .run(before.getTime(), batchSize);
        removed += Number(r.changes);
        if (Number(r.changes) < batchSize) break;
      }
    }
    return removed;
  }

  checks(): Record<string, () => CheckResult> {
    return {
      database: () => {
        const started = performance.now();
        try {
          stmt(this.#db, 'select 1').get();
          const r: CheckResult = {
            status: 'up',
            store: 'sqlite',
            latency_ms: Math.round((performance.now() - started) * 100) / 100,
          };
          if (this.#lastError) return { status: 'down', store: 'sqlite', error: this.#lastError };
          return r;
        } catch (err) {
          return { status: 'down', store: 'sqlite', error: describeSqliteError(err) };
        }
      },
    };
  }

  async info() {
    const version = Number(
      (stmt(this.#db, 'pragma user_version').get() as { user_version: number }).user_version,
    );
    return {
      kind: 'sqlite',
      version,
      database_up: true,
      outbox_pending: 0,
      outbox_oldest_s: null,
      outbox_quarantined: 0,
      quarantine_reason: null,
      error: this.#lastError ?? null,
    };
  }

  /** The embedded store has no outbox: nothing is ever quarantined. */
  async requeueQuarantined(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    await (await this.#checkpointer)?.close();
    await this.#wal.close();
    this.#claims.close();
    this.#db.close();
  }
}
