/**
 * What every JSON route accepts: `application/json` (415 otherwise) up to `maxBytes` (413 over
 * it), as Hono's bodyLimit measures it. With `optional`, an empty body passes (a bare POST).
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../types.ts';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export function jsonBody(
  maxBytes: number,
  opts: { optional?: boolean } = {},
): [MiddlewareHandler<AppEnv>, MiddlewareHandler<AppEnv>] {
  const type: MiddlewareHandler<AppEnv> = async (c, next) => {
    const empty =
      c.req.header('content-length') === '0' ||
      (!c.req.header('content-length') && !c.req.header('transfer-encoding'));
    if (opts.optional && empty) return next();
    if (!JSON_TYPE.test(c.req.header('content-type') ?? '')) {
      return c.json(
        {
          error: 'unsupported_media_type',
          reason: 'send the body as application/json',
          request_id: c.get('requestId'),
        },
        415,
      );
    }
    return next();
  };
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      c.json(
        {
          error: 'payload_too_large',
          reason: `the body is larger than ${maxBytes} bytes`,
          request_id: c.get('requestId'),
        },
        413,
      ),
  }) as MiddlewareHandler<AppEnv>;
  return [type, limit];
}
