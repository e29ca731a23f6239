/**
 * One supervised process: spawned in its own process group with its output piped into the log
 * sink, an optional IPC channel (built-in `robbie serve` children), and a promise of its exit.
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { type ChildMessage, isChildMessage, type SupervisorMessage } from '../child-protocol.ts';
import type { ChildHandle, ChildSpec, ExitInfo } from './child-handle.ts';
import { captureOutput } from './output/child-output.ts';
import type { StreamName } from './output/log-record.ts';
import type { LogSink } from './output/log-sink.ts';
import { type OutputPipe, openOutputPipes } from './output/output-pipes.ts';
import { signalGroup, terminateGroup } from './process-group.ts';
import { processStartToken } from './process-info.ts';

export class ManagedChild extends EventEmitter<{ message: [ChildMessage] }> implements ChildHandle {
  readonly id: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** `/proc` start time, to recognise this exact process later (pid reuse). */
  readonly startToken: string | undefined;
  readonly startedAt = Date.now();
  readonly exited: Promise<ExitInfo>;
  /** Resolves once both output pipes are drained into the log. */
  readonly outputDone: Promise<void>;
  probePort: number | undefined;
  exitInfo: ExitInfo | undefined;

  constructor(id: string, spec: ChildSpec, sink: LogSink) {
    super();
    this.id = id;
    const [out, err] = openOutputPipes(2) as [OutputPipe, OutputPipe];
    const stdio: StdioOptions = ['ignore', out.stdio, err.stdio, ...(spec.ipc ? ['ipc' as const] : [])];
    // Its own process group: stop and kill reach every grandchild, and a Ctrl-C at the terminal
    // reaches only the supervisor, which then stops the children in order.
    try {
      this.proc = spawn(spec.command, spec.args, { stdio, env: spec.env, detached: true, cwd: spec.cwd });
    } catch (spawnFailure) {
      out.abandon();
      err.abandon();
      throw spawnFailure;
    }
    this.pid = this.proc.pid ?? -1;
    this.startToken = this.pid > 0 ? processStartToken(this.pid) : undefined;
    let spawnError: string | undefined;
    this.exited = new Promise((resolve) => {
      this.proc.once('error', (err) => {
        spawnError = spawnFailure(err, spec.command);
        if (this.pid <= 0) {
          this.exitInfo = { code: null, signal: null, time: Date.now(), error: spawnError };
          resolve(this.exitInfo);
        }
      });
      this.proc.once('exit', (code, signal) => {
        const info: ExitInfo = { code, signal, time: Date.now() };
        if (spawnError) info.error = spawnError;
        this.exitInfo = info;
        resolve(info);
      });
    });
    const capture = (pipe: OutputPipe, stream: Readable | null, name: StreamName) =>
      captureOutput(
        (onChunk) => pipe.read(stream, onChunk),
        { source: id, pid: this.pid, stream: name },
        sink,
      );
    this.outputDone = Promise.all([
      capture(out, this.proc.stdout, 'stdout'),
      capture(err, this.proc.stderr, 'stderr'),
    ]).then(() => undefined);
    this.proc.on('message', (msg: unknown) => {
      if (!isChildMessage(msg)) return;
      if (msg.type === 'ready') this.probePort = msg.probePort;
      this.emit('message', msg);
    });
    // A child that closes its end of the channel early must not crash the supervisor.
    this.proc.on('error', () => {});
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  send(msg: SupervisorMessage): boolean {
    if (!this.proc.connected) return false;
    try {
      return this.proc.send(msg);
    } catch {
      return false;
    }
  }

  /** SIGTERM to the group, then SIGKILL after `timeoutMs`; resolves when the group is gone. */
  async stop(timeoutMs: number): Promise<'gone' | 'terminated' | 'killed'> {
    if (this.pid <= 0) return 'gone';
    const how = await terminateGroup(this.pid, timeoutMs);
    await this.exited;
    return how;
  }

  /** SIGKILL to the whole group at once (a hung child cannot run a signal handler anyway). */
  kill(): void {
    if (this.pid > 0) signalGroup(this.pid, 'SIGKILL');
  }
}

/**
 * Why a command could not be started, in words (systemd's 203/EXEC): Node says only
 * `spawn NAME ENOENT`, which reads as if robbie were missing a file.
 */
export function spawnFailure(err: NodeJS.ErrnoException, command: string): string {
  if (err.code === 'ENOENT') return `command not found: ${command} (no such file, and not on PATH)`;
  if (err.code === 'EACCES') return `command not executable: ${command} (permission denied)`;
  return err.message;
}
