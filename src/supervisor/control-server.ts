/**
 * The control plane: a unix socket in the state directory, mode 0600 (only the owner — and root —
 * can talk to it; nothing listens on the network, unlike `pm2 web`).
 */
import { chmodSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from '../logger/logger.ts';
import {
  CONTROL_COMMANDS,
  type ControlCommand,
  type ControlRequest,
  type ControlResponse,
} from './control-protocol.ts';

export type ControlHandler = (request: ControlRequest) => Promise<unknown>;

/** A command and, for `apply`, every setting in its environment form: far below this. */
const MAX_REQUEST_BYTES = 64 * 1024;

export async function startControlServer(
  path: string,
  handler: ControlHandler,
  log: Logger,
): Promise<net.Server> {
  // The state lock is held, so a socket file here is a leftover of a dead supervisor.
  try {
    unlinkSync(path);
  } catch {
    // none
  }
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > MAX_REQUEST_BYTES) {
        sock.destroy();
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      const line = buf.slice(0, nl);
      buf = '';
      void respond(line).then((res) => sock.end(`${JSON.stringify(res)}\n`));
    });
  });
  const respond = async (line: string): Promise<ControlResponse> => {
    let parsed: { cmd?: unknown; env?: unknown };
    try {
      parsed = JSON.parse(line) as { cmd?: unknown; env?: unknown };
    } catch {
      return { ok: false, error: 'bad request' };
    }
    const cmd = parsed.cmd;
    if (!CONTROL_COMMANDS.includes(cmd as ControlCommand))
      return { ok: false, error: `unknown command ${String(cmd)}` };
    const env = parsed.env;
    const validEnv =
      typeof env === 'object' &&
      env !== null &&
      Object.values(env).every((v): v is string => typeof v === 'string');
    if (env !== undefined && !validEnv) return { ok: false, error: 'bad request' };
    try {
      const request: ControlRequest = { cmd: cmd as ControlCommand };
      if (validEnv) request.env = env as Record<string, string>;
      return { ok: true, result: await handler(request) };
    } catch (err) {
      log.warn('control command failed', {
        cmd: String(cmd),
        err: err instanceof Error ? err.message : String(err),
      });
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  };
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(path, 0o600);
  return server;
}
