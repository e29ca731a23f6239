/**
 * What the supervisor needs of a child process — the seam between supervision and real processes
 * (`ManagedChild` spawns one; unit tests drive a fake).
 */
import type { EventEmitter } from 'node:events';
import type { ChildMessage, SupervisorMessage } from '../child-protocol.ts';

export type ChildRole = 'active' | 'standby';

export interface ChildSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Open an IPC channel (built-in children speak the ready/activate protocol over it). */
  ipc: boolean;
  cwd?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  time: number;
  /** Set when the process could not be started at all. */
  error?: string;
}

export interface ChildHandle extends Pick<EventEmitter<{ message: [ChildMessage] }>, 'on' | 'off'> {
  readonly id: string;
  /** -1 when the process could not be started (then `exited` carries the error). */
  readonly pid: number;
  /** `/proc` start time, to recognise this exact process later (pid reuse). */
  readonly startToken: string | undefined;
  readonly startedAt: number;
  readonly exited: Promise<ExitInfo>;
  /** Resolves once its output is all in the log. */
  readonly outputDone: Promise<void>;
  readonly alive: boolean;
  /** The private loopback port a built-in child answers probes on, once it said so. */
  probePort: number | undefined;
  send(msg: SupervisorMessage): boolean;
  /** SIGTERM to the group, then SIGKILL after `timeoutMs`; resolves when the group is gone. */
  stop(timeoutMs: number): Promise<'gone' | 'terminated' | 'killed'>;
  /** SIGKILL to the whole group (also what reaps grandchildren after the child itself exited). */
  kill(): void;
}

export type Spawner = (id: string, role: ChildRole, spec: ChildSpec) => ChildHandle;

export function describeExit(info: ExitInfo): string {
  return info.error ?? (info.signal ? `signal ${info.signal}` : `exit code ${info.code}`);
}
