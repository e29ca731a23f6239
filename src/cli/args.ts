import type { ArgsDef } from 'citty';

/** Flags of `serve`, shared by `supervise` and `start`, which pass them on to their children. */
export const serveArgs = {
  host: {
    type: 'string',
    description: 'Address to listen on (env HOST; default 127.0.0.1)',
    valueHint: 'addr',
  },
  port: { type: 'string', description: 'Port to listen on (env PORT; default 8000)', valueHint: 'n' },
  'shutdown-timeout': {
    type: 'string',
    description: 'How long in-flight requests may take to finish on SIGTERM (default 10s)',
    valueHint: 'duration',
  },
  'env-file': {
    type: 'string',
    description: 'Read KEY=VALUE settings from this file (env ROBBIE_ENV_FILE; the environment wins over it)',
    valueHint: 'path',
  },
  home: { type: 'string', description: 'State directory (env ROBBIE_HOME)', valueHint: 'dir' },
  'database-url': {
    type: 'string',
    description: 'PostgreSQL URL (env DATABASE_URL; default: the embedded SQLite store)',
    valueHint: 'url',
  },
  retention: {
    type: 'string',
    description: 'Purge request logs older than this (env ROBBIE_RETENTION; default 90d)',
    valueHint: 'duration',
  },
  'max-body': {
    type: 'string',
    description: 'Largest request body accepted (env ROBBIE_MAX_BODY; default 1MiB)',
    valueHint: 'size',
  },
} as const satisfies ArgsDef;

/** Where the state and logs are: every command that talks to or reads from a supervisor takes these. */
export const pathArgs = {
  home: { type: 'string', description: 'State directory (env ROBBIE_HOME)', valueHint: 'dir' },
  'log-dir': {
    type: 'string',
    description: 'Log directory (env ROBBIE_LOG_DIR; default <home>/logs)',
    valueHint: 'dir',
  },
} as const satisfies ArgsDef;

/** Flags of `supervise` (and `start`, which runs it in the background). */
export const superviseArgs = {
  ...serveArgs,
  ...pathArgs,
  instances: {
    type: 'string',
    description: 'Children sharing the port (env ROBBIE_INSTANCES; default 1)',
    valueHint: 'n',
  },
  standby: {
    type: 'boolean',
    description: 'Keep a booted spare ready to take over at once (built-in child; default on)',
    negativeDescription: 'No warm spare',
  },
  'probe-url': {
    type: 'string',
    description: 'For `-- CMD`: URL to probe for liveness (default: no probing)',
    valueHint: 'url',
  },
  'probe-interval': {
    type: 'string',
    description: 'Liveness probe interval (default 1s)',
    valueHint: 'duration',
  },
  'probe-timeout': {
    type: 'string',
    description: 'Liveness probe timeout (default 1s)',
    valueHint: 'duration',
  },
  'probe-failures': {
    type: 'string',
    description: 'Failed probes in a row that mean hung (default 3)',
    valueHint: 'n',
  },
  'start-timeout': {
    type: 'string',
    description: 'Time a child has to become ready (default 30s)',
    valueHint: 'duration',
  },
  restart: {
    type: 'string',
    description: 'Restart policy: always, on-failure or never (default always)',
    valueHint: 'policy',
  },
  'max-restarts': {
    type: 'string',
    description: 'Restarts allowed within --restart-window (default 10)',
    valueHint: 'n',
  },
  'restart-window': {
    type: 'string',
    description: 'Window for --max-restarts (default 60s)',
    valueHint: 'duration',
  },
  cooldown: {
    type: 'string',
    description: 'Pause after the restart limit trips (default 60s)',
    valueHint: 'duration',
  },
  'give-up': {
    type: 'boolean',
    description: 'Exit non-zero instead of cooling down, so systemd/launchd take over',
  },
  'backoff-max': {
    type: 'string',
    description: 'Longest delay between restarts (default 30s)',
    valueHint: 'duration',
  },
  'min-uptime': {
    type: 'string',
    description:
      'A child failing sooner than this after it became ready failed to start: backoff applies (default 1s)',
    valueHint: 'duration',
  },
  'stop-timeout': {
    type: 'string',
    description: 'SIGTERM to SIGKILL delay when stopping a child (default: shutdown timeout + 2s)',
    valueHint: 'duration',
  },
  'alert-webhook': {
    type: 'string',
    description: 'URL receiving JSON alerts (env ROBBIE_ALERT_WEBHOOK)',
    valueHint: 'url',
  },
  'log-max-size': {
    type: 'string',
    description: 'Rotate robbie.log at this size (default 10MiB)',
    valueHint: 'size',
  },
  'log-rotate-daily': { type: 'boolean', description: 'Also rotate at midnight' },
  'log-keep': { type: 'string', description: 'Rotated files kept (default 10)', valueHint: 'n' },
  'log-max-total': {
    type: 'string',
    description: 'Cap on all log files together (default 200MiB)',
    valueHint: 'size',
  },
} as const satisfies ArgsDef;
