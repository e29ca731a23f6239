/**
 * What every JSON route accepts: `application/json` (415 otherwise) up to `maxBytes` (413 over
 * it), as Hono's bodyLimit measures it. With `optional`, an empty body passes (a bare POST).
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { problem, sendProblem } from '../errors.ts';
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
      return sendProblem(c, problem(415, 'unsupported_media_type', 'send the body as application/json'));
    }
    return next();
  };
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      sendProblem(c, problem(413, 'payload_too_large', `the body is larger than ${maxBytes} bytes`)),
  }) as MiddlewareHandler<AppEnv>;
  return [type, limit];
}
