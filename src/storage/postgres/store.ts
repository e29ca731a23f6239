/**
 * PostgreSQL through postgres.js, in degraded mode (degraded.ts) while the database is away: its
 * probe says when, and the outbox takes the writes meanwhile. postgres.js reconnects by itself;
 * errors surface per query, so every query is bounded in time here and its failure classified.
 */
import type postgres from 'postgres';
import type { CheckResult } from '../../checks.ts';
import type { Logger } from '../../logger/logger.ts';
import { DegradedMode } from '../degraded.ts';
import { GroupCommit } from '../group-commit.ts';
import {
  foldKillswitch,
  KillswitchCache,
  type KillswitchChange,
  type KillswitchState,
} from '../killswitch.ts';
import { Outbox } from '../outbox.ts';
import type { RateBatch } from '../rate-window.ts';
import {
  type BlockRecord,
  type BudgetHold,
  BudgetUndecidedError,
  type CachedAnswer,
  type Claim,
  type HoldResult,
  isRetryable,
  KeyConflictError,
  type KeyRecord,
  type RecentRequest,
  type RequestRecord,
  retryableSql,
  type Stats,
  type StorageEvents,
  StorageUnavailableError,
  type Store,
  type StoredResponse,
  type UsageQuery,
  type UsageRow,
  type WriteOp,
} from '../types.ts';
import { numericUsage, USAGE_SUMS, usageGroup } from '../usage-sql.ts';
import { holdBudgetPostgres } from './budgets.ts';
import { connect, migratePostgres, type Sql } from './connect.ts';
import {
  describePgError,
  isConnectionError,
  QUERY_TIMEOUT_MS,
  READ_TIMEOUT_MS,
  withTimeout,
} from './errors.ts';
import { KEYS_CHANNEL, keysSincePostgres, saveKeyPostgres } from './keys.ts';
import { KILLSWITCH_CHANNEL, readKillswitch } from './killswitch.ts';
import { pruneRateWindows, rateGiveBackPostgres, rateHitPostgres } from './rate-windows.ts';
import { withoutNul } from './without-nul.ts';
import { applyBatch } from './writes.ts';

