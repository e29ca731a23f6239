import { readFileSync, statSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { UsageError } from '../errors.ts';

/**
 * Inside the single executable, Node scans the command line for `--env-file` before robbie runs:
 * it loads an existing file the same way (the environment wins) and stops at a missing one with its
 * own one-line error. robbie's own reading below covers Node from source and Deno.
 *
 * Loads `KEY=VALUE` lines (the format systemd's EnvironmentFile= reads) into `env`, below the real
 * environment: a variable already set is kept. Warns when the file is readable by others, since it
 * usually holds DATABASE_URL and API keys.
 */
export function applyEnvFile(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): void {
  // ROBBIE_ENV_FILE is the same setting for places that cannot pass flags (launchd's plist).
  const path = flag || env.ROBBIE_ENV_FILE;
  if (!path) return;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read --env-file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  try {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) {
      process.stderr.write(
        `robbie: warning: ${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path}\n`,
      );
    }
  } catch {
    // read above succeeded; a stat failure changes nothing
  }
  for (const [key, value] of Object.entries(parseEnv(text))) {
    if (env[key] === undefined) env[key] = value;
  }
}
