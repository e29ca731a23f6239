/** Applying writes to a SQLite database with the original tables (idempotent: a replay is a no-op). */
import type { DatabaseSync } from 'node:sqlite';
import { newId } from '../ids.ts';
import { foldKillswitch, type KillswitchState } from '../killswitch.ts';
import { UPSERT_SET } from '../schema.ts';
import { dayOf, spendOf } from '../spend.ts';
import { retryableSql, type WriteOp } from '../types.ts';
import { stmt } from './open.ts';

/**
 * Built once: a statement is found by its text, and a text built on every call was hashed anew
 * each time (4 µs a row, measured apart).
 */
const INSERT_REQUEST = `insert into ai_request_logs (id, request_id, timestamp, source, source_metadata, ai_service, ai_model,
    input_summary, output_summary, gatekeeper_status, gatekeeper_confidence, gatekeeper_reasoning,
    processing_time_ms, tokens_used, user_id, town_id, http_status, response, request_fingerprint,
    provider, cache, first_token_ms, stream, key_id, key_name, prompt_tokens, completion_tokens, cost,
    created_at)
   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'aurora', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
   on conflict (key_id, request_id) do update set ${UPSERT_SET}
   where ${retryableSql('ai_request_logs')}
   returning 1 as landed`;

export function applySqlite(db: DatabaseSync, op: WriteOp): void {
  const now = Date.now();
  if (op.kind === 'request') {
    const r = op.data;
    const createdAt = Date.parse(r.timestamp) || now;
    const landed = stmt(db, INSERT_REQUEST).get(
      newId(),
      r.request_id,
      r.timestamp,
      r.source,
      r.source_metadata === null ? null : JSON.stringify(r.source_metadata),
      r.ai_service,
      r.ai_model,
      r.input_summary,
      r.output_summary,
      r.gatekeeper_status,
      r.gatekeeper_confidence,
      r.gatekeeper_reasoning,
      r.processing_time_ms,
      r.tokens_used,
      r.user_id,
      r.http_status,
      JSON.stringify(r.response),
      r.request_fingerprint ?? null,
      r.provider ?? null,
      r.cache ?? null,
      r.first_token_ms ?? null,
      r.stream ?? null,
      r.key_id ?? '',
      r.key_name ?? null,
      r.prompt_tokens ?? null,
      r.completion_tokens ?? null,
      r.cost ?? null,
      createdAt,
    );
    // The key's spend counts what was recorded, once: a replay that changes nothing adds nothing.
    const spend = spendOf(r);
    if (landed && spend) {
      stmt(
        db,
        `insert into key_spend (key_id, day, requests, tokens, cost) values (?, ?, 1, ?, ?)
         on conflict (key_id, day) do update set requests = requests + 1, tokens = tokens + excluded.tokens,
           cost = cost + excluded.cost`,
      ).run(spend.keyId, dayOf(createdAt), spend.tokens, spend.cost);
    }
    // The spend is counted now: its hold goes in the same commit, so the two never count twice.
    if (r.budget_hold) stmt(db, 'delete from budget_holds where id = ?').run(r.budget_hold);
    return;
  }
  if (op.kind === 'block') {
    const b = op.data;
    stmt(
      db,
      `insert or ignore into gatekeeper_blocks (id, request_id, timestamp, block_reason, block_category, severity, source,
        input_pattern, triggered_killswitch, user_id, key_id, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      newId(),
      b.request_id,
      b.timestamp,
      b.block_reason,
      b.block_category,
      b.severity,
      b.source,
      b.input_pattern,
      b.triggered_killswitch ? 1 : 0,
      b.user_id,
      b.key_id ?? '',
      Date.parse(b.timestamp) || now,
    );
    return;
  }
  const c = op.data;
  if (stmt(db, 'select 1 from killswitch_state where change_id = ?').get(c.change_id)) return;
  const next = foldKillswitch([c], readKillswitchSqlite(db));
  stmt(db, 'update killswitch_state set is_active = 0 where is_active = 1').run();
  stmt(
    db,
    `insert into killswitch_state (change_id, is_active, activated_at, activated_by, reason, auto_trigger, block_internet,
      block_gpu_mesh, block_email, block_webhooks, deactivated_at, deactivated_by, updated_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    c.change_id,
    next.is_active ? 1 : 0,
    next.activated_at,
    next.activated_by,
    next.reason,
    next.auto_trigger,
    next.restrictions.internet ? 1 : 0,
    next.restrictions.gpu_mesh ? 1 : 0,
    next.restrictions.email ? 1 : 0,
    next.restrictions.webhooks ? 1 : 0,
    next.deactivated_at,
    next.deactivated_by,
    next.updated_at,
  );
}

interface KillswitchRow {
  is_active: number;
  activated_at: string | null;
  activated_by: string | null;
  reason: string | null;
  auto_trigger: string | null;
  block_internet: number;
  block_gpu_mesh: number;
  block_email: number;
  block_webhooks: number;
  deactivated_at: string | null;
  deactivated_by: string | null;
  updated_at: string | null;
}

export function readKillswitchSqlite(db: DatabaseSync): KillswitchState {
  const row = stmt(db, 'select * from killswitch_state order by id desc limit 1').get() as
    | KillswitchRow
    | undefined;
  return row
    ? {
        is_active: row.is_active === 1,
        activated_at: row.activated_at,
        activated_by: row.activated_by,
        reason: row.reason,
        auto_trigger: row.auto_trigger,
        deactivated_at: row.deactivated_at,
        deactivated_by: row.deactivated_by,
        updated_at: row.updated_at,
        restrictions: {
          internet: row.block_internet === 1 && row.is_active === 1,
          gpu_mesh: row.block_gpu_mesh === 1 && row.is_active === 1,
          email: row.block_email === 1 && row.is_active === 1,
          webhooks: row.block_webhooks === 1 && row.is_active === 1,
        },
      }
    : foldKillswitch([]);
}
