/**
 * `robbie supervise`: keeps N children alive. Crashes are seen from the exit event at once; hangs
 * from liveness probes; restarts back off exponentially (the first is immediate) and a burst of
 * restarts trips a cool-down instead of a permanent stop. With the warm standby, a spare
 * `robbie serve` that has already booted takes the port the moment the active child fails.
 */
import type { Server } from 'node:net';
import { hostname } from 'node:os';
import type { SuperviseConfig } from '../config/supervise-config.ts';
import { formatDuration } from '../config/units.ts';
import type { Logger } from '../logger/logger.ts';
import { selfCommand } from '../runtime/platform.ts';
import { VERSION } from '../runtime/version.ts';
import { Alerter } from './alerts.ts';
import { Backoff } from './backoff.ts';
import { type ChildRole, type ChildSpec, type ExitInfo, ManagedChild } from './child.ts';
import type { ControlCommand } from './control-protocol.ts';
import { startControlServer } from './control-server.ts';
import { RestartWindow } from './intensity.ts';
import type { LogSink } from './output/log-sink.ts';
import { type ProbeResult, Prober } from './probe.ts';
import { type ExitReason, Slot } from './slot.ts';
import { writeState } from './state-file.ts';
import { type StatusReport, statusReport } from './status.ts';

/** How long a promoted spare may take to report that it holds the port before it counts as hung. */
const PROMOTE_TIMEOUT_MS = 5000;

export class Supervisor {
  readonly #config: SuperviseConfig;
  readonly #log: Logger;
  readonly #sink: LogSink;
  readonly #alerts: Alerter;
  readonly #slots: Slot[] = [];
  readonly #startedAt = Date.now();
  #spare: ManagedChild | undefined;
  #spareReady = false;
  #spareBackoff = new Backoff();
  #spareTimer: NodeJS.Timeout | undefined;
  #control: Server | undefined;
  #state: 'starting' | 'running' | 'stopping' = 'starting';
  #reloading = false;
  #stopped: Promise<number>;
  #resolveStopped: (code: number) => void = () => {};