const PROBE_EVERY_MS = 2000;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly degradable = true;
  readonly #sql: Sql;
  /** Claims, rate-limit windows and the answer cache: commits that need not wait for the disk. */
  readonly #coord: Sql;
  readonly #outbox: Outbox;
  readonly #log: Logger;
  readonly #writes: GroupCommit<WriteOp, 'database' | 'outbox'>;
  /** Claims released while a release is under way go together in the next statement. */
  readonly #releases: GroupCommit<string>;
  readonly #mode: DegradedMode;
  #latencyMs: number | undefined;
  #version: number | null = null;
  #killswitch: KillswitchState | undefined;
  /** The database's state with pending outbox changes applied, as last computed. */
  readonly #killswitchView = new KillswitchCache(1000);
  #probeTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Listening for killswitch and key changes made through other instances (once up; postgres.js re-listens). */
  #listening = false;
  readonly #keyWatchers: (() => void)[] = [];

  constructor(url: string, outboxPath: string, log: Logger, events: StorageEvents = () => {}) {
    this.#sql = connect(url);
    this.#coord = connect(url, { coordination: true });
    this.#outbox = new Outbox(outboxPath);
    this.#log = log;
    this.#mode = new DegradedMode(
      {
        apply: (ops, replay) =>
          withTimeout(applyBatch(this.#sql, ops), replay ? QUERY_TIMEOUT_MS * 2 : QUERY_TIMEOUT_MS),
        isConnectionError,
        describe: describePgError,
      },
      this.#outbox,
      log,
      events,
    );
    this.#killswitch = this.#outbox.lastKillswitch();
    this.#writes = new GroupCommit((ops) => this.#mode.commit(ops));
    this.#releases = new GroupCommit<string>(async (ids) => {
      await withTimeout(
        this.#coord`delete from request_claims where request_id = any(${ids})`,
        READ_TIMEOUT_MS,
      );
      return ids.map(() => undefined);
    });
  }

  /** Starts the health probe that notices outages and recoveries (migrating and draining on recovery). */
  start(): void {
    const tick = async () => {
      await this.#probe();
      if (!this.#closed) this.#probeTimer = setTimeout(() => void tick(), PROBE_EVERY_MS);
    };
    void tick();
  }

  async migrate(): Promise<number> {
    this.#version = await withTimeout(migratePostgres(this.#sql), 30_000);
    // Migrated means reachable with its schema in place: /health says so from the first request,
    // not only once the probe has run.
    this.#markUp();
    return this.#version;
  }

  #markUp(): void {
    this.#mode.markUp(this.#latencyMs === undefined ? {} : { latency_ms: this.#latencyMs });
  }

  /**
   * Reachable but its schema cannot be prepared (a table robbie cannot upgrade, a duplicate that
   * blocks a unique index): a schema problem, said so with the fix, not "unreachable".
   */
  #markDown(err: unknown): void {
    const schema = !isConnectionError(err) && this.#version === null;
    const reason = schema
      ? `schema problem: ${describePgError(err)}; fix the table, then robbie db migrate (or restart)`
      : describePgError(err);
    this.#mode.markDown(reason, schema);
  }

  /** Up means usable: reachable and the schema in place (migrated here when it was not at start). */
  async #probe(): Promise<void> {
    const started = performance.now();
    try {
      if (this.#version === null) await withTimeout(this.#sql`select 1`, READ_TIMEOUT_MS);
      else {
        // The write path, not just the connection: a table locked by someone else shows as
        // degraded within a probe, and writes wait in the outbox meanwhile.
        await withTimeout(
          this.#sql.begin((tx) => [
            tx`set local lock_timeout = '1s'`,
            tx`lock table ai_request_logs in row exclusive mode`,
          ]),
          READ_TIMEOUT_MS,
        );
      }
      this.#latencyMs = Math.round((performance.now() - started) * 100) / 100;
      if (this.#version === null) {
        const v = await this.migrate();
        this.#log.info('database schema ready', { version: v });
      }
      this.#markUp();
      this.#mode.drainPending();
      if (!this.#listening) void this.#listen();
    } catch (err) {
      this.#markDown(err);
    }
  }

  /**
   * A killswitch change through any instance is announced at its commit; the cached state is then
   * dropped, so the next request reads the new one. After a reconnect (onlisten) too: a change may
   * have been missed meanwhile.
   */
  async #listen(): Promise<void> {
    this.#listening = true;
    const forget = () => this.#killswitchView.forget();
    const keysChanged = () => {
      for (const w of this.#keyWatchers) w();
    };
    try {
      await this.#sql.listen(KILLSWITCH_CHANNEL, forget, forget);
      await this.#sql.listen(KEYS_CHANNEL, keysChanged, keysChanged);
    } catch (err) {
      this.#listening = false; // tried again at the next probe; the read cache holds meanwhile
      this.#log.debug('cannot listen for killswitch changes', { error: describePgError(err) });
    }
  }

  async write(op: WriteOp): Promise<'database' | 'outbox'> {
    const where = await this.#writes.add(op);
    if (op.kind === 'killswitch') {
      this.#killswitch = foldKillswitch([op.data], this.#killswitch);
      this.#killswitchView.forget();
    }
    return where;
  }

  async findResponse(keyId: string, requestId: string): Promise<StoredResponse | undefined> {
    const pending = this.#outbox.find('request', requestId, keyId);
    if (pending && !isRetryable(pending.data as RequestRecord)) {
      const r = pending.data as RequestRecord;
      return { http_status: r.http_status, response: r.response, fingerprint: r.request_fingerprint ?? null };
    }
    if (!this.#mode.up) return undefined;
    try {
      const rows = await withTimeout(
        this.#sql<{ http_status: number; response: unknown; request_fingerprint: string | null }[]>`
          select http_status, response, request_fingerprint from ai_request_logs
          where key_id = ${keyId} and request_id = ${requestId} and not ${this.#sql.unsafe(retryableSql('ai_request_logs'))}`,
        READ_TIMEOUT_MS,
      );
      const row = rows[0];
      return row
        ? { http_status: row.http_status, response: row.response, fingerprint: row.request_fingerprint }
        : undefined;
    } catch (err) {
      if (isConnectionError(err)) this.#markDown(err);
      return undefined;
    }
  }

  /**
   * With the database down, the claim is this process's alone (its in-flight map still holds one
   * call per id): the outbox cannot arbitrate between instances.
   */
  async claim(requestId: string, fingerprint: string, staleMs: number): Promise<Claim> {
    if (!this.#mode.up || this.#version === null) return 'won';
    try {
      const won = await withTimeout(
        this.#coord`
          insert into request_claims (request_id, fingerprint) values (${requestId}, ${fingerprint})
          on conflict (request_id) do update set fingerprint = excluded.fingerprint, claimed_at = now()
          where request_claims.claimed_at < now() - ${`${Math.ceil(staleMs)} milliseconds`}::interval
          returning request_id`,
        READ_TIMEOUT_MS,
      );
      if (won.length > 0) return 'won';
      const held = await withTimeout(
        this.#coord<
          { fingerprint: string }[]
        >`select fingerprint from request_claims where request_id = ${requestId}`,
        READ_TIMEOUT_MS,
      );
      const row = held[0];
      if (!row) return 'won';
      return row.fingerprint === fingerprint ? 'taken' : 'conflict';
    } catch (err) {
      if (isConnectionError(err)) this.#markDown(err);
      else this.#log.warn('cannot claim a request id: going ahead alone', { reason: describePgError(err) });
      return 'won';
    }
  }

  async renewClaim(requestId: string): Promise<void> {
    if (!this.#mode.up) return;
    try {
      await withTimeout(
        this.#coord`update request_claims set claimed_at = now() where request_id = ${requestId}`,
        READ_TIMEOUT_MS,
      );
    } catch {
      // the next renewal comes well within the lease
    }
  }

  async release(requestId: string): Promise<void> {
    if (!this.#mode.up) return;
    try {
      await this.#releases.add(requestId);
    } catch {
      // a stale claim is taken over after its time
    }
  }

  /** One statement per request (rate-windows.ts); with the database down the limiter keeps a local share. */
  async rateHit(key: string, max: number, windowMs: number, n: number, ahead = 0): Promise<RateBatch> {
    if (!this.#mode.up || this.#version === null) throw new StorageUnavailableError('database unreachable');
    try {
      return await withTimeout(rateHitPostgres(this.#coord, key, max, windowMs, n, ahead), READ_TIMEOUT_MS);
    } catch (err) {
      if (isConnectionError(err)) this.#markDown(err);
      throw new StorageUnavailableError(describePgError(err));
    }
  }

  async rateGiveBack(key: string, windowStart: number, n: number): Promise<void> {
    if (!this.#mode.up) return;
    try {
      await withTimeout(rateGiveBackPostgres(this.#coord, key, windowStart, n), READ_TIMEOUT_MS);
    } catch {
      // Still counted: the limit errs on the safe side until the window moves.
    }
  }

  async pruneRateWindows(before: number): Promise<void> {
    if (!this.#mode.up) return;
    await withTimeout(pruneRateWindows(this.#coord, before), QUERY_TIMEOUT_MS).catch(() => undefined);
  }

  async cachedAnswer(key: string): Promise<CachedAnswer | undefined> {
    if (!this.#mode.up || this.#version === null) return undefined;
    try {
      const rows = await withTimeout(
        this.#coord<{ answer: unknown; created_at: string }[]>`
          select answer, created_at from answer_cache where key = ${key}`,
        READ_TIMEOUT_MS,
      );
      const row = rows[0];
      return row ? { answer: row.answer, createdAt: Number(row.created_at) } : undefined;
    } catch (err) {
      if (isConnectionError(err)) this.#markDown(err);
      return undefined;
    }
  }

  async cacheAnswer(key: string, service: string, answer: unknown): Promise<void> {
    if (!this.#mode.up || this.#version === null) return;
    await withTimeout(
      this.#coord`
        insert into answer_cache (key, service, answer, created_at)
        values (${key}, ${service}, ${this.#coord.json(withoutNul(answer) as postgres.JSONValue)}, ${Date.now()})
        on conflict (key) do update set answer = excluded.answer, created_at = excluded.created_at`,
      QUERY_TIMEOUT_MS,
    ).catch(() => undefined);
  }

  async pruneAnswers(before: number): Promise<void> {
    if (!this.#mode.up) return;
    await withTimeout(
      this.#coord`delete from answer_cache where created_at < ${before}`,
      QUERY_TIMEOUT_MS,
    ).catch(() => undefined);
  }

  /**
   * Read on every request: within a second of the last database read the folded answer is reused
   * as it is (no outbox query); otherwise the database is asked and changes still waiting in the
   * outbox are applied on top. The local copy is rewritten only when the state changed.
   */
  async killswitch(): Promise<KillswitchState> {
    const cached = this.#mode.up ? this.#killswitchView.fresh() : undefined;
    if (cached) return cached;
    const pending = this.#outbox.pendingKillswitch().map((o) => o.data as KillswitchChange);
    if (this.#killswitch && !this.#mode.up) return foldKillswitch(pending, this.#killswitch);
    try {
      const state = await withTimeout(readKillswitch(this.#sql), READ_TIMEOUT_MS);
      if (JSON.stringify(state) !== JSON.stringify(this.#killswitch)) this.#outbox.rememberKillswitch(state);
      this.#killswitch = state;
      const view = foldKillswitch(pending, state);
      this.#killswitchView.set(view);
      return view;
    } catch (err) {
      if (isConnectionError(err)) this.#markDown(err);
      if (this.#killswitch) return foldKillswitch(pending, this.#killswitch);
      throw new StorageUnavailableError(
        'the killswitch state cannot be read: database unreachable and nothing cached',
      );
    }
  }

  async recentRequests(limit: number): Promise<RecentRequest[]> {
    const rows = await withTimeout(
      this.#sql<(Omit<RecentRequest, 'timestamp'> & { timestamp: Date })[]>`
        select request_id, timestamp, key_name, source, ai_model, http_status, gatekeeper_status, tokens_used,
          processing_time_ms
        from ai_request_logs order by created_at desc limit ${limit}`,
      READ_TIMEOUT_MS,
    );
    return rows.map((r) => ({ ...r, timestamp: r.timestamp.toISOString() }));
  }

  async recentBlocks(limit: number, keyId?: string): Promise<BlockRecord[]> {
    const rows = await withTimeout(
      this.#sql<(Omit<BlockRecord, 'timestamp'> & { timestamp: Date })[]>`
        select request_id, timestamp, block_reason, block_category, severity, source, input_pattern,
          triggered_killswitch, user_id from gatekeeper_blocks
        where ${keyId === undefined ? this.#sql`true` : this.#sql`key_id = ${keyId}`}
        order by created_at desc limit ${limit}`,
      READ_TIMEOUT_MS,
    );
    return rows.map((r) => ({ ...r, timestamp: r.timestamp.toISOString() }));
  }

  async stats(sinceMs: number, keyId?: string): Promise<Stats> {
    const since = new Date(sinceMs);
    const mine = keyId === undefined ? this.#sql`true` : this.#sql`key_id = ${keyId}`;
    const [byStatus, byService] = await withTimeout(
      Promise.all([
        this.#sql<{ k: string; n: string }[]>`
          select gatekeeper_status as k, count(*) as n from ai_request_logs where created_at >= ${since} and ${mine} group by 1`,
        this.#sql<{ k: string; n: string }[]>`
          select ai_service as k, count(*) as n from ai_request_logs where created_at >= ${since} and ${mine} group by 1`,
      ]),
      READ_TIMEOUT_MS,
    );
    const obj = (rows: { k: string; n: string }[]) => Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]));
    return { since: since.toISOString(), by_status: obj(byStatus), by_service: obj(byService) };
  }

  async usage(q: UsageQuery): Promise<UsageRow[]> {
    const rows = await withTimeout(
      this.#sql<UsageRow[]>`
        select ${this.#sql.unsafe(usageGroup(q.by, 'postgres'))} as "group", ${this.#sql.unsafe(USAGE_SUMS)}
        from ai_request_logs
        where created_at >= ${new Date(q.sinceMs)}
          and ${q.key === undefined ? this.#sql`true` : this.#sql`(key_id = ${q.key} or key_name = ${q.key})`}
        group by 1 order by 1`,
      QUERY_TIMEOUT_MS,
    );
    return rows.map(numericUsage);
  }

  #needUp(): void {
    if (!this.#mode.up || this.#version === null)
      throw new StorageUnavailableError(this.#mode.lastError ?? 'the database is not ready');
  }

  /** Any failure of a coordination query as StorageUnavailableError (noting an outage). */
  #unavailable(err: unknown): never {
    if (err instanceof KeyConflictError) throw err;
    if (isConnectionError(err)) this.#markDown(err);
    throw new StorageUnavailableError(describePgError(err));
  }

  async keysSince(rev: number): Promise<{ rev: number; keys: KeyRecord[] }> {
    this.#needUp();
    return withTimeout(keysSincePostgres(this.#sql, rev), QUERY_TIMEOUT_MS).catch((err) =>
      this.#unavailable(err),
    );
  }

  async saveKey(key: Omit<KeyRecord, 'rev'>): Promise<KeyRecord> {
    this.#needUp();
    return withTimeout(saveKeyPostgres(this.#sql, key), QUERY_TIMEOUT_MS).catch((err) =>
      this.#unavailable(err),
    );
  }

  onKeysChanged(changed: () => void): void {
    this.#keyWatchers.push(changed);
  }

  /**
   * Only an outage (the database marked down) is StorageUnavailableError, with which a request goes
   * on unchecked; a hold that cannot be decided while the database is up (a slow lock, a timeout)
   * is BudgetUndecidedError: refused for now, never admitted past the budget.
   */
  async holdBudget(h: BudgetHold): Promise<HoldResult> {
    this.#needUp();
    return withTimeout(holdBudgetPostgres(this.#coord, h), QUERY_TIMEOUT_MS).catch((err: unknown) => {
      // An outage is the probe's to notice.
      throw new BudgetUndecidedError(describePgError(err));
    });
  }

  async releaseBudget(holdId: string): Promise<void> {
    if (!this.#mode.up) return;
    await withTimeout(this.#coord`delete from budget_holds where id = ${holdId}`, READ_TIMEOUT_MS).catch(
      () => undefined,
    );
  }

  async purge(before: Date, batchSize: number): Promise<number> {
    let removed = 0;
    for (const table of ['ai_request_logs', 'gatekeeper_blocks']) {
      const t = this.#sql(table);
      for (let i = 0; i < 100_000; i++) {
        const r = await withTimeout(
          this
            .#sql`delete from ${t} where id in (select id from ${t} where created_at < ${before} limit ${batchSize})`,
          QUERY_TIMEOUT_MS * 2,
        );
        removed += r.count;
        if (r.count < batchSize) break;
      }
    }
    return removed;
  }

  checks(): Record<string, () => CheckResult> {
    return {
      database: () => {
        const r: CheckResult = { status: this.#mode.up ? 'up' : 'down', store: 'postgres' };
        if (this.#latencyMs !== undefined) r.latency_ms = this.#latencyMs;
        const error = this.#mode.lastError;
        if (error) r.error = error;
        return r;
      },
      outbox: () => this.#mode.outboxCheck(),
    };
  }

  get databaseUp(): boolean {
    return this.#mode.up;
  }

  async info() {
    let version = this.#version;
    if (version === null && this.#mode.up) {
      try {
        const rows = await withTimeout(
          this.#sql<{ v: number | null }[]>`select max(version) as v from robbie_schema_migrations`,
          READ_TIMEOUT_MS,
        );
        version = rows[0]?.v ?? null;
      } catch {
        version = null;
      }
    }
    return {
      kind: 'postgres',
      version,
      database_up: this.#mode.up,
      ...this.#mode.outboxInfo(),
      error: this.#mode.lastError ?? null,
    };
  }

  async requeueQuarantined(): Promise<number> {
    return this.#outbox.requeue();
  }

  /** Checks reachability once (for `robbie db` commands, which do not run the probe loop). */
  describeError(err: unknown): { reason: string; outage: boolean } {
    return { reason: describePgError(err), outage: isConnectionError(err) };
  }

  async ping(): Promise<void> {
    await this.#probe();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#mode.close();
    clearTimeout(this.#probeTimer);
    // A bare end() can hang forever after an outage: always with a timeout.
    await Promise.all([this.#sql.end({ timeout: 2 }), this.#coord.end({ timeout: 2 })]);
    this.#outbox.close();
  }
}
