/**
 * How every JSON answer leaves, with its headers put where they cost least. Under
 * @hono/node-server they go straight onto Node's ServerResponse, whose writeHead merges them: a
 * Hono context that holds headers itself — `c.header()`, or more than one header given to
 * `c.json()` — answers through a web `Headers` and a full `Response` instead of the adapter's
 * plain-object path, which a profile here put at about 20 µs of CPU a request. Elsewhere (another
 * runtime's fetch handler, `app.request` in tests) they go on the context as usual.
 */
import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** The Node response under @hono/node-server (its `env.outgoing`); undefined elsewhere. */
export function nodeResponseOf(c: Context): ServerResponse | undefined {
  return (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
}

/** Adds headers to the answer `c` will give, whichever way it is sent. */
export function setHeaders(c: Context, headers: Record<string, string>): void {
  const node = nodeResponseOf(c);
  const res = node && !node.headersSent ? node : undefined;
  for (const [name, value] of Object.entries(headers)) {
    if (res) res.setHeader(name, value);
    else c.header(name, value);
  }
}

/** A JSON answer with its status and headers. */
export function sendJson(
  c: Context,
  body: object,
  status: number,
  headers: Record<string, string> | undefined,
): Response {
  if (headers) setHeaders(c, headers);
  return c.json(body, status as ContentfulStatusCode);
}

/** Which provider (and model) served an answer, and whether it came from the cache. */
export function servedHeaders(a: {
  provider: string;
  model: string;
  cache?: string;
}): Record<string, string> {
  return {
    'X-Robbie-Provider': a.provider,
    'X-Robbie-Model': a.model,
    ...(a.cache ? { 'X-Robbie-Cache': a.cache } : {}),
  };
}
