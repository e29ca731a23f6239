import { createApp } from '../api/app.ts';
import { newLifecycle } from '../api/lifecycle.ts';
import type { ServeConfig } from '../config/serve-config.ts';
import { formatDuration } from '../config/units.ts';
import { UserError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { VERSION } from '../runtime/version.ts';
import { createHttpServer } from './http-server.ts';

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * `robbie serve`: the API in the foreground. The first SIGTERM/SIGINT drains (readyz turns 503,
 * the listener closes, in-flight requests finish up to the shutdown timeout) and exits 0; a second
 * signal exits at once.
 */
export async function runServe(config: ServeConfig, log: Logger): Promise<void> {
  const lifecycle = newLifecycle();
  const app = createApp({ version: VERSION, log, lifecycle });
  const http = createHttpServer(app, lifecycle);

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn('second signal: exiting at once', { signal });
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    stopping = true;
    log.info('draining', {
      signal,
      in_flight: http.inFlight(),
      deadline: formatDuration(config.shutdownTimeoutMs),
    });
    void http.drain(config.shutdownTimeoutMs).then((inTime) => {
      if (inTime) log.info('stopped', { signal });
      else log.warn('shutdown deadline reached: remaining connections closed', { signal });
      process.exit(0);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    const port = await http.listen({ host: config.host, port: config.port, reusePort: true });
    log.info('listening', {
      url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
      version: VERSION,
      pid: process.pid,
    });
    if (config.apiKeys.length === 0) log.info('no API keys configured: listening on loopback only');
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new UserError(`port ${config.port} on ${config.host} is already in use`);
    if (code === 'EACCES') throw new UserError(`no permission to listen on ${config.host}:${config.port}`);
    if (code === 'EADDRNOTAVAIL')
      throw new UserError(`address ${config.host} is not available on this machine`);
    throw err;
  }
}
