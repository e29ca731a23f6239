import { type AlertSettings, alertSettings } from '../alerts/from-settings.ts';
import { handedOrigins, handOver } from '../config/hand-over.ts';
import { type Paths, resolvePaths } from '../config/paths.ts';
import { type Resolved, settingError } from '../config/resolve.ts';
import type { RESTART_POLICIES } from '../config/settings.ts';
import { type ServeConfig, serveConfig } from '../server/serve-config.ts';
import type { RotationOptions } from './output/rotating-file.ts';

export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export interface SuperviseConfig {
  paths: Paths;
  serve: ServeConfig;
  /**
   * What every child gets on top of the supervisor's environment: each `serve`, `paths` and
   * `process` setting that was given, as it was written, and the state directory.
   */
  childEnv: Record<string, string>;
  /** The variables its env file added (settings or not), handed to every child. */
  fileEnv: Record<string, string>;
  /** Every setting given, as written, and where from: what `robbie config` and the other commands are told it runs with. */
  given: { env: Record<string, string>; origins: Record<string, string> };
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
  alerts: AlertSettings;
  logs: RotationOptions;
}

/** The supervisor's configuration; `s` was resolved with `custom` set when `command` is given. */
export function superviseConfig(s: Resolved, command: string[] | undefined): SuperviseConfig {
  const v = s.values;
  const custom = command && command.length > 0 ? command : undefined;
  if (v['probe-url'] !== undefined && !custom) {
    throw settingError(
      'probe-url',
      s.origins['probe-url'],
      'is for custom commands (supervise -- CMD …); robbie serve is probed on its own /livez',
    );
  }
  const paths = resolvePaths(v);
  return {
    paths,
    serve: serveConfig(s),
    // The env file's other variables (a provider's key) too: the children do not read it again.
    childEnv: { ...s.fileEnv, ...handOver(s, ['paths', 'serve', 'process']), ROBBIE_HOME: paths.home },
    fileEnv: s.fileEnv,
    given: {
      env: handOver(s, ['paths', 'serve', 'supervise', 'process']),
      origins: handedOrigins(s, ['paths', 'serve', 'supervise', 'process']),
    },
    command: custom,
    instances: v.instances,
    // The warm spare is a booted `robbie serve`: a command of the user's has none.
    standby: custom ? false : v.standby,
    probeUrl: v['probe-url'],
    probe: {
      intervalMs: v['probe-interval'],
      timeoutMs: v['probe-timeout'],
      failures: v['probe-failures'],
    },
    startTimeoutMs: v['start-timeout'],
    restartPolicy: v.restart,
    maxRestarts: v['max-restarts'],
    restartWindowMs: v['restart-window'],
    cooldownMs: v.cooldown,
    giveUp: v['give-up'],
    backoffMaxMs: v['backoff-max'],
    minUptimeMs: v['min-uptime'],
    // The supervisor waits for a child's own drain to finish before it escalates to SIGKILL.
    stopTimeoutMs: v['stop-timeout'],
    alerts: alertSettings(s),
    logs: {
      maxBytes: v['log-max-size'],
      daily: v['log-rotate-daily'],
      keep: v['log-keep'],
      maxTotalBytes: v['log-max-total'],
      compress: true,
      mode: 0o600,
    },
  };
}
