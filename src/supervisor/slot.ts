/**
 * One instance the supervisor keeps alive (`--instances N` gives N slots). A slot outlives the
 * processes that fill it: what it is doing, its restart counters, its timers and what it last saw
 * belong to it, and change only through its methods.
 */
import type { ChildHandle, ExitInfo } from './child-handle.ts';
import type { Cancel } from './clock.ts';
import { RestartWindow } from './intensity.ts';
import type { ProbeResult, Prober } from './probe.ts';
import type { EndReason } from './restart-decision.ts';

export type SlotState =
  | 'starting'
  | 'running'
  | 'backoff'
  | 'cooldown'
  | 'stopping'
  | 'stopped'
  | 'exited'
  | 'config_error';

/** Why a child ended, as `status` shows it: the restart reason, or `manual` (stop, restart). */
export type ExitReason = EndReason | 'manual';

export interface LastExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  time: number;
  reason: ExitReason;
  error?: string;
}

export interface SlotSnapshot {
  id: string;
  child: ChildHandle | undefined;
  state: SlotState;
  restartsTotal: number;
  /** Restarts within the restart window (start failures and failures after serving). */
  restartsInWindow: number;
  lastExit: LastExit | undefined;
  lastProbe: ProbeResult | undefined;
  /** Set while waiting in backoff or cool-down. */
  nextRestartAt: number | undefined;
  delayMs: number | undefined;
}

export class Slot {
  readonly index: number;
  readonly id: string;
  #child: ChildHandle | undefined;
  #state: SlotState = 'starting';
  #readyAt: number | undefined;
  /** The supervisor killed the current child for not answering: its end is a hang. */
  #killedForHang = false;
  /** A failure happened since the last healthy child: the next ready child is a recovery. */
  #recovering = false;
  #consecutiveStartFailures = 0;
  readonly #startFailures: RestartWindow;
  /** Failures after serving, for the abnormal-rate alert (they never slow a restart down). */
  readonly #crashes: RestartWindow;
  #restartsTotal = 0;
  #lastExit: LastExit | undefined;
  #lastProbe: ProbeResult | undefined;
  #nextRestartAt: number | undefined;
  #delayMs: number | undefined;
  #timer: Cancel | undefined;
  #watch: Cancel | undefined;
  #prober: Prober | undefined;

  constructor(index: number, id: string, limits: { maxRestarts: number; windowMs: number }) {
    this.index = index;
    this.id = id;
    this.#startFailures = new RestartWindow(limits.maxRestarts, limits.windowMs);
    this.#crashes = new RestartWindow(limits.maxRestarts, limits.windowMs);
  }

  get child(): ChildHandle | undefined {
    return this.#child;
  }

  get state(): SlotState {
    return this.#state;
  }

  get readyAt(): number | undefined {
    return this.#readyAt;
  }

  /** A new process fills the slot (fresh start, promotion or reload): it is starting. */
  assign(child: ChildHandle, watch: Cancel | undefined): void {
    this.#clearTimers();
    this.#child = child;
    this.#state = 'starting';
    this.#readyAt = undefined;
    this.#killedForHang = false;
    this.#watch = watch;
  }

  /** The child is ready; returns true when that ends a failure (a recovery to announce). */
  markReady(now: number, prober: Prober | undefined): boolean {
    this.#watch?.();
    this.#watch = undefined;
    this.#prober?.stop();
    this.#prober = prober;
    this.#state = 'running';
    this.#readyAt = now;
    const recovered = this.#recovering;
    this.#recovering = false;
    return recovered;
  }

  recordProbe(r: ProbeResult): void {
    this.#lastProbe = r;
  }

  /** The supervisor is about to kill the child as hung. */
  markHung(): void {
    this.#killedForHang = true;
    this.#prober?.stop();
    this.#prober = undefined;
  }

  get killedForHang(): boolean {
    return this.#killedForHang;
  }

  /** The supervisor is stopping the child on purpose (its end restarts nothing). */
  markStopping(): void {
    this.#clearTimers();
    this.#state = 'stopping';
  }

  /** The child is gone: the slot is empty until the supervisor decides what comes next. */
  recordExit(child: ChildHandle, info: ExitInfo, reason: ExitReason): void {
    this.#clearTimers();
    this.#child = undefined;
    const last: LastExit = { pid: child.pid, code: info.code, signal: info.signal, time: info.time, reason };
    if (info.error) last.error = info.error;
    this.#lastExit = last;
    if (reason !== 'manual') {
      this.#recovering = true;
      this.#restartsTotal++;
    }
  }

  /** Counts a start failure; returns the counts the restart decision needs. */
  countStartFailure(now: number): { consecutive: number; inWindow: number } {
    this.#consecutiveStartFailures++;
    this.#startFailures.record(now);
    return { consecutive: this.#consecutiveStartFailures, inWindow: this.#startFailures.inWindow(now) };
  }

  /** Counts a failure after serving (which also ends a run of start failures); true when abnormal. */
  countCrash(now: number): boolean {
    this.#consecutiveStartFailures = 0;
    return this.#crashes.record(now);
  }

  /** Waiting `delayMs` (backoff or cool-down) before `fn` starts the next child. */
  wait(state: 'backoff' | 'cooldown', now: number, delayMs: number, timer: Cancel): void {
    this.#clearTimers();
    this.#state = state;
    this.#nextRestartAt = now + delayMs;
    this.#delayMs = delayMs;
    this.#timer = timer;
  }

  /** A cool-down ended, or the user asked for a restart: the restart budget starts afresh. */
  resetBudget(): void {
    this.#consecutiveStartFailures = 0;
    this.#startFailures.clear();
  }

  /** Nothing more will be started here (restart policy, configuration refused, supervisor stopped). */
  settle(state: 'exited' | 'config_error' | 'stopped'): void {
    this.#clearTimers();
    this.#state = state;
  }

  snapshot(now: number): SlotSnapshot {
    const waiting = this.#state === 'backoff' || this.#state === 'cooldown';
    return {
      id: this.id,
      child: this.#child,
      state: this.#state,
      restartsTotal: this.#restartsTotal,
      restartsInWindow: this.#startFailures.inWindow(now) + this.#crashes.inWindow(now),
      lastExit: this.#lastExit,
      lastProbe: this.#lastProbe,
      nextRestartAt: waiting ? this.#nextRestartAt : undefined,
      delayMs: waiting ? this.#delayMs : undefined,
    };
  }

  #clearTimers(): void {
    this.#timer?.();
    this.#watch?.();
    this.#prober?.stop();
    this.#timer = undefined;
    this.#watch = undefined;
    this.#prober = undefined;
    this.#nextRestartAt = undefined;
    this.#delayMs = undefined;
  }
}
