import { ConfigError, UsageError } from '../errors.ts';
import type { RotationOptions } from '../supervisor/output/rotating-file.ts';
import { type PathFlags, type Paths, resolvePaths } from './paths.ts';
import { resolveServeConfig, type ServeConfig, type ServeFlags } from './serve-config.ts';
import { parseSize } from './units.ts';
import { durationSetting, enumSetting, intSetting, optionalString, sizeSetting } from './values.ts';

export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export interface SuperviseConfig {
  paths: Paths;
  serve: ServeConfig;
  /** Flags handed to each built-in `robbie serve` child. */
  serveArgs: string[];
  /** Environment for the children: the state directory, and secrets that must not go on argv. */
  childEnv: Record<string, string>;
  /** `supervise -- CMD ARGS…`: a command of the user's instead of `robbie serve`. */
  command: string[] | undefined;
  instances: number;
  standby: boolean;
  /** For custom commands: what to probe (probing is off without it). */
  probeUrl: string | undefined;
  probe: { intervalMs: number; timeoutMs: number; failures: number };
  /** A custom command with a probe must pass its first probe within this time. */
  startTimeoutMs: number;
  restartPolicy: RestartPolicy;
  maxRestarts: number;
  restartWindowMs: number;
  cooldownMs: number;
  giveUp: boolean;
  backoffMaxMs: number;
  /** A child that fails sooner than this after becoming ready failed to start (backoff applies). */
  minUptimeMs: number;
  stopTimeoutMs: number;
  alertWebhook: string | undefined;
  alertDedupeMs: number;
  logs: RotationOptions;
}

export type SuperviseFlags = ServeFlags &
  PathFlags & {
    instances?: string | undefined;
    standby?: boolean | undefined;
    'probe-url'?: string | undefined;
    'probe-interval'?: string | undefined;
    'probe-timeout'?: string | undefined;
    'probe-failures'?: string | undefined;
    'start-timeout'?: string | undefined;
    restart?: string | undefined;
    'max-restarts'?: string | undefined;
    'restart-window'?: string | undefined;
    cooldown?: string | undefined;
    'give-up'?: boolean | undefined;
    'backoff-max'?: string | undefined;
    'min-uptime'?: string | undefined;
    'stop-timeout'?: string | undefined;
    'alert-webhook'?: string | undefined;
    'log-max-size'?: string | undefined;
    'log-rotate-daily'?: boolean | undefined;
    'log-keep'?: string | undefined;
    'log-max-total'?: string | undefined;
  };

function bool(
  flag: boolean | undefined,
  env: string | undefined,
  envName: string,
  fallback: boolean,
): boolean {
  if (flag !== undefined) return flag;
  if (env === undefined || env === '') return fallback;
  const v = env.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${envName} must be 1/true/yes/on or 0/false/no/off (got '${env}')`);
}

export function resolveSuperviseConfig(
  flags: SuperviseFlags,
  env: NodeJS.ProcessEnv,
  command: string[] | undefined,
): SuperviseConfig {
  const serve = resolveServeConfig(flags, env);
  const serveArgs = [
    '--host',
    serve.host,
    '--port',
    String(serve.port),
    '--shutdown-timeout',
    `${serve.shutdownTimeoutMs}ms`,
  ];
  const f = (name: keyof SuperviseFlags & string, envName: string) => ({
    flag: flags[name] as string | undefined,
    env: env[envName],
    flagName: name,
    envName,
  });
  const custom = command && command.length > 0 ? command : undefined;
  const probeUrl = optionalString(f('probe-url', 'ROBBIE_PROBE_URL'));
  if (probeUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(probeUrl);
    } catch {
      throw new UsageError(`--probe-url must be an http:// URL (got '${probeUrl}')`);
    }
    if (url.protocol !== 'http:')
      throw new UsageError(`--probe-url must be an http:// URL (got '${probeUrl}')`);
    if (!custom)
      throw new UsageError(
        '--probe-url is for custom commands (supervise -- CMD …); robbie serve is probed on its own /livez',
      );
  }
  const restart = enumSetting<RestartPolicy>(f('restart', 'ROBBIE_RESTART'), RESTART_POLICIES, 'always');
  const maxSize = sizeSetting(f('log-max-size', 'ROBBIE_LOG_MAX_SIZE'), parseSize('10MiB') as number, 4096);
  const shutdown = serve.shutdownTimeoutMs;
  return {
    paths: resolvePaths(flags, env),
    serve,
    serveArgs,
    childEnv: {
      ROBBIE_HOME: resolvePaths(flags, env).home,
      ...(serve.databaseUrl ? { DATABASE_URL: serve.databaseUrl } : {}),
    },
    command: custom,
    instances: intSetting(f('instances', 'ROBBIE_INSTANCES'), 1, 1, 64),
    standby: custom ? false : bool(flags.standby, env.ROBBIE_STANDBY, 'ROBBIE_STANDBY', true),
    probeUrl,
    probe: {
      intervalMs: durationSetting(f('probe-interval', 'ROBBIE_PROBE_INTERVAL'), 1000, 100),
      timeoutMs: durationSetting(f('probe-timeout', 'ROBBIE_PROBE_TIMEOUT'), 1000, 50),
      failures: intSetting(f('probe-failures', 'ROBBIE_PROBE_FAILURES'), 3, 1, 100),
    },
    startTimeoutMs: durationSetting(f('start-timeout', 'ROBBIE_START_TIMEOUT'), 30_000, 100),
    restartPolicy: restart,
    maxRestarts: intSetting(f('max-restarts', 'ROBBIE_MAX_RESTARTS'), 10, 1, 100_000),
    restartWindowMs: durationSetting(f('restart-window', 'ROBBIE_RESTART_WINDOW'), 60_000, 1000),
    cooldownMs: durationSetting(f('cooldown', 'ROBBIE_COOLDOWN'), 60_000, 100),
    giveUp: bool(flags['give-up'], env.ROBBIE_GIVE_UP, 'ROBBIE_GIVE_UP', false),
    backoffMaxMs: durationSetting(f('backoff-max', 'ROBBIE_BACKOFF_MAX'), 30_000, 100),
    minUptimeMs: durationSetting(f('min-uptime', 'ROBBIE_MIN_UPTIME'), 1000, 0),
    // The supervisor waits for a child's own drain to finish before it escalates to SIGKILL.
    stopTimeoutMs: durationSetting(
      f('stop-timeout', 'ROBBIE_STOP_TIMEOUT'),
      custom ? 10_000 : shutdown + 2000,
      100,
    ),
    alertWebhook: optionalString(f('alert-webhook', 'ROBBIE_ALERT_WEBHOOK')),
    alertDedupeMs: 5 * 60_000,
    logs: {
      maxBytes: maxSize,
      daily: bool(flags['log-rotate-daily'], env.ROBBIE_LOG_ROTATE_DAILY, 'ROBBIE_LOG_ROTATE_DAILY', false),
      keep: intSetting(f('log-keep', 'ROBBIE_LOG_KEEP'), 10, 0, 10_000),
      maxTotalBytes: sizeSetting(
        f('log-max-total', 'ROBBIE_LOG_MAX_TOTAL'),
        parseSize('200MiB') as number,
        0,
      ),
      compress: true,
      mode: 0o640,
    },
  };
}
