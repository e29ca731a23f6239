import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../logger/logger.ts';
import type { AppEnv } from '../types.ts';

/**
 * One JSON access-log line per request (method, path, status, duration, request id, and what the
 * route adds in `c.var.logFields`: outcome, provider, model), and a
 * per-request logger in `c.var.log` so every line of a request carries its id. Hono's `logger()`
 * prints coloured text, not structured fields, hence this small middleware.
 */
/** Probes arrive every second from the supervisor or kubelet: kept out of the info stream and out of traces. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/livez', '/readyz']);

export function accessLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const start = performance.now();
    const requestLog = log.child({ request_id: c.get('requestId') });
    c.set('log', requestLog);
    await next();
    const level = PROBE_PATHS.has(c.req.path) ? 'debug' : 'info';
    requestLog[level]('request', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - start) * 100) / 100,
      // What the route adds: the request's outcome, who served it (one line per request).
      ...c.get('logFields'),
    });
  };
}
