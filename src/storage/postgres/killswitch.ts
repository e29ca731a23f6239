/**
 * The killswitch in PostgreSQL: its row <-> state mapping, the serialised change, and the
 * notification every instance listens to, so a change made through one reaches all at once
 * (LISTEN/NOTIFY; the stores' one-second read cache is the fallback while a listener reconnects).
 */
import { foldKillswitch, type KillswitchChange, type KillswitchState } from '../killswitch.ts';
import type { Sql, Tx } from './connect.ts';

/** The channel a killswitch change is announced on (at commit, by the transaction that made it). */
export const KILLSWITCH_CHANNEL = 'robbie_killswitch';

interface KillswitchRow {
  is_active: boolean;
  activated_at: Date | null;
  activated_by: string | null;
  reason: string | null;
  auto_trigger: string | null;
  block_internet: boolean;
  block_gpu_mesh: boolean;
  block_email: boolean;
  block_webhooks: boolean;
  deactivated_at: Date | null;
  deactivated_by: string | null;
  updated_at: Date | null;
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

function killswitchFromRow(row: KillswitchRow | undefined): KillswitchState {
  if (!row) return foldKillswitch([]);
  return {
    is_active: row.is_active,
    activated_at: iso(row.activated_at),
    activated_by: row.activated_by,
    reason: row.reason,
    auto_trigger: row.auto_trigger,
    deactivated_at: iso(row.deactivated_at),
    deactivated_by: row.deactivated_by,
    updated_at: iso(row.updated_at),
    restrictions: {
      internet: row.is_active && row.block_internet,
      gpu_mesh: row.is_active && row.block_gpu_mesh,
      email: row.is_active && row.block_email,
      webhooks: row.is_active && row.block_webhooks,
    },
  };
}

export async function readKillswitch(q: Sql | Tx): Promise<KillswitchState> {
  const rows = await q<KillswitchRow[]>`select * from killswitch_state order by id desc limit 1`;
  return killswitchFromRow(rows[0]);
}

export async function applyKillswitch(tx: Tx, c: KillswitchChange): Promise<void> {
  // Serialises concurrent changes from several instances.
  await tx`lock table killswitch_state in share row exclusive mode`;
  const seen = await tx`select 1 from killswitch_state where change_id = ${c.change_id}`;
  if (seen.length > 0) return;
  const next = foldKillswitch([c], await readKillswitch(tx));
  await tx`update killswitch_state set is_active = false where is_active`;
  await tx`insert into killswitch_state (change_id, is_active, activated_at, activated_by, reason, auto_trigger,
      block_internet, block_gpu_mesh, block_email, block_webhooks, deactivated_at, deactivated_by, updated_at)
    values (${c.change_id}, ${next.is_active}, ${next.activated_at}, ${next.activated_by}, ${next.reason},
      ${next.auto_trigger}, ${next.restrictions.internet}, ${next.restrictions.gpu_mesh}, ${next.restrictions.email},
      ${next.restrictions.webhooks}, ${next.deactivated_at}, ${next.deactivated_by},
      ${next.updated_at})`;
  await tx`select pg_notify(${KILLSWITCH_CHANNEL}, ${c.change_id})`;
}
