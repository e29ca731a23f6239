/**
 * The directories robbie keeps its own files in (state, logs): prompts, answers and keys' usage
 * live there. Created 0700 whatever the umask; an existing state directory that other users may
 * write to is refused, since they could swap the database, the socket or the lock under robbie.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { ConfigError, UserError } from './errors.ts';
import { describeFsError } from './fs-errors.ts';

/** Creates `dir` (and missing parents) 0700; refuses an existing one writable by group or others. */
export function privateDir(dir: string, what: string, refuseShared = true): void {
  let created: string | undefined;
  try {
    created = mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    // Worded so that no path (say /etc/passwd) reads as "name: value" to the log redaction.
    throw new UserError(`the ${what} ${dir} cannot be created (${describeFsError(err)})`);
  }
  if (created !== undefined) {
    // mkdir's mode passes through the umask: say it again, so 0700 it is.
    chmodSync(dir, 0o700);
    return;
  }
  if (!refuseShared) return;
  const mode = statSync(dir).mode;
  if ((mode & 0o022) !== 0) {
    const octal = (mode & 0o7777).toString(8).padStart(4, '0');
    throw new ConfigError(
      `the ${what} ${dir} is writable by other users (mode ${octal}): run chmod go-w on it, or choose another --home`,
    );
  }
}
