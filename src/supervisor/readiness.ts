/**
 * The one rule for "this child is ready", used by the first start, by a promotion and by reload:
 *
 * - `ipc` (built-in `robbie serve`): it said so over IPC — `ready` from an active child once it
 *   listens, `listening` from a promoted standby once it took the port;
 * - `probe` (a custom command with --probe-url): its first passing probe, asked every 50 ms while
 *   it starts, so readiness is seen within 50 ms of the child answering;
 * - `alive` (a custom command without a probe): still running after `ms` (supervisord's startsecs).
 */
import type { ChildMessage } from '../child-protocol.ts';
import { type ChildHandle, describeExit } from './child-handle.ts';
import type { Cancel, Clock } from './clock.ts';
import { type ProbeFn, Prober } from './probe.ts';

export type ReadinessMode = { kind: 'ipc' } | { kind: 'probe'; url: string } | { kind: 'alive'; ms: number };

const STARTUP_PROBE_INTERVAL_MS = 50;

export class NotReadyError extends Error {
  /** `timeout`: still not ready at the deadline (the caller ends it as hung); `exit`: it died. */
  readonly kind: 'timeout' | 'exit';
  constructor(kind: 'timeout' | 'exit', message: string) {
    super(message);
    this.kind = kind;
  }
}

/**
 * Resolves when `child` is ready by `mode`, rejects with a NotReadyError when it exits first or
 * `timeoutMs` passes. `cancel` (e.g. the slot moved on) leaves the promise pending for good.
 */
export function waitReady(
  child: ChildHandle,
  mode: ReadinessMode,
  timeoutMs: number,
  deps: { clock: Clock; probe: ProbeFn; probeTimeoutMs: number },
): { ready: Promise<void>; cancel: Cancel } {
  const cleanups: Cancel[] = [];
  let settled = false;
  const cancel = () => {
    settled = true;
    for (const c of cleanups.splice(0)) c();
  };
  const ready = new Promise<void>((resolve, reject) => {
    const finish = (err?: NotReadyError) => {
      if (settled) return;
      cancel();
      if (err) reject(err);
      else resolve();
    };
    cleanups.push(
      deps.clock.after(timeoutMs, () =>
        finish(new NotReadyError('timeout', `not ready within ${Math.round(timeoutMs)} ms`)),
      ),
    );
    void child.exited.then((info) =>
      finish(new NotReadyError('exit', `exited while starting (${describeExit(info)})`)),
    );
    switch (mode.kind) {
      case 'ipc': {
        const onMessage = (msg: ChildMessage) => {
          if ((msg.type === 'ready' && msg.role === 'active') || msg.type === 'listening') finish();
        };
        child.on('message', onMessage);
        cleanups.push(() => child.off('message', onMessage));
        break;
      }
      case 'probe': {
        const prober = new Prober(
          mode.url,
          { intervalMs: STARTUP_PROBE_INTERVAL_MS, timeoutMs: deps.probeTimeoutMs },
          deps,
          (r) => r.ok && finish(),
        );
        cleanups.push(() => prober.stop());
        break;
      }
      case 'alive':
        cleanups.push(deps.clock.after(mode.ms, () => child.alive && finish()));
        break;
    }
  });
  // A caller that cancelled never looks at the outcome.
  ready.catch(() => {});
  return { ready, cancel };
}
