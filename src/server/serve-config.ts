import { type ApiConfig, apiConfig } from '../api/config.ts';
import { resolvePaths } from '../config/paths.ts';
import { describeOrigin, type Resolved } from '../config/resolve.ts';
import { ConfigError } from '../errors.ts';
import type { ConsoleSettings } from '../logger/logger.ts';
import { type TelemetryConfig, telemetryConfig } from '../telemetry/config.ts';
import { isLoopback } from './urls.ts';

export interface ServeConfig {
  host: string;
  port: number;
  /** In-flight requests get this long to finish after SIGTERM/SIGINT. */
  shutdownTimeoutMs: number;
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

/** The API's configuration from the resolved settings; refuses a public address without keys. */
export function serveConfig(s: Resolved): ServeConfig {
  const v = s.values;
  if (!isLoopback(v.host) && (v['api-keys'] ?? []).length === 0) {
    throw new ConfigError(
      `refusing to listen on ${v.host} without API keys (${describeOrigin('host', s.origins.host)}): set ROBBIE_API_KEYS, or listen on 127.0.0.1`,
    );
  }
  return {
    host: v.host,
    port: v.port,
    shutdownTimeoutMs: v['shutdown-timeout'],
    home: resolvePaths(v).home,
    controlSocket: resolvePaths(v).controlSocket,
    databaseUrl: v['database-url'],
    retentionMs: v.retention,
    api: apiConfig(s),
    console: { level: v['log-level'], format: v['log-format'] },
    telemetry: telemetryConfig(s),
  };
}
