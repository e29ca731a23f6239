/** What the API records, and the storage contract both stores (SQLite, PostgreSQL) fulfil. */
import type { CheckResult } from '../checks.ts';
import type { KillswitchChange, KillswitchState } from './killswitch.ts';
import type { RateBatch } from './rate-window.ts';

export type RequestStatus = 'approved' | 'revised' | 'rejected' | 'blocked' | 'error' | 'unavailable';

/**
 * Only a 2xx answer that is not a killswitch block is final. Anything else a client should retry
 * (rate limited, model unavailable, a stream cut or broken off, storage or internal error, blocked
 * while the killswitch was on) is recorded, but a retry with the same request id runs again and
 * its outcome replaces the record. RETRYABLE_SQL says the same in both dialects.
 */
export function isRetryable(record: { http_status: number; gatekeeper_status?: string | null }): boolean {
  return record.http_status >= 300 || record.gatekeeper_status === 'blocked';
}

/** isRetryable() of the row `t` in SQL. */
export function retryableSql(t: string): string {
  return `(${t}.http_status >= 300 or ${t}.gatekeeper_status = 'blocked')`;
}

/** One row of `ai_request_logs`: the request, its outcome, and the answer given (for idempotent retries). */
export interface RequestRecord {
  request_id: string;
  timestamp: string;
  source: string;
  source_metadata: Record<string, unknown> | null;
  ai_service: string;
  ai_model: string | null;
  input_summary: string | null;
  output_summary: string | null;
  gatekeeper_status: RequestStatus;
  gatekeeper_confidence: number | null;
  gatekeeper_reasoning: string | null;
  processing_time_ms: number;
  tokens_used: number | null;
  user_id: string | null;
  http_status: number;
  response: unknown;
  /** Digest of what the client sent, to refuse a reused request id with another payload. */
  request_fingerprint: string | null;
  /** The provider that answered (records queued by an earlier version have none). */
  provider?: string | null;
  /** Answered from the answer cache: `hit`, or `stale` while every provider was down. */
  cache?: 'hit' | 'stale' | null;
  /** Streamed answers: milliseconds to the first piece, and how the stream ended. */
  first_token_ms?: number | null;
  stream?: 'complete' | 'cut' | 'broken' | null;
  /** The principal (API key) that sent it: its id ('' when no keys are configured) and name. */
  key_id?: string;
  key_name?: string | null;
  /** Usage as the provider reported it, split; the cost from the price table, null when unknown. */
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  cost?: number | null;
  /** The budget hold this record's spend replaces: released in the same transaction (not a column). */
  budget_hold?: string | null;
}

/** An answer kept for identical requests (the answer cache), with when it was made (ms since the epoch). */
export interface CachedAnswer {
  answer: unknown;
  createdAt: number;
}

/** One row of `gatekeeper_blocks`. */
export interface BlockRecord {
  request_id: string;
  timestamp: string;
  block_reason: string;
  block_category: string;
  severity: 'low' | 'medium' | 'high' | 'critical';
  source: string | null;
  input_pattern: string | null;
  triggered_killswitch: boolean;
  user_id: string | null;
  /** The principal whose request it was ('' when no keys are configured). */
  key_id?: string;
}

export type WriteOp =
  | { kind: 'request'; data: RequestRecord }
  | { kind: 'block'; data: BlockRecord }
  | { kind: 'killswitch'; data: KillswitchChange };

export interface StoredResponse {
  http_status: number;
  response: unknown;
  fingerprint: string | null;
}

/**
 * Claiming a request id before calling the model, so every instance sharing the store calls it
 * once per id: `won` (go ahead), `taken` (another attempt with the same payload runs: wait for its
 * answer), `conflict` (the id is in use with another payload).
 */
export type Claim = 'won' | 'taken' | 'conflict';

export interface Stats {
  since: string;
  by_status: Record<string, number>;
  by_service: Record<string, number>;
}

/** Thrown when a write cannot be made durable anywhere (database down and outbox unwritable). */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
}

/** The database refused this one record (not the connection): nothing was stored, nothing acked. */
export class StorageRefusedError extends StorageUnavailableError {
  override name = 'StorageRefusedError';
}

/** What a store reports as it happens, for alerts: outages, recoveries, refused rows. */
export type StorageEvent =
  | { kind: 'database-down'; error: string; since: string }
  | { kind: 'database-up'; down_since: string }
  | { kind: 'quarantined'; count: number; reason: string };

