/** `robbie config`: the effective configuration, as flags, environment and env file resolve it — secrets redacted. */
import { defineCommand } from 'citty';
import { applyEnvFile } from '../../config/env-file.ts';
import { resolveSuperviseConfig } from '../../config/supervise-config.ts';
import { formatDuration, formatSize } from '../../config/units.ts';
import { redact } from '../../logger/redact.ts';
import { superviseArgs } from '../args.ts';

/**
 * A webhook URL's path and query are its secret (Slack's /services/T…/B…/xyz): only the origin is
 * shown.
 */
function webhookShown(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === '/' && !u.search ? u.origin : `${u.origin}/***`;
  } catch {
    return '***';
  }
}

function secret(value: string | undefined): string {
  return value ? 'set (hidden)' : 'not set';
}

export default defineCommand({
  meta: { name: 'config', description: 'Show the effective configuration, with secrets redacted' },
  args: { ...superviseArgs, json: { type: 'boolean', description: 'Print it as JSON' } },
  run({ args, data }) {
    applyEnvFile(args['env-file']);
    const c = resolveSuperviseConfig(
      args,
      process.env,
      (data as { passthrough?: string[] } | undefined)?.passthrough,
    );
    const s = c.serve;
    const a = s.api;
    const view = {
      listen: `${s.host}:${s.port}`,
      home: c.paths.home,
      log_dir: c.paths.logDir,
      store: s.databaseUrl
        ? `postgres ${redact(s.databaseUrl)}`
        : 'sqlite (robbie.db in the state directory)',
      api_keys: a.apiKeys.length ? `${a.apiKeys.length} configured (hidden)` : 'none (loopback only)',
      admin_key: secret(a.adminKey),
      provider: a.provider,
      provider_url:
        a.provider === 'openai'
          ? (a.openaiBaseUrl ?? 'https://api.openai.com/v1')
          : a.provider === 'ollama'
            ? a.ollamaUrl
            : '-',
      openai_api_key: secret(a.openaiApiKey),
      models: a.models,
      model_timeout: formatDuration(a.modelTimeoutMs),
      rate_limit: `${a.rateLimit.max} per ${formatDuration(a.rateLimit.windowMs)} per user and source`,
      max_body: formatSize(a.maxBodyBytes),
      retention: formatDuration(s.retentionMs),
      shutdown_timeout: formatDuration(s.shutdownTimeoutMs),
      supervisor: {
        command: c.command?.join(' ') ?? 'robbie serve',
        instances: c.instances,
        standby: c.standby,
        probe: `every ${formatDuration(c.probe.intervalMs)}, timeout ${formatDuration(c.probe.timeoutMs)}, ${c.probe.failures} failures`,
        restart: c.restartPolicy,
        limit: `${c.maxRestarts} restarts per ${formatDuration(c.restartWindowMs)}, then ${c.giveUp ? 'give up' : `cool down ${formatDuration(c.cooldownMs)}`}`,
        backoff_max: formatDuration(c.backoffMaxMs),
        stop_timeout: formatDuration(c.stopTimeoutMs),
        alert_webhook: c.alertWebhook ? webhookShown(c.alertWebhook) : 'none',
        logs: `rotate at ${formatSize(c.logs.maxBytes)}${c.logs.daily ? ' and daily' : ''}, keep ${c.logs.keep}, cap ${formatSize(c.logs.maxTotalBytes)}`,
      },
    };
    if (args.json) {
      process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      return;
    }
    const lines: string[] = [];
    const walk = (obj: Record<string, unknown>, prefix: string) => {
      for (const [k, v] of Object.entries(obj)) {
        if (v && typeof v === 'object' && !Array.isArray(v))
          walk(v as Record<string, unknown>, `${prefix}${k}.`);
        else lines.push(`${`${prefix}${k}`.padEnd(26)} ${String(v)}`);
      }
    };
    walk(view, '');
    process.stdout.write(`${lines.join('\n')}\n`);
  },
});
