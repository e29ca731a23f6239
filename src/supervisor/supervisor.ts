/**
 * `robbie supervise`: keeps N slots filled. Crashes are seen from the exit event at once, hangs
 * from liveness probes; what follows an end is decided by `decide()` (restart-decision.ts); the
 * warm standby (standby.ts) takes a slot over in milliseconds. This class wires those pieces to
 * children, timers and the control commands; it holds no restart rule of its own.
 */

import type { Alert } from '../alerts/alert.ts';
import { DatabaseWatch } from '../alerts/database-watch.ts';
import { formatDuration } from '../config/units.ts';
import type { Logger } from '../logger/logger.ts';
import { VERSION } from '../runtime/version.ts';
import type { Attributes } from '../telemetry/span-data.ts';
import type { Tracer } from '../telemetry/tracer.ts';
import { isTrafficSample, TrafficHistory, type TrafficSeries } from '../telemetry/traffic.ts';
import { settingsChange } from './apply-settings.ts';
import { type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts';
import {
  type ChildHandle,
  type ChildRole,
  describeExit,
  type ExitInfo,
  type Spawner,
} from './child-handle.ts';
import { childSpec } from './child-spec.ts';
import type { Clock } from './clock.ts';
import type { FileHealth } from './output/rotating-file.ts';
import { type ProbeFn, type ProbeResult, Prober } from './probe.ts';
import { NotReadyError, type ReadinessMode, waitReady } from './readiness.ts';
import { decide, endReason, isStartFailure } from './restart-decision.ts';
import { Slot } from './slot.ts';
import { Standby } from './standby.ts';
import { type StatusReport, statusReport } from './status.ts';
import type { SuperviseConfig } from './supervise-config.ts';

/** How long a promoted standby may take to report that it holds the port. */
const PROMOTE_TIMEOUT_MS = 5000;

export interface SupervisorDeps {
  log: Logger;
  spawn: Spawner;
  clock: Clock;
  probe: ProbeFn;
  alerts: { notify(alert: Alert): void; drain(): Promise<void> };
  /** The command line that runs this same program with other arguments. */
  self: (args: string[]) => { command: string; args: string[] };
  /** The environment children inherit. */
  env: NodeJS.ProcessEnv;
  random: () => number;
  /** The live process groups changed (the state file a successor reads). */
  persist: (children: ChildHandle[]) => void;
  logHealth: () => FileHealth[];
  /** Where the supervisor's events go as spans, under the service's resource (none: tracing off). */
  tracer?: Tracer;
}

export type RollResult = { child: string; old_pid?: number; new_pid: number }[];

export class Supervisor {
  /** Replaced only by `apply`, which changes what the children run with. */
  #config: SuperviseConfig;
  readonly #deps: SupervisorDeps;
  readonly #log: Logger;
  readonly #slots: Slot[] = [];
  readonly #standby: Standby | undefined;
  /** Children replaced by a reload or restart that are still draining. */
  readonly #draining = new Set<ChildHandle>();
  /** The API's last hour, from every child's samples: it outlives each child. */
  readonly #traffic = new TrafficHistory();
  readonly #database: DatabaseWatch;
  readonly #backoff: BackoffOptions;
  readonly #startedAt: number;
  #state: 'starting' | 'running' | 'stopping' = 'starting';
  #rolling = false;
  readonly #stopped: Promise<number>;
  #resolveStopped: (code: number) => void = () => {};

  constructor(config: SuperviseConfig, deps: SupervisorDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.log;
    this.#database = new DatabaseWatch(config.alerts.databaseDownAfterMs, (a) => this.#alert(a), deps.clock);
    this.#startedAt = deps.clock.now();
    this.#backoff = { ...DEFAULT_BACKOFF, maxMs: config.backoffMaxMs };
    this.#stopped = new Promise((r) => {
      this.#resolveStopped = r;
    });
    const name = config.command ? 'app' : 'serve';
    for (let i = 0; i < config.instances; i++) {
      this.#slots.push(
        new Slot(i, `${name}-${i}`, { maxRestarts: config.maxRestarts, windowMs: config.restartWindowMs }),
      );
    }
    if (config.standby && !config.command) {
      this.#standby = new Standby({
        spawn: () => this.#spawn('standby', 'standby', undefined),
        clock: deps.clock,
        log: deps.log,
        backoff: this.#backoff,
        minUptimeMs: config.minUptimeMs,
        random: deps.random,
        changed: () => this.#persist(),
        refused: (child) => this.#configRefused('standby', child),
      });
    }
  }

  /** Resolves with the supervisor's exit code once it has stopped. */
  get stopped(): Promise<number> {
    return this.#stopped;
  }

  /**
   * An event of the supervisor's as a span of its own (`supervisor crash`, `supervisor restart`, …),
   * its fields as `robbie.*` attributes: a tracing backend shows restarts beside the requests.
   */
  #trace(event: string, fields: Record<string, unknown>): void {
    const tracer = this.#deps.tracer;
    if (!tracer?.enabled) return;
    const attributes: Attributes = {};
    for (const [k, v] of Object.entries(fields)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        attributes[`robbie.${k}`] = v;
    }
    tracer.event(`supervisor ${event}`, attributes);
  }

  start(): void {
    this.#trace('start', { version: VERSION, instances: this.#config.instances });
    this.#log.info('supervisor started', {
      version: VERSION,
      instances: this.#config.instances,
      command: this.#config.command?.join(' ') ?? 'robbie serve',
      standby: this.#standby !== undefined,
      home: this.#config.paths.home,
      log_dir: this.#config.paths.logDir,
    });
    this.#standby?.spawn();
    for (const slot of this.#slots) this.#startFresh(slot);
    this.#state = 'running';
  }

  // ---- children ---------------------------------------------------------------------------

  get #readiness(): ReadinessMode {
    if (!this.#config.command) return { kind: 'ipc' };
    if (this.#config.probeUrl) return { kind: 'probe', url: this.#config.probeUrl };
    return { kind: 'alive', ms: this.#config.minUptimeMs };
  }

  #spawn(id: string, role: ChildRole, slotIndex: number | undefined): ChildHandle {
    const spec = childSpec(this.#config, role, slotIndex, this.#deps.self, this.#deps.env);
    return this.#deps.spawn(id, role, spec);
  }

  /** Fills `slot` with a new process and watches it become ready. */
  #startFresh(slot: Slot): void {
    if (this.#state === 'stopping') return;
    const child = this.#spawn(slot.id, 'active', slot.index);
    this.#adopt(slot, child, this.#config.startTimeoutMs);
    if (child.pid > 0) {
      this.#log.info('child started', { child: slot.id, child_pid: child.pid, role: 'active' });
      this.#trace('child start', { child: slot.id, child_pid: child.pid });
    }
  }

  /** Hands the slot to the warm standby; false when none is ready. */
  #promote(slot: Slot): boolean {
    const child = this.#standby?.take();
    if (!child) return false;
    this.#adopt(slot, child, PROMOTE_TIMEOUT_MS);
    this.#log.info('standby promoted', { child: slot.id, child_pid: child.pid });
    this.#trace('promotion', { child: slot.id, child_pid: child.pid });
    return true;
  }

  /** `child` now fills `slot`: its exit, its messages and its readiness are the slot's. */
  #adopt(slot: Slot, child: ChildHandle, readyTimeoutMs: number): void {
    const watch = waitReady(child, this.#readiness, readyTimeoutMs, this.#readyDeps);
    slot.assign(child, watch.cancel);
    this.#watch(slot, child);
    this.#persist();
    watch.ready.then(
      () => this.#markReady(slot, child),
      (err: unknown) => {
        // An exit is handled by #onExit; a child still not ready at the deadline is hung.
        if (!(err instanceof NotReadyError) || err.kind !== 'timeout') return;
        if (slot.child !== child || !child.alive) return;
        this.#log.error('child did not become ready in time: killing it', {
          child: slot.id,
          child_pid: child.pid,
          timeout: formatDuration(readyTimeoutMs),
        });
        slot.markHung();
        child.kill();
      },
    );
  }

  get #readyDeps() {
    return { clock: this.#deps.clock, probe: this.#deps.probe, probeTimeoutMs: this.#config.probe.timeoutMs };
  }

  #watch(slot: Slot, child: ChildHandle): void {
    child.on('message', (msg) => {
      if (msg.type === 'storage') this.#database.onEvent(slot.id, child.pid, msg.event);
      if (msg.type === 'traffic' && isTrafficSample(msg.sample)) this.#traffic.add(msg.sample);
      if (msg.type === 'listen-failed') {
        this.#log.error('child could not take the port', {
          child: slot.id,
          child_pid: child.pid,
          error: msg.error,
        });
      }
    });
    void child.exited.then((info) => this.#onExit(child, info));
  }

  #markReady(slot: Slot, child: ChildHandle): void {
    if (slot.child !== child || !child.alive) return;
    const now = this.#deps.clock.now();
    const url = this.#config.command
      ? this.#config.probeUrl
      : child.probePort !== undefined
        ? `http://127.0.0.1:${child.probePort}/livez`
        : undefined;
    const prober = url
      ? new Prober(url, this.#config.probe, this.#deps, (r, failures) =>
          this.#onProbe(slot, child, r, failures),
        )
      : undefined;
    const recovered = slot.markReady(now, prober);
    this.#log.info('child ready', {
      child: slot.id,
      child_pid: child.pid,
      startup_ms: now - child.startedAt,
      probe_port: child.probePort,
    });
    if (recovered) {
      this.#alert({
        event: 'recovery',
        child: slot.id,
        message: `${slot.id} is healthy again (pid ${child.pid})`,
        child_pid: child.pid,
      });
    }
  }

  #onProbe(slot: Slot, child: ChildHandle, r: ProbeResult, failures: number): void {
    if (slot.child !== child || !child.alive || slot.state !== 'running') return;
    slot.recordProbe(r);
    if (r.ok) return;
    const { failures: limit } = this.#config.probe;
    this.#log.warn('liveness probe failed', {
      child: slot.id,
      child_pid: child.pid,
      error: r.error ?? `HTTP ${r.status}`,
      consecutive: failures,
      of: limit,
    });
    if (failures < limit) return;
    this.#log.error('child is hung: killing it', { child: slot.id, child_pid: child.pid, failures });
    this.#trace('hang', { child: slot.id, child_pid: child.pid, failures });
    this.#alert({
      event: 'hang',
      child: slot.id,
      message: `${slot.id} (pid ${child.pid}) stopped answering its liveness probe: replaced`,
      child_pid: child.pid,
    });
    slot.markHung();
    child.kill();
  }

  #onExit(child: ChildHandle, info: ExitInfo): void {
    // Grandchildren the child left in its group go with it.
    child.kill();
    this.#draining.delete(child);
    const fields = {
      child_pid: child.pid,
      code: info.code,
      signal: info.signal,
      uptime_ms: info.time - child.startedAt,
    };
    const slot = this.#slots.find((s) => s.child === child);
    if (!slot) {
      if (this.#standby?.child !== child)
        this.#log.info('child exited', { child: child.id, ...fields, reason: 'replaced' });
      this.#persist();
      return;
    }
    const now = this.#deps.clock.now();
    if (this.#state === 'stopping' || slot.state === 'stopping') {
      slot.recordExit(child, info, 'manual');
      this.#persist();
      this.#log.info('child stopped', { child: slot.id, ...fields });
      return;
    }
    const reason = endReason(info, slot.killedForHang);
    const startFailure = isStartFailure(slot.readyAt, info.time, this.#config.minUptimeMs);
    slot.recordExit(child, info, reason);
    this.#persist();
    this.#log[reason === 'exit' ? 'info' : 'error']('child exited', {
      child: slot.id,
      ...fields,
      reason,
      start_failure: startFailure,
      error: info.error,
    });
    this.#trace(reason === 'crash' ? 'crash' : 'child exit', {
      child: slot.id,
      ...fields,
      reason,
      start_failure: startFailure,
    });
    const counts = startFailure ? slot.countStartFailure(now) : { consecutive: 0, inWindow: 0 };
    const abnormal = !startFailure && reason !== 'exit' && slot.countCrash(now);
    const decision = decide({
      policy: this.#config.restartPolicy,
      reason,
      startFailure,
      consecutiveStartFailures: counts.consecutive,
      startFailuresInWindow: counts.inWindow,
      maxRestarts: this.#config.maxRestarts,
      giveUp: this.#config.giveUp,
      cooldownMs: this.#config.cooldownMs,
      backoff: this.#backoff,
      standbyReady: this.#standby?.ready === true,
      random: this.#deps.random(),
    });
    if (reason === 'crash') {
      this.#alert({
        event: 'crash',
        child: slot.id,
        message: `${slot.id} (pid ${child.pid}) crashed: ${describeExit(info)}`,
        ...fields,
      });
    }
    if (abnormal) {
      this.#log.warn('abnormal restart rate: the child keeps failing after it served', {
        child: slot.id,
        window: formatDuration(this.#config.restartWindowMs),
      });
      this.#alert({
        event: 'restart-rate',
        child: slot.id,
        message: `${slot.id} failed more than ${this.#config.maxRestarts} times within ${formatDuration(this.#config.restartWindowMs)} after serving; it is replaced each time, but look at robbie errors`,
      });
    }
    switch (decision.kind) {
      case 'stay':
        slot.settle('exited');
        this.#log.warn('not restarting (restart policy)', {
          child: slot.id,
          policy: this.#config.restartPolicy,
        });
        this.#stopWhenNothingLeft();
        return;
      case 'config-error':
        slot.settle('config_error');
        this.#configRefused(slot.id, child);
        return;
      case 'give-up':
        this.#log.fatal('restart limit reached: giving up (--give-up)', {
          child: slot.id,
          restarts: counts.inWindow,
          window: formatDuration(this.#config.restartWindowMs),
        });
        this.#alert({
          event: 'gave-up',
          child: slot.id,
          message: `${slot.id} failed to start ${counts.inWindow} times: supervisor gives up`,
        });
        void this.shutdown(1, 'restart limit reached');
        return;
      case 'cooldown':
        this.#log.error('restart limit reached: cooling down', {
          child: slot.id,
          restarts: counts.inWindow,
          window: formatDuration(this.#config.restartWindowMs),
          cooldown: formatDuration(decision.delayMs),
        });
        this.#trace('cooldown', { child: slot.id, restarts: counts.inWindow, cooldown_ms: decision.delayMs });
        this.#alert({
          event: 'cooldown',
          child: slot.id,
          message: `${slot.id} failed to start ${counts.inWindow} times within ${formatDuration(this.#config.restartWindowMs)}: pausing ${formatDuration(decision.delayMs)} before trying again`,
        });
        slot.wait(
          'cooldown',
          now,
          decision.delayMs,
          this.#deps.clock.after(decision.delayMs, () => {
            slot.resetBudget();
            this.#log.info('cool-down over: restarting', { child: slot.id });
            this.#replace(slot);
          }),
        );
        return;
      case 'promote':
        if (!this.#promote(slot)) this.#startFresh(slot);
        return;
      case 'start':
        if (decision.delayMs === 0) {
          this.#startFresh(slot);
          return;
        }
        this.#log.warn('restarting after backoff', {
          child: slot.id,
          delay_ms: decision.delayMs,
          consecutive_failures: counts.consecutive,
        });
        this.#trace('restart', { child: slot.id, delay_ms: decision.delayMs });
        slot.wait(
          'backoff',
          now,
          decision.delayMs,
          this.#deps.clock.after(decision.delayMs, () => this.#replace(slot)),
        );
        return;
    }
  }

  /** Exit 78: restarting cannot help, and systemd or launchd must not restart us either. */
  #configRefused(id: string, child: ChildHandle): void {
    this.#log.fatal('the child refused its configuration (exit 78): stopping, a restart cannot help', {
      child: id,
      child_pid: child.pid,
    });
    this.#alert({
      event: 'config-refused',
      child: id,
      message: `${id} (pid ${child.pid}) refused its configuration (exit 78): the supervisor stops; fix the settings and start it again (robbie errors shows why)`,
    });
    void this.shutdown(78, 'configuration refused');
  }

  /** The standby when one is ready, else a fresh start. */
  #replace(slot: Slot): void {
    if (this.#state === 'stopping') return;
    if (!this.#promote(slot)) this.#startFresh(slot);
  }

  /** With every slot settled by the restart policy there is nothing left to supervise. */
  #stopWhenNothingLeft(): void {
    if (!this.#slots.every((s) => s.state === 'exited')) return;
    const clean = this.#slots.every((s) => s.snapshot(this.#deps.clock.now()).lastExit?.reason === 'exit');
    void this.shutdown(clean ? 0 : 1, 'every child has exited and the restart policy keeps them stopped');
  }

  #alert(alert: Alert): void {
    this.#deps.alerts.notify(alert);
  }

  // ---- control --------------------------------------------------------------------------

  /** The settings it runs with, as given (`apply` changes them). */
  get given(): SuperviseConfig['given'] {
    return this.#config.given;
  }

  /** The last hour of the API's traffic (the dashboard). */
  traffic(): TrafficSeries {
    return this.#traffic.series();
  }

  status(): StatusReport {
    const now = this.#deps.clock.now();
    return statusReport({
      config: this.#config,
      now,
      startedAt: this.#startedAt,
      state: this.#state,
      slots: this.#slots.map((s) => s.snapshot(now)),
      standby: this.#standby?.child,
      standbyReady: this.#standby?.ready === true,
      logs: this.#deps.logHealth(),
    });
  }

  /**
   * `robbie reload`: for each instance in turn, a new child starts on the same port (SO_REUSEPORT),
   * and only once it is ready does the old one drain and stop. A new child that fails to become
   * ready aborts the reload and the old one keeps serving.
   */
  reload(): Promise<{ reloaded: RollResult }> {
    return this.#roll('reload').then((reloaded) => ({ reloaded }));
  }

  /**
   * `robbie start --apply`: the children's new settings, taken by a rolling reload (no gap). A
   * setting only a new supervisor takes is refused, naming it; a reload that fails leaves the old
   * children serving with the old settings.
   */
  async apply(next: SuperviseConfig): Promise<{ applied: string[]; reloaded: RollResult }> {
    const { changed, needRestart } = settingsChange(this.#config, next);
    if (needRestart.length > 0) {
      throw new Error(
        `${needRestart.join(', ')} take effect only when the supervisor starts again: robbie stop, then start`,
      );
    }
    if (changed.length === 0) return { applied: [], reloaded: [] };
    const before = this.#config;
    this.#config = { ...before, childEnv: next.childEnv, given: next.given, serve: next.serve };
    try {
      this.#log.info('applying settings', { settings: changed });
      return { applied: changed, reloaded: await this.#roll('reload') };
    } catch (err) {
      this.#config = before;
      throw err;
    }
  }

  /**
   * `robbie restart`: the same rolling replacement as reload, with no gap — and it also ends a
   * cool-down or backoff, starts slots left stopped, and gives every slot a fresh restart budget.
   */
  restart(): Promise<{ restarted: RollResult }> {
    return this.#roll('restart').then((restarted) => ({ restarted }));
  }

  async #roll(kind: 'reload' | 'restart'): Promise<RollResult> {
    if (this.#state !== 'running') throw new Error('the supervisor is not running');
    if (this.#rolling) throw new Error('a reload or restart is already in progress');
    this.#rolling = true;
    const done: RollResult = [];
    try {
      this.#log.info(`${kind} started`, { instances: this.#slots.length });
      for (const slot of this.#slots) {
        if (this.#state !== 'running') throw new Error(`${kind} aborted: the supervisor is stopping`);
        if (kind === 'restart') slot.resetBudget();
        const old = slot.child?.alive ? slot.child : undefined;
        if (!old) {
          // Nothing serves here (backoff, cool-down, exited): start now, the usual way.
          this.#startFresh(slot);
          const fresh = slot.child;
          if (fresh) done.push({ child: slot.id, new_pid: fresh.pid });
          continue;
        }
        const fresh = this.#spawn(slot.id, 'active', slot.index);
        if (fresh.pid <= 0)
          throw new Error(`${kind} aborted: ${(await fresh.exited).error ?? 'could not start a new child'}`);
        this.#draining.add(fresh);
        void fresh.exited.then(() => this.#draining.delete(fresh));
        this.#persist();
        this.#log.info('child started', { child: slot.id, child_pid: fresh.pid, role: 'active', for: kind });
        const watch = waitReady(fresh, this.#readiness, this.#config.startTimeoutMs, this.#readyDeps);
        try {
          await watch.ready;
        } catch (err) {
          fresh.kill();
          throw new Error(
            `${kind} aborted: the new ${slot.id} ${(err as Error).message}; the old one keeps serving`,
          );
        }
        // Whatever serves the slot now (the old child, or what replaced it if it died meanwhile)
        // drains once the new one holds the slot.
        const previous = slot.child?.alive ? slot.child : undefined;
        this.#draining.delete(fresh);
        if (previous) this.#draining.add(previous);
        slot.assign(fresh, undefined);
        this.#watch(slot, fresh);
        this.#markReady(slot, fresh);
        this.#persist();
        done.push({ child: slot.id, old_pid: (previous ?? old).pid, new_pid: fresh.pid });
        if (previous) {
          this.#log.info('draining the old child', { child: slot.id, child_pid: previous.pid });
          await previous.stop(this.#config.stopTimeoutMs);
        }
      }
      // The standby runs the old code too: replace it.
      if (this.#standby) {
        await this.#standby.stop(this.#config.stopTimeoutMs, false);
        this.#standby.spawn();
      }
      this.#log.info(`${kind} finished`, { [kind === 'reload' ? 'reloaded' : 'restarted']: done.length });
      return done;
    } finally {
      this.#rolling = false;
    }
  }

  // ---- stopping -------------------------------------------------------------------------

  /** Stops every child (SIGTERM to its group, SIGKILL after the stop timeout) and resolves `stopped`. */
  async shutdown(code: number, reason: string): Promise<void> {
    if (this.#state === 'stopping') return;
    this.#state = 'stopping';
    this.#log.info('supervisor stopping', { reason, children: this.#slots.filter((s) => s.child).length });
    this.#trace('stop', { reason });
    const children: ChildHandle[] = [...this.#draining];
    for (const slot of this.#slots) {
      const child = slot.child;
      if (child) {
        slot.markStopping();
        children.push(child);
      } else if (slot.state !== 'config_error') {
        slot.settle('stopped');
      }
    }
    const standby = this.#standby?.stop(this.#config.stopTimeoutMs, true);
    const results = await Promise.all(
      children.map(async (c) => [c, await c.stop(this.#config.stopTimeoutMs)] as const),
    );
    await standby;
    for (const [c, how] of results) {
      if (how === 'killed') {
        this.#log.warn('child ignored SIGTERM: killed after the stop timeout', {
          child: c.id,
          child_pid: c.pid,
          timeout: formatDuration(this.#config.stopTimeoutMs),
        });
      }
    }
    // Everything the children wrote before they died reaches the log.
    await Promise.race([
      Promise.all(children.map((c) => c.outputDone)),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
    for (const slot of this.#slots) if (slot.state !== 'config_error') slot.settle('stopped');
    this.#database.close();
    await this.#deps.alerts.drain();
    this.#log.info('supervisor stopped', { reason, exit_code: code });
    this.#resolveStopped(code);
  }

  #persist(): void {
    const children = [...this.#slots.map((s) => s.child), this.#standby?.child, ...this.#draining].filter(
      (c): c is ChildHandle => c?.alive === true && c.pid > 0,
    );
    this.#deps.persist(children);
  }
}
