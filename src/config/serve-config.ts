import { ConfigError } from '../errors.ts';
import type { ConsoleSettings } from '../logger/logger.ts';
import { type TelemetryConfig, telemetryConfig } from '../telemetry/config.ts';
import { type ApiConfig, apiConfig } from './api-config.ts';
import { resolvePaths } from './paths.ts';
import { describeOrigin, type Resolved } from './resolve.ts';

export interface ServeConfig {
  host: string;
  port: number;
  /** In-flight requests get this long to finish after SIGTERM/SIGINT. */
  shutdownTimeoutMs: number;
  apiKeys: string[];
  /** State directory: the SQLite store and the outbox live here. */
  home: string;
  /** Where a supervisor of this state directory listens (the dashboard asks it). */
  controlSocket: string;
  /** PostgreSQL; undefined means the embedded SQLite store. */
  databaseUrl: string | undefined;
  /** Request logs and blocks older than this are purged. */
  retentionMs: number;
  api: ApiConfig;
  /** Console logging of the process (serve or supervise). */
  console: ConsoleSettings;
  /** Where spans go; undefined: tracing off. */
  telemetry: TelemetryConfig | undefined;
}

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

/** The API's configuration from the resolved settings; refuses a public address without keys. */
export function serveConfig(s: Resolved): ServeConfig {
  const v = s.values;
  const apiKeys = v['api-keys'] ?? [];
  if (!isLoopback(v.host) && apiKeys.length === 0) {
    throw new ConfigError(
      `refusing to listen on ${v.host} without API keys (${describeOrigin('host', s.origins.host)}): set ROBBIE_API_KEYS, or listen on 127.0.0.1`,
    );
  }
  return {
    host: v.host,
    port: v.port,
    shutdownTimeoutMs: v['shutdown-timeout'],
    apiKeys,
    home: resolvePaths(v).home,
    controlSocket: resolvePaths(v).controlSocket,
    databaseUrl: v['database-url'],
    retentionMs: v.retention,
    api: apiConfig(s),
    console: { level: v['log-level'], format: v['log-format'] },
    telemetry: telemetryConfig(s),
  };
}

/** Where a local client finds the health endpoint of an API listening on `host:port`. */
export function localHealthUrl(host: string, port: number): string {
  return httpUrl(reachableHost(host), port, '/health');
}

/** Where a local client finds the API of these settings. */
export function healthUrl(s: Resolved): string {
  return localHealthUrl(s.values.host, s.values.port);
}