export type StorageEvents = (event: StorageEvent) => void;

/** What a key may do, as stored (rates as text such as `60/1m`, read by the tenancy layer). */
export interface KeySpec {
  services: string[] | null;
  models: string[] | null;
  rate_limit: string | null;
  token_limit: string | null;
  budget: { tokens: number | null; cost: number | null; period: 'day' | 'month' } | null;
  cache_group: string | null;
}

/** One row of `api_keys`: the secret only as its digest, and a hint of its first characters. */
export interface KeyRecord {
  id: string;
  name: string;
  digest: string;
  hint: string;
  spec: KeySpec;
  expires_at: number | null;
  revoked_at: number | null;
  created_at: number;
  updated_at: number;
  /** Set by the store on every change: a later change has a higher one. */
  rev: number;
}

/** A key's name or id is already taken by another key. */
export class KeyConflictError extends Error {
  override name = 'KeyConflictError';
}

/** A reservation against a key's budget while its request runs (released once its spend is recorded). */
export interface BudgetHold {
  id: string;
  keyId: string;
  /** The budget's period starts on this day (days since the epoch, UTC). */
  sinceDay: number;
  tokens: number;
  cost: number;
  /** A hold its process did not release (it died) lapses after this long. */
  leaseMs: number;
  limit: { tokens: number | null; cost: number | null };
}

/** A budget hold that could not be decided now, with the database up: the request is refused for now. */
export class BudgetUndecidedError extends Error {
  override name = 'BudgetUndecidedError';
}

export type HoldResult = { ok: true } | { ok: false; spentTokens: number; spentCost: number };

/** What a usage report groups by. */
export const USAGE_GROUPS = ['key', 'day', 'model', 'source'] as const;

/** The grouping `text` names, or undefined when it names none. */
export function usageGroupOf(text: string): UsageQuery['by'] | undefined {
  return USAGE_GROUPS.find((g) => g === text);
}

export interface UsageQuery {
  /** One key, by its id or its name. */
  key?: string;
  sinceMs: number;
  by: (typeof USAGE_GROUPS)[number];
}

/** A request as the dashboard lists it: what happened, for whom, with which model, how fast. */
export interface RecentRequest {
  request_id: string;
  timestamp: string;
  /** The key's name; null for a request without a key. */
  key_name: string | null;
  source: string;
  ai_model: string | null;
  http_status: number | null;
  gatekeeper_status: string;
  tokens_used: number | null;
  processing_time_ms: number;
}

export interface UsageRow {
  group: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  tokens: number;
  /** Of the requests whose price is known. */
  cost: number;
  /** Requests that used tokens at a price robbie does not know. */
  cost_unknown: number;
}

/** The request log: records, blocks, what they answered, and reports on them. */
export interface RequestLog {
  /** Resolves once the write is durable: in the database, or in the local outbox. Idempotent. */
  write(op: WriteOp): Promise<'database' | 'outbox'>;
  /** The final answer recorded for this key's request id. */
  findResponse(keyId: string, requestId: string): Promise<StoredResponse | undefined>;
  /** The latest blocks, of one key's requests or (undefined) of all. */
  recentBlocks(limit: number, keyId?: string): Promise<BlockRecord[]>;
  /** The latest request records, of every key. */
  recentRequests(limit: number): Promise<RecentRequest[]>;
  stats(sinceMs: number, keyId?: string): Promise<Stats>;
  /** Tokens and cost from the request records (as durable as they are). */
  usage(q: UsageQuery): Promise<UsageRow[]>;
  /** Deletes request logs and blocks older than `before`, in batches; returns rows removed. */
  purge(before: Date, batchSize: number): Promise<number>;
}

/** Claims on request ids, so every instance calls the model once per id. */
export interface Claims {
  /** Claims `scopedId` (the key's id and the request id) for one attempt; a claim not renewed for `staleMs` is taken over. */
  claim(scopedId: string, fingerprint: string, staleMs: number): Promise<Claim>;
  /** Keeps a claim alive while its attempt runs (a claim not renewed within its lease is taken over). */
  renewClaim(scopedId: string): Promise<void>;
  /** Ends a claim once the attempt's outcome is recorded. */
  release(scopedId: string): Promise<void>;
}

