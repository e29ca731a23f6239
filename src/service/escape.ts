/**
 * Quoting for each format a value can land in. Paths and values with spaces, quotes or `%` must
 * survive systemd's unit parser, its EnvironmentFile parser, launchd's XML, and robbie's own
 * --env-file reader.
 */
import { UsageError } from '../errors.ts';

/** A value that would end its line, or hide in it: refused, never written into a unit. */
function refuseControl(what: string, value: string): void {
  if (/\p{Cc}/u.test(value))
    throw new UsageError(
      `${what} with a line break or control character cannot go into a unit file: ${JSON.stringify(value)}`,
    );
}

/** One word of a systemd ExecStart= line: quoted when needed; `%` and `$` escaped (specifiers, variables). */
export function systemdWord(arg: string): string {
  refuseControl('an argument', arg);
  const needsQuotes = arg === '' || /[\s"'\\;]/.test(arg);
  const quoted = needsQuotes ? `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : arg;
  return quoted.replace(/%/g, '%%').replace(/\$/g, '$$$$');
}

/** A value of a unit directive that takes a path (EnvironmentFile=, WorkingDirectory=). */
export function systemdPath(path: string): string {
  refuseControl('a path', path);
  return path.replace(/%/g, '%%');
}

/**
 * A path in a directive that takes a space-separated list (ReadWritePaths=): quoted, or a path with
 * a space would be read as two and ignored.
 */
export function systemdListedPath(path: string): string {
  refuseControl('a path', path);
  return `"${path.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`;
}

/** One `Environment=` assignment, quoted as a whole; `%` escaped unless specifiers are meant. */
export function systemdAssignment(key: string, value: string, specifiers = false): string {
  refuseControl(`the value of ${key}`, value);
  const text = `${key}=${value}`;
  const quoted = `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return specifiers ? quoted : quoted.replace(/%/g, '%%');
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * One line of an env file read by both systemd (EnvironmentFile=) and robbie (--env-file): single
 * quotes are literal in both, double quotes when the value holds a single quote.
 */
export function envFileLine(key: string, value: string): string {
  if (!KEY.test(key)) throw new UsageError(`'${key}' is not a valid environment variable name`);
  if (/[\n\r\0]/.test(value))
    throw new UsageError(`the value of ${key} contains a line break, which an env file cannot hold`);
  if (!value.includes("'")) return `${key}='${value}'`;
  if (!/["\\$`]/.test(value)) return `${key}="${value}"`;
  throw new UsageError(`the value of ${key} mixes quote characters that systemd and robbie read differently`);
}

export function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
