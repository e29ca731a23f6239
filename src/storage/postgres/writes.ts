/** The write path: one batch of records, blocks and killswitch changes, idempotent. */
import type postgres from 'postgres';
import type { KillswitchChange } from '../killswitch.ts';
import { REQUEST_COLUMNS, UPSERT_SET } from '../schema.ts';
import { type BlockRecord, isRetryable, type RequestRecord, retryableSql, type WriteOp } from '../types.ts';
import type { Sql, Tx } from './connect.ts';
import { applyKillswitch } from './killswitch.ts';
import { withoutNul } from './without-nul.ts';

/** jsonb columns take the values as they are (postgres.js serialises them once). */
function requestRow(record: RequestRecord) {
  const r = withoutNul(record);
  return {
    ...r,
    source_metadata: r.source_metadata as postgres.JSONValue,
    response: r.response as postgres.JSONValue,
    // Rows queued by a version before fingerprints have none.
    request_fingerprint: r.request_fingerprint ?? null,
    provider: r.provider ?? null,
    cache: r.cache ?? null,
    first_token_ms: r.first_token_ms ?? null,
    stream: r.stream ?? null,
    key_id: r.key_id ?? '',
    key_name: r.key_name ?? null,
    prompt_tokens: r.prompt_tokens ?? null,
    completion_tokens: r.completion_tokens ?? null,
    cost: r.cost ?? null,
    town_id: 'aurora',
    created_at: r.timestamp,
    budget_hold: r.budget_hold ?? null,
  };
}

const BLOCK_COLUMNS = [
  'request_id',
  'timestamp',
  'block_reason',
  'block_category',
  'severity',
  'source',
  'input_pattern',
  'triggered_killswitch',
  'user_id',
  'key_id',
  'created_at',
] as const;

/**
 * One row per request id within a batch (one INSERT … ON CONFLICT cannot touch a row twice): a
 * final outcome wins over a retryable one, else the later write.
 */
function latestPerRequest(ops: WriteOp[]): RequestRecord[] {
  const byId = new Map<string, RequestRecord>();
  for (const o of ops) {
    if (o.kind !== 'request') continue;
    const id = `${o.data.key_id ?? ''}\u0000${o.data.request_id}`;
    const prev = byId.get(id);
    if (prev && !isRetryable(prev) && isRetryable(o.data)) continue;
    byId.set(id, o.data);
  }
  return [...byId.values()];
}

/**
 * Applies writes; requests and blocks as multi-row inserts. Idempotent. A batch of one kind is a
 * single statement (atomic on its own: one round trip); a mixed batch runs in one transaction.
 */
export async function applyBatch(sql: Sql, ops: WriteOp[]): Promise<void> {
  const requests = latestPerRequest(ops).map(requestRow);
  const blocks = ops
    .filter((o) => o.kind === 'block')
    .map((o) => ({
      ...withoutNul(o.data as BlockRecord),
      key_id: o.data.key_id ?? '',
      created_at: o.data.timestamp,
    }));
  const changes = ops
    .filter((o) => o.kind === 'killswitch')
    .map((o) => withoutNul(o.data as KillswitchChange));
  // The rows that landed (inserted, or replacing a retryable outcome) add to their key's spend in
  // the same statement: a replay that changes nothing adds nothing. Sorted, so that two instances'
  // statements lock the same spend rows in the same order. Holds whose spend these records count
  // go in the same statement too: the two never count twice. Records of no key (no keys
  // configured) have no spend: the plain insert serves them.
  const holds = requests.map((r) => r.budget_hold).filter((h): h is string => typeof h === 'string');
  const keyed = requests.some((r) => r.key_id !== '');
  const upsert = (q: Sql | Tx) =>
    q`insert into ai_request_logs ${q(requests, ...REQUEST_COLUMNS)}
      on conflict (key_id, request_id) do update set ${q.unsafe(UPSERT_SET)}
      where ${q.unsafe(retryableSql('ai_request_logs'))}`;
  const release = (q: Sql | Tx) =>
    holds.length === 0 ? q`` : q`released as (delete from budget_holds where id = any(${holds}::text[])),`;
  const insertRequests = (q: Sql | Tx) =>
    !keyed
      ? upsert(q)
      : q`with ${release(q)} landed as (${upsert(q)} returning key_id, created_at, tokens_used, cost)
      insert into key_spend (key_id, day, requests, tokens, cost)
        select key_id, floor(extract(epoch from created_at) / 86400)::int, count(*),
          coalesce(sum(tokens_used), 0), coalesce(sum(cost), 0)
        from landed where key_id <> '' group by 1, 2 order by 1, 2
      on conflict (key_id, day) do update set requests = key_spend.requests + excluded.requests,
        tokens = key_spend.tokens + excluded.tokens, cost = key_spend.cost + excluded.cost`;
  const insertBlocks = (q: Sql | Tx) =>
    q`insert into gatekeeper_blocks ${q(blocks, ...BLOCK_COLUMNS)} on conflict (key_id, request_id) do nothing`;
  if (changes.length === 0 && (requests.length === 0 || blocks.length === 0)) {
    if (requests.length > 0) await insertRequests(sql);
    if (blocks.length > 0) await insertBlocks(sql);
    return;
  }
  await sql.begin(async (tx) => {
    if (requests.length > 0) await insertRequests(tx);
    if (blocks.length > 0) await insertBlocks(tx);
    for (const c of changes) await applyKillswitch(tx, c);
  });
}
