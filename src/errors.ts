/** Errors a user can cause. The CLI prints their message on one line, never a stack trace. */

/** A mistake on the command line (unknown command or flag, bad value): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = 2;
}

/**
 * A configuration that cannot work (bad environment value, unsafe listen address): exit code 78
 * (EX_CONFIG), which the service units and the supervisor treat as "do not restart".
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly exitCode = 78;
}

/** Anything else the user should act on (nothing running, permission denied): exit code 1. */
export class UserError extends Error {
  override name = 'UserError';
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export type KnownError = UsageError | ConfigError | UserError;

export function isKnownError(err: unknown): err is KnownError {
  return err instanceof UsageError || err instanceof ConfigError || err instanceof UserError;
}
