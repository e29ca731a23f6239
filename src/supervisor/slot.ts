import type { Backoff } from './backoff.ts';
import type { ManagedChild } from './child.ts';
import type { RestartWindow } from './intensity.ts';
import type { ProbeResult, Prober } from './probe.ts';

export type SlotState = 'starting' | 'running' | 'backoff' | 'cooldown' | 'stopping' | 'stopped' | 'exited';

export type ExitReason = 'crash' | 'hang' | 'exit' | 'manual' | 'reload';

export interface LastExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  time: number;
  reason: ExitReason;
  error?: string;
}

/**
 * One instance the supervisor keeps alive (`--instances N` gives N slots). A slot outlives the
 * processes that fill it: restarts, backoff and the restart-intensity window belong to the slot.
 */
export class Slot {
  readonly index: number;
  readonly id: string;
  readonly backoff: Backoff;
  readonly window: RestartWindow;
  child: ManagedChild | undefined;
  state: SlotState = 'starting';
  prober: Prober | undefined;
  lastProbe: ProbeResult | undefined;
  lastExit: LastExit | undefined;
  /** Why the supervisor is ending the current child (hang, manual), read when it exits. */
  pendingReason: ExitReason | undefined;
  /** A failure happened since the last healthy child: the next ready child is a recovery. */
  recovering = false;
  nextRestartAt: number | undefined;
  backoffMs: number | undefined;
  timer: NodeJS.Timeout | undefined;
  stableTimer: NodeJS.Timeout | undefined;
  startTimer: NodeJS.Timeout | undefined;

  constructor(index: number, id: string, backoff: Backoff, window: RestartWindow) {
    this.index = index;
    this.id = id;
    this.backoff = backoff;
    this.window = window;
  }

  clearTimers(): void {
    clearTimeout(this.timer);
    clearTimeout(this.stableTimer);
    clearTimeout(this.startTimer);
    this.timer = undefined;
    this.stableTimer = undefined;
    this.startTimer = undefined;
    this.prober?.stop();
    this.prober = undefined;
  }
}
