/**
 * The killswitch, in one place: its state and changes, what an active one restricts, how changes
 * fold into the state, and the short read cache both stores keep (each request reads it). The
 * dialects' row mappings live beside their SQL (sqlite/apply.ts, postgres/killswitch.ts) and store
 * what `foldKillswitch` computed.
 */
import { newId } from './ids.ts';

/** A killswitch change: each one is a row of `killswitch_state` (its history); the newest is current. */
export interface KillswitchChange {
  change_id: string;
  is_active: boolean;
  at: string;
  by: string;
  reason: string | null;
  auto_trigger: string | null;
}

/** A change made now, with a fresh id (its idempotency key through the outbox). */
export function killswitchChange(
  active: boolean,
  by: string,
  reason: string | null,
  trigger: string | null,
): KillswitchChange {
  return {
    change_id: newId(),
    is_active: active,
    at: new Date().toISOString(),
    by,
    reason,
    auto_trigger: trigger,
  };
}

export interface KillswitchState {
  is_active: boolean;
  activated_at: string | null;
  activated_by: string | null;
  reason: string | null;
  auto_trigger: string | null;
  deactivated_at: string | null;
  deactivated_by: string | null;
  updated_at: string | null;
  restrictions: { internet: boolean; gpu_mesh: boolean; email: boolean; webhooks: boolean };
}

/** What an active killswitch restricts — the one place it is written (stores persist it as given). */
export const ACTIVE_RESTRICTIONS: KillswitchState['restrictions'] = Object.freeze({
  internet: true,
  gpu_mesh: false,
  email: true,
  webhooks: true,
});
export const NO_RESTRICTIONS: KillswitchState['restrictions'] = Object.freeze({
  internet: false,
  gpu_mesh: false,
  email: false,
  webhooks: false,
});

export const INACTIVE_KILLSWITCH: KillswitchState = {
  is_active: false,
  activated_at: null,
  activated_by: null,
  reason: null,
  auto_trigger: null,
  deactivated_at: null,
  deactivated_by: null,
  updated_at: null,
  restrictions: NO_RESTRICTIONS,
};

/** Folds a history of changes (oldest first) into the current state. */
export function foldKillswitch(
  changes: KillswitchChange[],
  base: KillswitchState = INACTIVE_KILLSWITCH,
): KillswitchState {
  let s = base;
  for (const c of changes) {
    s = c.is_active
      ? {
          ...s,
          is_active: true,
          activated_at: c.at,
          activated_by: c.by,
          reason: c.reason,
          auto_trigger: c.auto_trigger,
          deactivated_at: null,
          deactivated_by: null,
          updated_at: c.at,
          restrictions: ACTIVE_RESTRICTIONS,
        }
      : {
          ...s,
          is_active: false,
          deactivated_at: c.at,
          deactivated_by: c.by,
          updated_at: c.at,
          restrictions: NO_RESTRICTIONS,
        };
  }
  return s;
}

/**
 * The state as last read, for `ttlMs`: every request asks for the killswitch, the database need not
 * answer each one. `forget()` when it is known to have changed (a change made here, a notification).
 */
export class KillswitchCache {
  readonly #ttlMs: number;
  #state: KillswitchState | undefined;
  #at = 0;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** Times are the monotonic clock's: a wall-clock step neither keeps a state fresh nor ages it. */
  fresh(now = performance.now()): KillswitchState | undefined {
    return this.#state !== undefined && now - this.#at < this.#ttlMs ? this.#state : undefined;
  }

  set(state: KillswitchState, now = performance.now()): void {
    this.#state = state;
    this.#at = now;
  }

  forget(): void {
    this.#state = undefined;
  }
}