  constructor(config: SuperviseConfig, log: Logger, sink: LogSink) {
    this.#config = config;
    this.#log = log;
    this.#sink = sink;
    this.#alerts = new Alerter(config.alertWebhook, config.alertDedupeMs, log, hostname());
    this.#stopped = new Promise((r) => {
      this.#resolveStopped = r;
    });
    const name = config.command ? 'app' : 'serve';
    for (let i = 0; i < config.instances; i++) {
      this.#slots.push(
        new Slot(
          i,
          `${name}-${i}`,
          new Backoff({
            initialMs: 250,
            maxMs: config.backoffMaxMs,
            factor: 2,
            resetAfterMs: config.stableAfterMs,
            jitter: 0.2,
          }),
          new RestartWindow(config.maxRestarts, config.restartWindowMs),
        ),
      );
    }
  }

  /** Resolves with the exit code once the supervisor has stopped. */
  get stopped(): Promise<number> {
    return this.#stopped;
  }

  async start(): Promise<void> {
    this.#control = await startControlServer(
      this.#config.paths.controlSocket,
      (cmd) => this.#onControl(cmd),
      this.#log,
    );
    this.#log.info('supervisor started', {
      version: VERSION,
      instances: this.#config.instances,
      command: this.#config.command?.join(' ') ?? 'robbie serve',
      standby: this.#config.standby,
      home: this.#config.paths.home,
      log_dir: this.#config.paths.logDir,
    });
    if (this.#config.standby) this.#spawnSpare();
    for (const slot of this.#slots) this.#spawnActive(slot);
    this.#state = 'running';
  }

  // ---- children ---------------------------------------------------------------------------

  #spec(role: ChildRole, slot: Slot | undefined): ChildSpec {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.#config.childEnv };
    if (this.#config.command) {
      const [command, ...args] = this.#config.command as [string, ...string[]];
      if (slot) env.ROBBIE_INSTANCE = String(slot.index);
      return { command, args, env, ipc: false };
    }
    const self = selfCommand(['serve', ...this.#config.serveArgs]);
    env.ROBBIE_SUPERVISED = '1';
    env.ROBBIE_CHILD_ROLE = role;
    env.ROBBIE_LOG_FORMAT = 'json';
    if (slot) env.ROBBIE_INSTANCE = String(slot.index);
    return { command: self.command, args: self.args, env, ipc: true };
  }

  #spawnActive(slot: Slot): void {
    if (this.#state === 'stopping') return;
    slot.clearTimers();
    slot.nextRestartAt = undefined;
    slot.backoffMs = undefined;
    const child = new ManagedChild(slot.id, 'active', this.#spec('active', slot), this.#sink);
    slot.child = child;
    slot.state = 'starting';
    slot.pendingReason = undefined;
    if (child.pid <= 0) {
      // spawn() failed outright (no such command): the exit promise carries the error.
      void child.exited.then((info) => this.#onExit(child, info));
      return;
    }
    this.#log.info('child started', { child: slot.id, child_pid: child.pid, role: 'active' });
    this.#persist();
    this.#watch(child);
    this.#armStartTimeout(slot, child, this.#config.startTimeoutMs);
    if (this.#config.command) {
      if (this.#config.probeUrl) this.#startProbe(slot, child, this.#config.probeUrl, true);
      else this.#markReady(slot, child);
    }
  }

  #spawnSpare(): void {
    if (this.#state === 'stopping' || this.#spare || !this.#config.standby) return;
    clearTimeout(this.#spareTimer);
    const spare = new ManagedChild('standby', 'standby', this.#spec('standby', undefined), this.#sink);
    this.#spare = spare;
    this.#spareReady = false;
    if (spare.pid <= 0) {
      void spare.exited.then((info) => this.#onExit(spare, info));
      return;
    }
    this.#log.debug('standby started', { child_pid: spare.pid });
    this.#persist();
    this.#watch(spare);
  }

  #watch(child: ManagedChild): void {
    child.on('message', (msg) => {
      const slot = this.#slotOf(child);
      if (msg.type === 'ready') {
        child.probePort = msg.probePort;
        if (msg.role === 'standby') {
          if (this.#spare === child) {
            this.#spareReady = true;
            child.readyAt = Date.now();
            this.#log.info('standby ready', {
              child_pid: child.pid,
              startup_ms: child.readyAt - child.startedAt,
            });
            // A spare that booted may not be hiding a crash loop of its own any more.
            setTimeout(
              () => this.#spare === child && this.#spareBackoff.reset(),
              this.#config.stableAfterMs,
            ).unref();
          }
          return;
        }
        if (slot) this.#markReady(slot, child);
      } else if (msg.type === 'listening' && slot) {
        this.#markReady(slot, child);
      } else if (msg.type === 'listen-failed') {
        this.#log.error('child could not take the port', {
          child: slot?.id ?? child.id,
          child_pid: child.pid,
          error: msg.error,
        });
      }
    });
    void child.exited.then((info) => this.#onExit(child, info));
  }

  #slotOf(child: ManagedChild): Slot | undefined {
    return this.#slots.find((s) => s.child === child);
  }

  #armStartTimeout(slot: Slot, child: ManagedChild, ms: number): void {
    clearTimeout(slot.startTimer);
    slot.startTimer = setTimeout(() => {
      if (slot.child !== child || !child.alive || slot.state !== 'starting') return;
      this.#log.error('child did not become ready in time: killing it', {
        child: slot.id,
        child_pid: child.pid,
        timeout: formatDuration(ms),
      });
      slot.pendingReason = 'hang';
      child.kill();
    }, ms);
  }

  #markReady(slot: Slot, child: ManagedChild): void {
    if (slot.child !== child || !child.alive) return;
    clearTimeout(slot.startTimer);
    child.readyAt = Date.now();
    slot.state = 'running';
    this.#log.info('child ready', {
      child: slot.id,
      child_pid: child.pid,
      startup_ms: child.readyAt - child.startedAt,
      probe_port: child.probePort,
    });
    if (slot.recovering) {
      slot.recovering = false;
      this.#alerts.notify({
        event: 'recovery',
        child: slot.id,
        message: `${slot.id} is healthy again (pid ${child.pid})`,
        child_pid: child.pid,
      });
    }
    if (!this.#config.command && child.probePort !== undefined) {
      this.#startProbe(slot, child, `http://127.0.0.1:${child.probePort}/livez`, false);
    }
    clearTimeout(slot.stableTimer);
    slot.stableTimer = setTimeout(() => {
      if (slot.child === child && child.alive && slot.state === 'running') slot.backoff.reset();
    }, this.#config.stableAfterMs);
  }

  /** `gatesReady`: a custom command is ready at its first passing probe. */
  #startProbe(slot: Slot, child: ManagedChild, url: string, gatesReady: boolean): void {
    slot.prober?.stop();
    const prober = new Prober(url, this.#config.probe, (r, failures) =>
      this.#onProbe(slot, child, r, failures, gatesReady),
    );
    slot.prober = prober;
    prober.start();
  }

  #onProbe(slot: Slot, child: ManagedChild, r: ProbeResult, failures: number, gatesReady: boolean): void {
    if (slot.child !== child || !child.alive) return;
    slot.lastProbe = r;
    if (r.ok) {
      if (gatesReady && slot.state === 'starting') this.#markReady(slot, child);
      return;
    }
    // Before its first success a custom command is still starting: the start timeout covers it.
    if (slot.state !== 'running') return;
    this.#log.warn('liveness probe failed', {
      child: slot.id,
      child_pid: child.pid,
      error: r.error ?? `HTTP ${r.status}`,
      consecutive: failures,
      of: this.#config.probe.failures,
    });
    if (failures < this.#config.probe.failures) return;
    this.#log.error('child is hung: killing it', { child: slot.id, child_pid: child.pid, failures });
    this.#alerts.notify({
      event: 'hang',
      child: slot.id,
      message: `${slot.id} (pid ${child.pid}) stopped answering its liveness probe: replaced`,
      child_pid: child.pid,
    });
    slot.pendingReason = 'hang';
    slot.prober?.stop();
    child.kill();
  }

  #onExit(child: ManagedChild, info: ExitInfo): void {
    // Grandchildren the child left in its group go with it.
    child.reapGroup();
    const exitFields = {
      child_pid: child.pid,
      code: info.code,
      signal: info.signal,
      uptime_ms: info.time - child.startedAt,
    };
    if (this.#spare === child) {
      this.#spare = undefined;
      this.#spareReady = false;
      this.#persist();
      if (this.#state === 'stopping') return;
      const delay = this.#spareBackoff.next();
      this.#log.warn('standby exited: starting another', {
        ...exitFields,
        error: info.error,
        delay_ms: delay,
      });
      this.#spareTimer = setTimeout(() => this.#spawnSpare(), delay);
      return;
    }
    const slot = this.#slotOf(child);
    if (!slot) {
      this.#log.info('child exited', { child: child.id, ...exitFields, reason: 'replaced' });
      this.#persist();
      return;
    }
    slot.clearTimers();
    const manual = this.#state === 'stopping' || slot.state === 'stopping';
    const reason: ExitReason = manual
      ? 'manual'
      : (slot.pendingReason ?? (info.code === 0 && !info.signal && !info.error ? 'exit' : 'crash'));
    slot.pendingReason = undefined;
    slot.lastExit = { pid: child.pid, code: info.code, signal: info.signal, time: info.time, reason };
    if (info.error) slot.lastExit.error = info.error;
    slot.child = undefined;
    this.#persist();
    if (manual) {
      this.#log.info('child stopped', { child: slot.id, ...exitFields });
      return;
    }
    const level = reason === 'exit' ? 'info' : 'error';
    this.#log[level]('child exited', { child: slot.id, ...exitFields, reason, error: info.error });
    const policy = this.#config.restartPolicy;
    if (policy === 'never' || (policy === 'on-failure' && reason === 'exit')) {
      slot.state = 'exited';
      this.#log.warn('not restarting (restart policy)', { child: slot.id, policy });
      return;
    }
    if (reason === 'crash') {
      const how = info.error ?? (info.signal ? `signal ${info.signal}` : `exit code ${info.code}`);
      this.#alerts.notify({
        event: 'crash',
        child: slot.id,
        message: `${slot.id} (pid ${child.pid}) crashed: ${how}`,
        ...exitFields,
      });
    }
    slot.recovering = true;
    this.#scheduleRestart(slot);
  }

  #scheduleRestart(slot: Slot): void {
    const now = Date.now();
    if (slot.window.record(now)) {
      const inWindow = slot.window.inWindow(now);
      if (this.#config.giveUp) {
        this.#log.fatal('restart limit reached: giving up (--give-up)', {
          child: slot.id,
          restarts: inWindow,
          window: formatDuration(this.#config.restartWindowMs),
        });
        this.#alerts.notify({
          event: 'gave-up',
          child: slot.id,
          message: `${slot.id} restarted ${inWindow} times: supervisor gives up`,
        });
        void this.shutdown(1, 'restart limit reached');
        return;
      }
      slot.state = 'cooldown';
      slot.nextRestartAt = now + this.#config.cooldownMs;
      slot.backoffMs = this.#config.cooldownMs;
      this.#log.error('restart limit reached: cooling down', {
        child: slot.id,
        restarts: inWindow,
        window: formatDuration(this.#config.restartWindowMs),
        cooldown: formatDuration(this.#config.cooldownMs),
      });
      this.#alerts.notify({
        event: 'cooldown',
        child: slot.id,
        message: `${slot.id} restarted ${inWindow} times within ${formatDuration(this.#config.restartWindowMs)}: pausing ${formatDuration(this.#config.cooldownMs)} before trying again`,
      });
      slot.timer = setTimeout(() => {
        slot.window.clear();
        slot.backoff.reset();
        this.#log.info('cool-down over: restarting', { child: slot.id });
        this.#restartSlot(slot);
      }, this.#config.cooldownMs);
      return;
    }
    const delay = slot.backoff.next();
    if (delay === 0) {
      this.#restartSlot(slot);
      return;
    }
    slot.state = 'backoff';
    slot.backoffMs = delay;
    slot.nextRestartAt = now + delay;
    this.#log.warn('restarting after backoff', {
      child: slot.id,
      delay_ms: delay,
      consecutive_failures: slot.backoff.failures,
    });
    slot.timer = setTimeout(() => this.#restartSlot(slot), delay);
  }

  /** Promotes the warm spare when one is ready, else starts a new child. */
  #restartSlot(slot: Slot): void {
    if (this.#state === 'stopping') return;
    const spare = this.#spare;
    if (spare && this.#spareReady && spare.alive && spare.send({ type: 'activate' })) {
      this.#spare = undefined;
      this.#spareReady = false;
      slot.clearTimers();
      slot.nextRestartAt = undefined;
      slot.backoffMs = undefined;
      spare.role = 'active';
      slot.child = spare;
      slot.state = 'starting';
      this.#log.info('standby promoted', { child: slot.id, child_pid: spare.pid });
      this.#armStartTimeout(slot, spare, PROMOTE_TIMEOUT_MS);
      this.#persist();
      // The next spare boots in the background while the promoted one serves.
      setImmediate(() => this.#spawnSpare());
      return;
    }
    this.#spawnActive(slot);
  }

  // ---- control --------------------------------------------------------------------------

  async #onControl(cmd: ControlCommand): Promise<unknown> {
    switch (cmd) {
      case 'status':
        return this.status();
      case 'stop':
        setImmediate(() => void this.shutdown(0, 'robbie stop'));
        return { stopping: true, pid: process.pid };
      case 'restart':
        return this.restartAll();
      case 'reload':
        return this.reload();
    }
  }

  status(): StatusReport {
    return statusReport({
      config: this.#config,
      startedAt: this.#startedAt,
      state: this.#state,
      slots: this.#slots,
      spare: this.#spare,
      spareReady: this.#spareReady,
      logs: this.#sink.health(),
    });
  }

  /** `robbie restart`: every child stopped and started again (not zero-downtime: see reload). */
  async restartAll(): Promise<{ restarted: string[] }> {
    if (this.#state !== 'running') throw new Error('the supervisor is not running');
    await Promise.all(
      this.#slots.map(async (slot) => {
        const child = slot.child;
        slot.clearTimers();
        if (child?.alive) {
          slot.state = 'stopping';
          this.#log.info('restarting child', { child: slot.id, child_pid: child.pid });
          await child.stop(this.#config.stopTimeoutMs);
        }
        slot.window.clear();
        slot.backoff.reset();
        slot.recovering = false;
        this.#spawnActive(slot);
      }),
    );
    return { restarted: this.#slots.map((s) => s.id) };
  }

  /**
   * `robbie reload`: for each instance in turn, a new child starts on the same port (SO_REUSEPORT),
   * and only once it is ready does the old one drain and stop. A new child that fails to become
   * ready aborts the reload and the old one keeps serving.
   */
  async reload(): Promise<{ reloaded: { child: string; old_pid?: number; new_pid: number }[] }> {
    if (this.#state !== 'running') throw new Error('the supervisor is not running');
    if (this.#reloading) throw new Error('a reload is already in progress');
    this.#reloading = true;
    const done: { child: string; old_pid?: number; new_pid: number }[] = [];
    try {
      this.#log.info('reload started', { instances: this.#slots.length });
      for (const slot of this.#slots) {
        const old = slot.child;
        const fresh = new ManagedChild(slot.id, 'active', this.#spec('active', slot), this.#sink);
        if (fresh.pid <= 0)
          throw new Error(`reload aborted: ${(await fresh.exited).error ?? 'could not start a new child'}`);
        this.#watch(fresh);
        this.#log.info('child started', {
          child: slot.id,
          child_pid: fresh.pid,
          role: 'active',
          for: 'reload',
        });
        try {
          await this.#awaitReady(fresh);
        } catch (err) {
          fresh.kill();
          throw new Error(
            `reload aborted: the new ${slot.id} ${(err as Error).message}; the old one keeps serving`,
          );
        }
        slot.clearTimers();
        slot.child = fresh;
        slot.state = 'starting';
        slot.window.clear();
        slot.backoff.reset();
        this.#markReady(slot, fresh);
        this.#persist();
        const entry: { child: string; old_pid?: number; new_pid: number } = {
          child: slot.id,
          new_pid: fresh.pid,
        };
        if (old?.alive) {
          entry.old_pid = old.pid;
          this.#log.info('draining the old child', { child: slot.id, child_pid: old.pid });
          await old.stop(this.#config.stopTimeoutMs);
        }
        done.push(entry);
      }
      // The spare runs the old code too: replace it.
      const spare = this.#spare;
      if (spare) {
        this.#spare = undefined;
        this.#spareReady = false;
        await spare.stop(this.#config.stopTimeoutMs);
        this.#spawnSpare();
      }
      this.#log.info('reload finished', { reloaded: done.length });
      return { reloaded: done };
    } finally {
      this.#reloading = false;
    }
  }

  /** Resolves when a new (non-slot) child is ready, rejects with a reason otherwise. */
  #awaitReady(child: ManagedChild): Promise<void> {
    return new Promise((resolve, reject) => {
      const timeout = setTimeout(
        () => reject(new Error(`did not become ready within ${formatDuration(this.#config.startTimeoutMs)}`)),
        this.#config.startTimeoutMs,
      );
      const finish = (err?: Error) => {
        clearTimeout(timeout);
        if (err) reject(err);
        else resolve();
      };
      void child.exited.then((info) =>
        finish(
          new Error(
            `exited during start (${info.error ?? (info.signal ? `signal ${info.signal}` : `code ${info.code}`)})`,
          ),
        ),
      );
      if (!this.#config.command) {
        child.on('message', (msg) => msg.type === 'ready' && finish());
        return;
      }
      if (!this.#config.probeUrl) {
        // Nothing to ask: alive for a second counts as started.
        setTimeout(() => child.alive && finish(), 1000);
        return;
      }
      const prober = new Prober(this.#config.probeUrl, this.#config.probe, (r) => {
        if (!r.ok) return;
        prober.stop();
        finish();
      });
      prober.start();
      void child.exited.then(() => prober.stop());
      setTimeout(() => prober.stop(), this.#config.startTimeoutMs);
    });
  }

  // ---- stopping -------------------------------------------------------------------------

  /** Stops every child (SIGTERM to its group, SIGKILL after the stop timeout) and resolves `stopped`. */
  async shutdown(code: number, reason: string): Promise<void> {
    if (this.#state === 'stopping') return;
    this.#state = 'stopping';
    this.#log.info('supervisor stopping', { reason, children: this.#slots.filter((s) => s.child).length });
    clearTimeout(this.#spareTimer);
    const children: ManagedChild[] = [];
    for (const slot of this.#slots) {
      slot.clearTimers();
      if (slot.child) {
        slot.state = 'stopping';
        children.push(slot.child);
      } else {
        slot.state = 'stopped';
      }
    }
    if (this.#spare) children.push(this.#spare);
    const results = await Promise.all(
      children.map(async (c) => [c, await c.stop(this.#config.stopTimeoutMs)] as const),
    );
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
      new Promise((r) => setTimeout(r, 2000)),
    ]);
    for (const slot of this.#slots) slot.state = 'stopped';
    this.#control?.close();
    await this.#alerts.drain();
    this.#log.info('supervisor stopped', { reason, exit_code: code });
    this.#resolveStopped(code);
  }

  /** Records the live process groups, for a successor after a crash of this supervisor. */
  #persist(): void {
    const children = [...this.#slots.map((s) => s.child), this.#spare].filter(
      (c): c is ManagedChild => c?.alive === true && c.pid > 0,
    );
    try {
      writeState(this.#config.paths.stateFile, {
        supervisorPid: process.pid,
        children: children.map((c) =>
          c.startToken ? { id: c.id, pgid: c.pid, start: c.startToken } : { id: c.id, pgid: c.pid },
        ),
      });
    } catch (err) {
      this.#log.warn('cannot write the state file', {
        error: (err as NodeJS.ErrnoException).code ?? String(err),
      });
    }
  }
}
