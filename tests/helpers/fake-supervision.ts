/**
 * A fake clock and fake children for driving the Supervisor in unit tests (the seam of
 * child-handle.ts): no processes, no real time — a crash loop of minutes runs in milliseconds.
 */
import { EventEmitter } from 'node:events';
import type { Alert } from '../../src/alerts/alert.ts';
import type { ChildMessage, SupervisorMessage } from '../../src/child-protocol.ts';
import { type Flags, resolveSettings } from '../../src/config/resolve.ts';
import { fromFlags } from '../../src/config/sources.ts';
import type { Logger } from '../../src/logger/logger.ts';
import type { ChildHandle, ChildRole, ChildSpec, ExitInfo } from '../../src/supervisor/child-handle.ts';
import type { Cancel, Clock } from '../../src/supervisor/clock.ts';
import type { ProbeResult } from '../../src/supervisor/probe.ts';
import { superviseConfig } from '../../src/supervisor/supervise-config.ts';
import { Supervisor } from '../../src/supervisor/supervisor.ts';

export class FakeClock implements Clock {
  #now = 1_000_000;
  #timers: { at: number; seq: number; fn: () => void }[] = [];
  #seq = 0;

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Cancel {
    const t = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.push(t);
    return () => {
      this.#timers = this.#timers.filter((x) => x !== t);
    };
  }

  /** Moves time forward by `ms`, running every timer that falls due (and what they schedule). */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      await settle();
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#timers[0];
      if (!next || next.at > end) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
    await settle();
  }
}

/** Lets promise callbacks (exits, readiness) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

let nextPid = 1000;

export class FakeChild extends EventEmitter<{ message: [ChildMessage] }> implements ChildHandle {
  readonly id: string;
  readonly role: ChildRole;
  readonly spec: ChildSpec;
  readonly pid: number;
  readonly startToken = undefined;
  readonly startedAt: number;
  readonly exited: Promise<ExitInfo>;
  readonly outputDone = Promise.resolve();
  probePort: number | undefined;
  /** Answers its liveness probes (false: hung). */
  answering = true;
  /** Takes the port when a standby is told to (false: a promotion that never completes). */
  listensOnActivate = true;
  activated = false;
  stopped = false;
  #exitInfo: ExitInfo | undefined;
  #resolve: (info: ExitInfo) => void = () => {};
  readonly #clock: FakeClock;

  constructor(id: string, role: ChildRole, spec: ChildSpec, clock: FakeClock) {
    super();
    this.id = id;
    this.role = role;
    this.spec = spec;
    this.pid = nextPid++;
    this.#clock = clock;
    this.startedAt = clock.now();
    this.exited = new Promise((r) => {
      this.#resolve = r;
    });
  }

  get alive(): boolean {
    return this.#exitInfo === undefined;
  }

  exitSignal(): NodeJS.Signals | null | undefined {
    return this.#exitInfo?.signal;
  }

  /** The child says it is ready (an active child listens; a standby has booted). */
  ready(): void {
    this.probePort = this.pid;
    this.emit('message', { type: 'ready', role: this.role, probePort: this.pid });
  }

  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.#exitInfo) return;
    this.#exitInfo = { code, signal, time: this.#clock.now() };
    this.#resolve(this.#exitInfo);
  }

  send(msg: SupervisorMessage): boolean {
    if (!this.alive) return false;
    if (msg.type === 'activate') {
      this.activated = true;
      if (this.listensOnActivate)
        queueMicrotask(() => this.emit('message', { type: 'listening', port: 8000 }));
    }
    return true;
  }

  async stop(): Promise<'gone' | 'terminated' | 'killed'> {
    this.stopped = true;
    this.exit(null, 'SIGTERM');
    return 'terminated';
  }

  kill(): void {
    this.exit(null, 'SIGKILL');
  }
}

const quiet: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child: () => quiet,
};

export interface Harness {
  sup: Supervisor;
  clock: FakeClock;
  spawned: FakeChild[];
  alerts: Alert[];
  /** The children started so far for one role. */
  of(role: ChildRole): FakeChild[];
  /** The child serving slot 0 now. */
  active(index?: number): FakeChild | undefined;
  standby(): FakeChild | undefined;
}

/**
 * A supervisor over fake children. `onSpawn` decides how each child behaves (by default it is
 * ready 100 ms after it starts); the clock only moves when the test advances it.
 */
export function fakeSupervisor(
  flags: Flags = {},
  opts: { command?: string[]; onSpawn?: (child: FakeChild, h: Harness) => void } = {},
): Harness {
  const clock = new FakeClock();
  const spawned: FakeChild[] = [];
  const alerts: Alert[] = [];
  const settings = resolveSettings([fromFlags({ home: '/nonexistent/robbie-test', ...flags })], {
    custom: opts.command !== undefined,
  });
  const config = superviseConfig(settings, opts.command);
  const onSpawn =
    opts.onSpawn ??
    ((child: FakeChild) => {
      clock.after(100, () => child.alive && child.ready());
    });
  const h: Harness = {
    sup: undefined as unknown as Supervisor,
    clock,
    spawned,
    alerts,
    of: (role) => spawned.filter((c) => c.role === role),
    active: (index = 0) => {
      const id = h.sup.status().children.filter((c) => c.role === 'active')[index];
      return spawned.find((c) => c.pid === id?.pid);
    },
    standby: () => spawned.find((c) => c.role === 'standby' && c.alive && !c.activated),
  };
  h.sup = new Supervisor(config, {
    log: quiet,
    spawn: (id, role, spec) => {
      const child = new FakeChild(id, role, spec, clock);
      spawned.push(child);
      onSpawn(child, h);
      return child;
    },
    clock,
    probe: (url, timeoutMs): Promise<ProbeResult> => {
      const port = Number(new URL(url).port);
      const child = opts.command
        ? spawned.filter((c) => c.alive).at(-1)
        : spawned.find((c) => c.probePort === port);
      if (child?.alive && child.answering && (!opts.command || child.probePort !== undefined)) {
        return Promise.resolve({ ok: true, time: clock.now(), latencyMs: 1, status: 200 });
      }
      // Not answering: the probe ends at its timeout, a refused connection at once.
      const hung = child?.alive === true && !child.answering;
      return new Promise((resolve) => {
        const fail = () =>
          resolve({ ok: false, time: clock.now(), latencyMs: timeoutMs, error: 'no answer' });
        if (hung) clock.after(timeoutMs, fail);
        else fail();
      });
    },
    alerts: { notify: (a) => alerts.push(a), drain: async () => {} },
    self: (args) => ({ command: 'robbie', args }),
    env: {},
    random: () => 0.5,
    persist: () => {},
    logHealth: () => [],
  });
  return h;
}
