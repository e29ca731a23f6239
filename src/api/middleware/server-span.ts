import type { MiddlewareHandler } from 'hono';
import { NO_TRACING, type Tracer } from '../../telemetry/tracer.ts';
import type { AppEnv } from '../types.ts';
import { PROBE_PATHS } from './access-log.ts';

/**
 * The request's SERVER span in `c.var.span`, continuing the caller's `traceparent`, named
 * `{method} {route}` as OpenTelemetry's HTTP conventions name it; the key that called is
 * `robbie.key`. A streamed answer's span ends with the stream. Probes get a span that records
 * nothing: one a second from every supervisor would bury the requests.
 */
export function serverSpan(tracer: Tracer): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const method = c.req.method;
    const path = c.req.path;
    const traced = tracer.enabled && !PROBE_PATHS.has(path);
    const span = (traced ? tracer : NO_TRACING).server(method, c.req.header('traceparent'));
    c.set('span', span);
    if (!span.recorded) return next();
    span.set('http.request.method', method).set('url.path', path);
    try {
      await next();
    } finally {
      const route = c.req.routePath;
      const status = c.res.status;
      span
        .rename(route && route !== '/*' ? `${method} ${route}` : method)
        .set('http.route', route)
        .set('http.response.status_code', status)
        .set('robbie.request_id', c.get('requestId'))
        .set('robbie.key', c.get('principal')?.name);
      if (status >= 500) span.fail(String(status));
      const ends = c.get('spanEndsWith');
      if (ends) void ends.finally(() => span.end()).catch(() => undefined);
      else span.end();
    }
  };
}
