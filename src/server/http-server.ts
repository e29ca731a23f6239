import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import net from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Lifecycle } from '../api/lifecycle.ts';
import type { AppEnv } from '../api/types.ts';

export interface ListenOptions {
  host: string;
  port: number;
  /** Share the port with other robbie processes (SO_REUSEPORT): instances and zero-downtime reload. */
  reusePort: boolean;
}

export interface HttpServer {
  readonly server: Server;
  /** Starts accepting connections; resolves with the bound port. */
  listen(opts: ListenOptions): Promise<number>;
  /**
   * Graceful stop: stop accepting, let in-flight requests finish (their responses close the
   * connection), leave idle keep-alive connections usable until their keep-alive timeout, and
   * force-close what remains at the deadline. Resolves true when everything finished in time.
   */
  drain(deadlineMs: number): Promise<boolean>;
  inFlight(): number;
}

export function createHttpServer(app: Hono<AppEnv>, lifecycle: Lifecycle): HttpServer {
  // autoCleanupIncoming off: a body the app refused unread (413) is drained by Node instead of the
  // connection being reset, so the client can read the answer.
  // hostname: the authority of an HTTP/1.0 request without a Host header (HAProxy's and many load
  // balancers' default health check), which would otherwise get a bare 400. HTTP/1.1 without Host
  // is still refused by Node, as RFC 9112 says.
  const server = createAdaptorServer({
    fetch: app.fetch,
    autoCleanupIncoming: false,
    hostname: 'localhost',
  }) as Server;
  const active = new Set<ServerResponse>();

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    active.add(res);
    if (lifecycle.draining) res.setHeader('Connection', 'close');
    // Answering before the body has arrived (401, 413, 415): the rest of the body is discarded and
    // the connection must not be reused, or the client's next request on it would be reset.
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
      if (!req.complete && !this.headersSent) this.setHeader('Connection', 'close');
      return writeHead.apply(this, args);
    } as ServerResponse['writeHead'];
    res.once('close', () => active.delete(res));
  });

  let listening = false;

  return {
    server,
    inFlight: () => active.size,
    listen(opts) {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once('error', onError);
        const listenOpts: net.ListenOptions & { reusePort?: boolean } = { host: opts.host, port: opts.port };
        if (opts.reusePort && process.platform === 'linux') listenOpts.reusePort = true;
        server.listen(listenOpts, () => {
          server.off('error', onError);
          listening = true;
          const addr = server.address();
          resolve(typeof addr === 'object' && addr ? addr.port : opts.port);
        });
      });
    },
    drain(deadlineMs) {
      lifecycle.draining = true;
      for (const res of active) if (!res.headersSent) res.setHeader('Connection', 'close');
      return new Promise<boolean>((resolve) => {
        let finished = false;
        const done = (inTime: boolean) => {
          if (finished) return;
          finished = true;
          clearTimeout(deadline);
          resolve(inTime);
        };
        const deadline = setTimeout(() => {
          server.closeAllConnections();
          done(false);
        }, deadlineMs);
        if (!listening) {
          done(true);
          return;
        }
        // net.Server's close stops accepting and calls back once every connection has ended; http's
        // own close() would also cut idle keep-alive sockets at once, racing clients that are
        // sending on them right now. So would closing them at any moment of our choosing: an idle
        // connection stays usable (each answer on it now says Connection: close) until the
        // keep-alive timeout the server advertised in every answer (Keep-Alive: timeout=5), which
        // is when Node closes it, as at any other time, and when clients have stopped using it.
        net.Server.prototype.close.call(server, () => done(true));
      });
    },
  };
}
