import type { ArgsDef } from 'citty';
import { UsageError } from '../errors.ts';

/**
 * citty parses with `strict: false`, so a mistyped flag would be silently ignored. This checks a
 * command's raw arguments against its declared ones first: unknown flags, missing values and
 * stray positional arguments are usage errors (exit 2).
 */
export function checkArgs(commandPath: string, def: ArgsDef, rawArgs: readonly string[]): void {
  const byName = new Map<string, { type?: string | undefined }>();
  let positionals = 0;
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === 'positional') {
      positionals++;
      continue;
    }
    byName.set(name, arg);
    byName.set(camel(name), arg);
    const aliases = 'alias' in arg && arg.alias ? (Array.isArray(arg.alias) ? arg.alias : [arg.alias]) : [];
    for (const a of aliases) byName.set(a, arg);
  }
  const hint = `run 'robbie ${commandPath} --help'`;
  let seenPositionals = 0;
  for (let i = 0; i < rawArgs.length; i++) {
    const raw = rawArgs[i] as string;
    if (raw === '--') break;
    if (raw.startsWith('-') && raw !== '-') {
      const long = raw.startsWith('--');
      const body = raw.slice(long ? 2 : 1);
      const eq = body.indexOf('=');
      const name = eq === -1 ? body : body.slice(0, eq);
      let arg = byName.get(name);
      if (!arg && long && name.startsWith('no-')) {
        const positive = byName.get(name.slice(3));
        if (positive && positive.type === 'boolean' && eq === -1) continue;
      }
      if (!arg)
        throw new UsageError(
          `unknown option '${long ? '--' : '-'}${name}' for 'robbie ${commandPath}' (${hint})`,
        );
      if (arg.type === 'boolean') {
        if (eq !== -1 && !['true', 'false'].includes(body.slice(eq + 1))) {
          throw new UsageError(
            `option '${raw.slice(0, raw.indexOf('='))}' is a switch and takes no value (${hint})`,
          );
        }
        continue;
      }
      if (eq === -1) {
        const next = rawArgs[i + 1];
        if (next === undefined || (next.startsWith('-') && next.length > 1 && !/^-\d/.test(next))) {
          throw new UsageError(`option '${raw}' needs a value (${hint})`);
        }
        i++;
      }
      arg = undefined;
      continue;
    }
    seenPositionals++;
    if (seenPositionals > positionals) {
      throw new UsageError(`unexpected argument '${raw}' for 'robbie ${commandPath}' (${hint})`);
    }
  }
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
