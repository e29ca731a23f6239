import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { setHeaders } from '../answer.ts';
import type { AppEnv } from '../types.ts';

/** Request ids are taken from the client when they are short and made of safe characters. */
const REQUEST_ID_MAX = 128;
const UNSAFE = /[^\w\-=]/;

/**
 * The request's id in `c.var.requestId` and on the answer as `X-Request-Id`: the client's own
 * when it sent a short one of safe characters, else a new UUID. Hono's `requestId()` does the
 * same but sets the header with `c.header()`, which sends every answer the slow way (answer.ts).
 */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    const id = given && given.length <= REQUEST_ID_MAX && !UNSAFE.test(given) ? given : randomUUID();
    c.set('requestId', id);
    setHeaders(c, { 'X-Request-Id': id });
    await next();
  };
}
