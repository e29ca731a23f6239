import { defineCommand } from 'citty';
import { httpUrl, reachableHost, resolveServeConfig } from '../../config/serve-config.ts';
import { durationSetting } from '../../config/values.ts';
import { UsageError } from '../../errors.ts';
import { serveArgs } from '../args.ts';

/** `robbie health`: a curl-free HEALTHCHECK. Exit 0 for healthy or degraded, 1 otherwise. */
export default defineCommand({
  meta: {
    name: 'health',
    description: 'Probe the health endpoint; exit 0 when healthy or degraded, 1 otherwise',
  },
  args: {
    url: { type: 'string', description: 'URL to probe (default http://HOST:PORT/health)', valueHint: 'url' },
    host: serveArgs.host,
    port: serveArgs.port,
    timeout: {
      type: 'string',
      description: 'How long to wait for the answer (default 3s)',
      valueHint: 'duration',
    },
    json: { type: 'boolean', description: 'Print the health document as JSON' },
  },
  async run({ args }) {
    let url = args.url;
    if (!url) {
      // Only where to connect matters here: a public host needs no API keys to be probed.
      const serve = resolveServeConfig(
        { host: args.host, port: args.port },
        { ...process.env, ROBBIE_API_KEYS: 'probe' },
      );
      url = httpUrl(reachableHost(serve.host), serve.port, '/health');
    } else if (!/^https?:\/\//.test(url)) {
      throw new UsageError(`--url must be an http:// or https:// URL (got '${url}')`);
    }
    const timeoutMs = durationSetting({ flag: args.timeout, flagName: 'timeout' }, 3000, 1);
    let status = 'unreachable';
    let code = 0;
    let body: unknown;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      code = res.status;
      const text = await res.text();
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      const reported =
        typeof body === 'object' && body !== null ? (body as { status?: unknown }).status : undefined;
      status = typeof reported === 'string' ? reported : res.ok ? 'healthy' : `HTTP ${res.status}`;
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
      status =
        err instanceof Error && err.name === 'TimeoutError'
          ? `no answer within ${timeoutMs}ms`
          : `unreachable (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`;
    }
    const ok = code >= 200 && code < 300 && (status === 'healthy' || status === 'degraded');
    if (args.json)
      process.stdout.write(
        `${JSON.stringify({ url, ok, http_status: code || null, status, body: body ?? null })}\n`,
      );
    else process.stdout.write(`${status}${code ? ` (HTTP ${code})` : ''} ${url}\n`);
    process.exitCode = ok ? 0 : 1;
  },
});