/** The shared rate-limit windows (the rule: storage/rate-window.ts). */
export interface RateWindows {
  /**
   * Counts `n` requests for `key` in the windows every instance sharing the store sees: as many as
   * the rule admits, one after another; the refused are not counted. With them, `ahead` more to
   * lease when the rule's `countedOf()` allows it, in `admitted` too. Throws when the shared
   * windows cannot be reached now (the limiter then keeps a local share).
   */
  rateHit(key: string, max: number, windowMs: number, n: number, ahead?: number): Promise<RateBatch>;
  /** Uncounts `n` requests of `key` in the window that starts at `windowStart`; never below zero, never throws. */
  rateGiveBack(key: string, windowStart: number, n: number): Promise<void>;
  /** Deletes rate-limit windows that start before `before` (ms since the epoch); never throws. */
  pruneRateWindows(before: number): Promise<void>;
}

/** Budgets: a key's spend (written with its request records) and the holds of its requests in flight. */
export interface Budgets {
  /**
   * Holds against the key's budget while its spend since `sinceDay` and what its requests in flight
   * hold leave room (storage/spend.ts holdable()), decided atomically for every instance. Throws
   * StorageUnavailableError while the database is away (the request then goes on, unchecked), and
   * BudgetUndecidedError when it cannot be decided with the database up (refused for now).
   */
  holdBudget(h: BudgetHold): Promise<HoldResult>;
  /** Releases a hold (its request's spend is recorded); never throws. */
  releaseBudget(holdId: string): Promise<void>;
}

/** The exact-match answer cache. */
export interface AnswerStore {
  /** The answer cached under `key`, if any; undefined (never a throw) when it cannot be read. */
  cachedAnswer(key: string): Promise<CachedAnswer | undefined>;
  /** Keeps an answer under `key` (replacing an older one); never throws. */
  cacheAnswer(key: string, service: string, answer: unknown): Promise<void>;
  /** Deletes cached answers made before `before` (ms since the epoch); never throws. */
  pruneAnswers(before: number): Promise<void>;
}

export interface KillswitchStore {
  /** The current killswitch; throws when it cannot be known (callers fail closed). */
  killswitch(): Promise<KillswitchState>;
}

/** API keys, managed while the service runs. */
export interface KeyStore {
  /** Keys changed after `rev` (all with 0), and the highest rev seen. */
  keysSince(rev: number): Promise<{ rev: number; keys: KeyRecord[] }>;
  /** Creates or replaces the key with this id (its rev set by the store); KeyConflictError when the name or digest is another key's. */
  saveKey(key: Omit<KeyRecord, 'rev'>): Promise<KeyRecord>;
  /** Calls `changed` when a key changes through any instance (PostgreSQL: at once; SQLite: never, it is polled). */
  onKeysChanged(changed: () => void): void;
}

/** Starting, checking and closing a store. */
export interface StoreLifecycle {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Whether the API can serve while this store's database is away (PostgreSQL: its outbox takes
   * the writes); a local store that cannot be prepared is fatal instead.
   */
  readonly degradable: boolean;
  /** Starts background work (PostgreSQL: the probe that notices outages and recoveries). */
  start(): void;
  /** Checks the database answers now (throws when it does not). */
  ping(): Promise<void>;
  /** A failure of this store, described without secrets; `outage` when the database is unreachable. */
  describeError(err: unknown): { reason: string; outage: boolean };
  /** Applies pending migrations; returns the schema version. */
  migrate(): Promise<number>;
  /** Checks for /health: the database and, with PostgreSQL, the outbox. */
  checks(): Record<string, () => Promise<CheckResult> | CheckResult>;
  /** Outbox depth and database state, for `robbie db status` and /metrics. */
  info(): Promise<{
    kind: string;
    version: number | null;
    database_up: boolean;
    outbox_pending: number;
    outbox_oldest_s: number | null;
    /** Outbox rows the database refused on their own, and the latest reason. */
    outbox_quarantined: number;
    quarantine_reason: string | null;
    /** Why the database cannot be reached, when it cannot. */
    error: string | null;
  }>;
  /** Puts quarantined outbox rows back in the replay queue; returns how many. */
  requeueQuarantined(): Promise<number>;
  close(): Promise<void>;
}

/** The storage contract both stores (SQLite, PostgreSQL) fulfil: one part per concern. */
export interface Store
  extends StoreLifecycle,
    RequestLog,
    Claims,
    RateWindows,
    Budgets,
    AnswerStore,
    KillswitchStore,
    KeyStore {}
