/**
 * What every JSON route accepts: `application/json` (415 otherwise) up to `maxBytes` (413 over
 * it), as Hono's bodyLimit measures it. With `optional`, an empty body passes (a bare POST).
 */
import type { Context, MiddlewareHandler } from 'hono';
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
  const tooLarge = (c: Context<AppEnv>) =>
    sendProblem(c, problem(413, 'payload_too_large', `the body is larger than ${maxBytes} bytes`));
  const streamed = bodyLimit({ maxSize: maxBytes, onError: tooLarge }) as MiddlewareHandler<AppEnv>;
  // A body whose Content-Length is within the limit goes on at once — without Hono's bodyLimit
  // asking for the request's web-stream body first, which on Node builds a whole Request per call
  // (a tenth of the request path's CPU). The rest (too large, chunked) is bodyLimit's: it answers
  // 413 while the client is still sending in a way the client can read.
  const limit: MiddlewareHandler<AppEnv> = async (c, next) => {
    const length = c.req.header('content-length');
    if (
      length !== undefined &&
      c.req.header('transfer-encoding') === undefined &&
      Number.parseInt(length, 10) <= maxBytes
    ) {
      return next();
    }
    return streamed(c, next);
  };
  return [type, limit];
}
