import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { setHeaders } from '../answer.ts';
import { problem, sendProblem } from '../errors.ts';
import type { AppEnv } from '../types.ts';

/** A correlation id robbie echoes: 1 to 128 visible ASCII characters (no spaces, nothing a log line could be split by). */
const CORRELATION_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * The request's correlation id in `c.var.requestId` and on the answer as `X-Request-Id`: the
 * client's own, echoed as sent, or a new UUID when it sent none; one robbie cannot echo is refused
 * (400), never swapped. It correlates log lines only: idempotency is the body's `request_id` or an
 * `Idempotency-Key`. Hono's `requestId()` sets the header with `c.header()`, which sends every
 * answer the slow way (answer.ts).
 */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    if (given !== undefined && !CORRELATION_ID.test(given)) {
      const id = randomUUID();
      c.set('requestId', id);
      setHeaders(c, { 'X-Request-Id': id });
      return sendProblem(
        c,
        problem(400, 'bad_request', 'X-Request-Id must be 1 to 128 visible ASCII characters (no spaces)'),
      );
    }
    const id = given ?? randomUUID();
    c.set('requestId', id);
    setHeaders(c, { 'X-Request-Id': id });
    await next();
  };
}
