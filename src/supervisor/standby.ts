/**
 * The warm standby: a spare `robbie serve` that has booted (store open, request path warmed) but
 * does not listen on the public port until it is handed a slot. It owns its one process, its
 * readiness and its own start-failure backoff; the supervisor only asks for it with `take()`.
 */
import type { ChildMessage } from '../child-protocol.ts';
import type { Logger } from '../logger/logger.ts';
import { type BackoffOptions, backoffDelay } from './backoff.ts';
import type { ChildHandle, ExitInfo } from './child-handle.ts';
import { describeExit } from './child-handle.ts';
import type { Cancel, Clock } from './clock.ts';
import { EXIT_CONFIG, isStartFailure } from './restart-decision.ts';

export interface StandbyDeps {
  spawn: () => ChildHandle;
  clock: Clock;
  log: Logger;
  backoff: BackoffOptions;
  minUptimeMs: number;
  random: () => number;
  /** The set of live processes changed (for the state file). */
  changed: () => void;
  /** The spare exited 78: it refuses its configuration, so every new one would too. */
  refused: (child: ChildHandle) => void;
}

export class Standby {
  readonly #deps: StandbyDeps;
  #child: ChildHandle | undefined;
  #readyAt: number | undefined;
  #failures = 0;
  #timer: Cancel | undefined;
  #stopped = false;

  constructor(deps: StandbyDeps) {
    this.#deps = deps;
  }

  get child(): ChildHandle | undefined {
    return this.#child;
  }

  get ready(): boolean {
    return this.#readyAt !== undefined && this.#child?.alive === true;
  }

  /** Boots a spare unless one runs or is due. */
  spawn(): void {
    if (this.#stopped || this.#child) return;
    this.#timer?.();
    this.#timer = undefined;
    const child = this.#deps.spawn();
    this.#child = child;
    this.#readyAt = undefined;
    const onMessage = (msg: ChildMessage) => {
      if (msg.type !== 'ready' || msg.role !== 'standby' || this.#child !== child) return;
      this.#readyAt = this.#deps.clock.now();
      this.#deps.log.info('standby ready', {
        child_pid: child.pid,
        startup_ms: this.#readyAt - child.startedAt,
      });
    };
    child.on('message', onMessage);
    void child.exited.then((info) => {
      child.off('message', onMessage);
      this.#onExit(child, info);
    });
    if (child.pid > 0) this.#deps.log.debug('standby started', { child_pid: child.pid });
    this.#deps.changed();
  }

  /**
   * Hands the booted spare over (told to take the port), or undefined when none is ready. The next
   * spare boots at once in the background.
   */
  take(): ChildHandle | undefined {
    const child = this.#child;
    if (!child || !this.ready || !child.send({ type: 'activate' })) return undefined;
    this.#child = undefined;
    this.#readyAt = undefined;
    // It was ready: whatever it does next is the slot's business, and this spare's start counts.
    this.#failures = 0;
    this.#timer = this.#deps.clock.after(0, () => {
      this.#timer = undefined;
      this.spawn();
    });
    return child;
  }

  /** Stops the spare (reload: it runs the old code; shutdown: for good when `forGood`). */
  async stop(timeoutMs: number, forGood: boolean): Promise<void> {
    if (forGood) this.#stopped = true;
    this.#timer?.();
    this.#timer = undefined;
    const child = this.#child;
    this.#child = undefined;
    this.#readyAt = undefined;
    if (child?.alive) await child.stop(timeoutMs);
  }

  #onExit(child: ChildHandle, info: ExitInfo): void {
    child.kill();
    if (this.#child !== child) return;
    const startFailure = isStartFailure(this.#readyAt, info.time, this.#deps.minUptimeMs);
    this.#child = undefined;
    this.#readyAt = undefined;
    this.#deps.changed();
    if (this.#stopped) return;
    if (info.code === EXIT_CONFIG) {
      this.#deps.refused(child);
      return;
    }
    this.#failures = startFailure ? this.#failures + 1 : 1;
    const delay = backoffDelay(this.#failures, this.#deps.backoff, this.#deps.random());
    this.#deps.log.warn('standby exited: starting another', {
      child_pid: child.pid,
      code: info.code,
      signal: info.signal,
      error: info.error ?? undefined,
      reason: describeExit(info),
      delay_ms: delay,
    });
    this.#timer = this.#deps.clock.after(delay, () => {
      this.#timer = undefined;
      this.spawn();
    });
  }
}
