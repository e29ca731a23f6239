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
} as const satisfies ArgsDef;
