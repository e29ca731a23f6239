/**
 * Keeps a long-running process alive when its own stdout or stderr fails: a closed pipe (EPIPE:
 * `robbie supervise | head -1`), a full disk under a redirected file (ENOSPC), a vanished
 * terminal (EIO). Node reports those as an 'error' event on the stream (which, unhandled, kills
 * the process) or as an exception thrown by write() from whatever was logging — consola's
 * reporters and Node's own internals included. So the streams' `write` is wrapped here, once,
 * at the process's edge: a failed write is dropped and reported (once per episode) through
 * `onProblem`, which must not write to the failing stream itself.
 */
type Problem = (stream: 'stdout' | 'stderr', code: string, recovered: boolean) => void;

let installed = false;

/** True once a long-running command guards its streams (the CLI's end-on-EPIPE then stands aside). */
export function stdioGuarded(): boolean {
  return installed;
}

export function guardStdio(onProblem: Problem): void {
  if (installed) return;
  installed = true;
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = process[name];
    let failing: string | undefined;
    let closed = false;
    const fail = (err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      // A pipe whose reader is gone never comes back.
      if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED') closed = true;
      if (failing === code) return;
      failing = code;
      onProblem(name, code, false);
    };
    stream.on('error', fail);
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((...args: unknown[]) => {
      if (closed) return true;
      try {
        const ok = write(...args);
        if (failing !== undefined && !closed) {
          failing = undefined;
          onProblem(name, 'ok', true);
        }
        return ok;
      } catch (err) {
        fail(err);
        return true;
      }
    }) as typeof stream.write;
  }
}
