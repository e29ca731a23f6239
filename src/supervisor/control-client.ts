import net from 'node:net';
import { UserError } from '../errors.ts';
import type { ControlAnswers, ControlCommand, ControlResponse } from './control-protocol.ts';

/** Not running: no socket, or nobody answering on it. */
export class NotRunningError extends UserError {
  constructor(home: string) {
    super(`not running (no supervisor on ${home})`, 3);
  }
}

/** Sends one command to the supervisor on `socketPath` and returns its result. */
export function control<C extends ControlCommand>(
  socketPath: string,
  home: string,
  cmd: C,
  timeoutMs: number,
  env?: Record<string, string>,
): Promise<ControlAnswers[C]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = '';
    let failed = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new UserError(`the supervisor did not answer '${cmd}' within ${Math.round(timeoutMs / 1000)}s`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(`${JSON.stringify(env ? { cmd, env } : { cmd })}\n`));
    sock.on('data', (d: string) => {
      buf += d;
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      failed = true;
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new NotRunningError(home));
      else if (err.code === 'EACCES')
        reject(new UserError(`no permission to talk to the supervisor at ${socketPath}`));
      else reject(new UserError(`cannot reach the supervisor: ${err.code ?? err.message}`));
    });
    sock.once('close', () => {
      clearTimeout(timer);
      if (failed) return;
      if (!buf) {
        reject(new UserError(`the supervisor closed the connection without answering '${cmd}'`));
        return;
      }
      try {
        const res = JSON.parse(buf) as ControlResponse;
        // The supervisor is this same program: its answer has the shape its command declares.
        if (res.ok) resolve(res.result as ControlAnswers[C]);
        else reject(new UserError(res.error));
      } catch {
        reject(new UserError('the supervisor sent an unreadable answer'));
      }
    });
  });
}
