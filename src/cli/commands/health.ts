import { defineCommand } from 'citty';
import { durationCodec } from '../../config/kinds.ts';
import { flagValue } from '../../config/values.ts';
import { UsageError } from '../../errors.ts';
import { healthUrl } from '../../server/urls.ts';
import { pathArgs, settingArgs } from '../args.ts';
import { settingsOfService } from '../service-settings.ts';

/** `robbie health`: a curl-free HEALTHCHECK. Exit 0 for healthy or degraded, 1 otherwise. */
export default defineCommand({
  meta: {
    name: 'health',
    description: 'Probe the health endpoint; exit 0 when healthy or degraded, 1 otherwise',
  },
  args: {
    url: { type: 'string', description: 'URL to probe (default http://HOST:PORT/health)', valueHint: 'url' },
    ...settingArgs(['host', 'port']),
    ...pathArgs,
    timeout: {
      type: 'string',
      description: 'How long to wait for the answer (default 3s)',
      valueHint: 'duration',
    },
    json: { type: 'boolean', description: 'Print the health document as JSON' },
  },
  async run({ args }) {
    let url = typeof args.url === 'string' ? args.url : undefined;
    if (!url) {
      // Where the service listens: the running supervisor's port, else the installed service's or
      // this environment's (a flag overrides them).
      url = healthUrl((await settingsOfService(args)).settings);
    } else if (!/^https?:\/\//.test(url)) {
      throw new UsageError(`--url must be an http:// or https:// URL (got '${url}')`);
    }
    const timeoutMs = flagValue('timeout', args.timeout as string | undefined, durationCodec(1), 3000);
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
