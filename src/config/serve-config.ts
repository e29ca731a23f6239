import { ConfigError } from '../errors.ts';
import { type ApiConfig, resolveApiConfig } from './api-config.ts';
import { checkDatabaseUrl } from './database-url.ts';
import { resolvePaths } from './paths.ts';
import { durationSetting, intSetting, optionalString, stringSetting } from './values.ts';

export interface ServeConfig {
  host: string;
  port: number;
  /** In-flight requests get this long to finish after SIGTERM/SIGINT. */
  shutdownTimeoutMs: number;
  apiKeys: string[];
  /** State directory: the SQLite store and the outbox live here. */
  home: string;
  /** PostgreSQL; undefined means the embedded SQLite store. */
  databaseUrl: string | undefined;
  /** Request logs and blocks older than this are purged. */
  retentionMs: number;
  api: ApiConfig;
}

/** The flags `serve` takes, as citty parsed them (all strings: citty has no number type). */
export interface ServeFlags {
  host?: string | undefined;
  port?: string | undefined;
  'shutdown-timeout'?: string | undefined;
  'env-file'?: string | undefined;
  home?: string | undefined;
  'database-url'?: string | undefined;
  retention?: string | undefined;
  'max-body'?: string | undefined;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8000;

/** `http://host:port/path`, with an IPv6 address in brackets. */
export function httpUrl(host: string, port: number | string, path = ''): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
}

/** Where a local client reaches a server listening on `host` (a wildcard means loopback). */
export function reachableHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function resolveServeConfig(flags: ServeFlags, env: NodeJS.ProcessEnv): ServeConfig {
  const host = stringSetting(
    { flag: flags.host, env: env.HOST, flagName: 'host', envName: 'HOST' },
    DEFAULT_HOST,
  );
  const port = intSetting(
    { flag: flags.port, env: env.PORT, flagName: 'port', envName: 'PORT' },
    DEFAULT_PORT,
    0,
    65535,
  );
  const shutdownTimeoutMs = durationSetting(
    {
      flag: flags['shutdown-timeout'],
      env: env.ROBBIE_SHUTDOWN_TIMEOUT,
      flagName: 'shutdown-timeout',
      envName: 'ROBBIE_SHUTDOWN_TIMEOUT',
    },
    10_000,
  );
  const apiKeys = (env.ROBBIE_API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  if (!isLoopback(host) && apiKeys.length === 0) {
    throw new ConfigError(
      `refusing to listen on ${host} without API keys: set ROBBIE_API_KEYS, or listen on 127.0.0.1`,
    );
  }
  const databaseUrl = optionalString({
    flag: flags['database-url'],
    env: env.DATABASE_URL,
    flagName: 'database-url',
    envName: 'DATABASE_URL',
  });
  if (databaseUrl) checkDatabaseUrl(databaseUrl);
  const retentionMs = durationSetting(
    { flag: flags.retention, env: env.ROBBIE_RETENTION, flagName: 'retention', envName: 'ROBBIE_RETENTION' },
    90 * 86_400_000,
    60_000,
    // Not a timer: a cut-off for the hourly purge.
    36_500 * 86_400_000,
  );
  return {
    host,
    port,
    shutdownTimeoutMs,
    apiKeys,
    home: resolvePaths(flags, env).home,
    databaseUrl,
    retentionMs,
    api: resolveApiConfig(flags, env, apiKeys),
  };
}
