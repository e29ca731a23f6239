/** One TCP connect with a deadline: undefined when something accepted, else why not (an errno code). */
import net from 'node:net';

export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (error: string | undefined) => {
      sock.destroy();
      resolve(error);
    };
    sock.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    sock.once('connect', () => done(undefined));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'connection failed'));
  });
}
