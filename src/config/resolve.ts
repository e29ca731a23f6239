/**
 * Resolves the settings table from one ordered list of sources (`sources.ts`): for each setting,
 * the first source that has it, else its default; and remembers where each value came from. A
 * wrong value is one line naming its source and what is accepted: exit 2 from a flag (a usage
 * mistake), exit 78 from the environment or a file (a configuration the service units do not
 * restart on).
 */
import { ConfigError, UsageError } from '../errors.ts';
import { type DefaultContext, envName, KEYS, type Key, settingOf, type Values } from './settings.ts';
import { type Origin, type Source, settingIn, variablesOf } from './sources.ts';

export type { Flags, Origin, Source } from './sources.ts';

export interface Resolved {
  values: Values;
  /**
   * Every variable of the sources, the highest source's where several set one: where a variable a
   * setting names (a provider's `api_key_env`) is looked up. The process's own environment is
   * never changed.
   */
  env: Readonly<Record<string, string | undefined>>;
  /**
   * The variables the env files added below the environment (a provider's key included): what a
   * process this one starts is handed besides the settings, as the file is read once.
   */
  fileEnv: Record<string, string>;
  origins: Record<Key, Origin>;
  /** Each value as it was written (none for defaults): what children are handed. */
  raw: Partial<Record<Key, string>>;
}

/** `--max-body`, `ROBBIE_MAX_BODY (environment)`, `ROBBIE_MAX_BODY (/etc/robbie/robbie.env line 3)`. */
export function describeOrigin(key: Key, origin: Origin): string {
  switch (origin.from) {
    case 'flag':
      return `--${key}`;
    case 'env':
      return `${envName(key)} (environment)`;
    case 'default':
      return `${envName(key)} (default)`;
    default:
      return `${envName(key)} (${where(origin)})`;
  }
}

/** Where a variable was set: `environment`, `/etc/robbie/robbie.env line 3`, `the running supervisor, pid 12`. */
export function where(origin: Origin): string {
  switch (origin.from) {
    case 'file':
      return `${origin.path}${origin.line ? ` line ${origin.line}` : ''}`;
    case 'supervisor':
      return `the running supervisor, pid ${origin.pid}`;
    case 'start':
      return `given to robbie start: ${origin.given}`;
    default:
      return 'environment';
  }
}

/** An origin as `robbie config` shows it: `flag --port`, `env PORT`, `file /etc/robbie/robbie.env:3`. */
export function originText(key: Key, origin: Origin): string {
  switch (origin.from) {
    case 'flag':
      return `flag --${key}`;
    case 'env':
      return `env ${envName(key)}`;
    case 'file':
      return `file ${origin.path}${origin.line ? `:${origin.line}` : ''}`;
    case 'supervisor':
      return `running supervisor (pid ${origin.pid})${origin.given ? `: ${origin.given}` : ''}`;
    case 'start':
      return `${origin.given} (given to robbie start)`;
    default:
      return 'default';
  }
}

/** The error for a value of `key` that cannot be used: exit 2 from a flag, 78 otherwise. */
export function settingError(key: Key, origin: Origin, problem: string): UsageError | ConfigError {
  const message = `${describeOrigin(key, origin)} ${problem}`;
  return origin.from === 'flag' ? new UsageError(message) : new ConfigError(message);
}

function refused(key: Key, origin: Origin, raw: string): UsageError | ConfigError {
  const s = settingOf(key);
  // A secret's value is never echoed, not even a wrong one.
  return settingError(key, origin, `must be ${s.codec.accepts}${s.secret ? '' : ` (got '${raw}')`}`);
}

function firstSetting(sources: readonly Source[], key: Key): ReturnType<typeof settingIn> {
  for (const source of sources) {
    const found = settingIn(source, key);
    if (found) return found;
  }
  return undefined;
}

/** Resolves `keys` (all by default) from `sources`, highest first. */
export function resolveSettings(
  sources: readonly Source[],
  ctx: DefaultContext = { custom: false },
  keys: readonly Key[] = KEYS,
): Resolved {
  const values: Partial<Record<Key, unknown>> = {};
  const origins: Partial<Record<Key, Origin>> = {};
  const raw: Partial<Record<Key, string>> = {};
  const done = new Set<Key>();

  const get = (key: Key): unknown => {
    if (done.has(key)) return values[key];
    const s = settingOf(key);
    const found = firstSetting(sources, key);
    let value: unknown;
    if (found === undefined) {
      value =
        typeof s.default === 'function'
          ? (s.default as (g: (k: string) => unknown, c: DefaultContext) => unknown)(
              (k) => get(k as Key),
              ctx,
            )
          : s.default;
    } else if (typeof found.text === 'boolean') {
      value = found.text;
    } else {
      if (found.origin.from === 'flag' && found.text.trim() === '')
        throw new UsageError(`--${key} needs a value`);
      value = s.codec.parse(found.text);
      if (value === undefined) throw refused(key, found.origin, found.text);
    }
    if (found !== undefined) raw[key] = String(found.text);
    values[key] = value;
    origins[key] = found?.origin ?? { from: 'default' };
    done.add(key);
    return value;
  };
  for (const key of keys) get(key);

  const variables = variablesOf(sources);
  const env: Record<string, string> = {};
  const fileEnv: Record<string, string> = {};
  for (const [name, { value, origin }] of variables) {
    env[name] = value;
    if (origin.from === 'file') fileEnv[name] = value;
  }
  return { values: values as Values, origins: origins as Record<Key, Origin>, raw, env, fileEnv };
}
