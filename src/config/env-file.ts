import { readFileSync, statSync } from 'node:fs';
import { parseEnv } from 'node:util';

/**
 * An env file: `KEY=VALUE` lines, the format systemd's EnvironmentFile= reads, with the line each
 * key was set on (so a wrong value can be reported as "file line N").
 *
 * Inside the single executable, Node scans the command line for `--env-file` before robbie runs:
 * it loads an existing file the same way (the environment wins) and stops at a missing one with its
 * own one-line error. robbie's own reading below covers Node from source and Deno, and gives the
 * lines.
 */
export interface EnvFile {
  path: string;
  entries: Map<string, { value: string; line: number }>;
}

/** Why a file could not be read, as an errno code. */
export class EnvFileError extends Error {
  readonly code: string;
  constructor(path: string, code: string) {
    super(`cannot read ${path}: ${code}`);
    this.code = code;
  }
}

/** Reads and parses an env file; warns when anyone can read it, since it holds DATABASE_URL and keys. */
export function readEnvFile(path: string, warn: (line: string) => void): EnvFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new EnvFileError(path, (err as NodeJS.ErrnoException).code ?? 'EIO');
  }
  try {
    // Group-readable is how a service's own user reads it (install-service --create-user).
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o007) {
      warn(
        `${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path}`,
      );
    }
  } catch {
    // read above succeeded; a stat failure changes nothing
  }
  // parseEnv gives the values (quotes, escapes, multi-line); the line of the last assignment of
  // each key (the one parseEnv keeps) is looked up separately, as parseEnv does not report it.
  const lines = new Map<string, number>();
  text.split('\n').forEach((line, i) => {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=/.exec(line);
    if (m) lines.set(m[1] as string, i + 1);
  });
  const entries = new Map<string, { value: string; line: number }>();
  for (const [key, value] of Object.entries(parseEnv(text))) {
    entries.set(key, { value: value ?? '', line: lines.get(key) ?? 0 });
  }
  return { path, entries };
}
