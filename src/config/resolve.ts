/**
 * Resolves the settings table with one precedence everywhere — flags, then the environment, then
 * the env file, then the defaults — and remembers where each value came from. A wrong value is one
 * line naming its source and what is accepted: exit 2 from a flag (a usage mistake), exit 78 from
 * the environment or a file (a configuration the service units do not restart on).
 */
import { ConfigError, UsageError } from '../errors.ts';
import { maskedUrl, registerSecret } from '../logger/redact.ts';
import type { EnvFile } from './env-file.ts';
import {
  type DefaultContext,
  envName,
  hasFlag,
  INTERNAL_ENV,
  KEYS,
  type Key,
  type Scope,
  settingOf,
  type Values,
} from './settings.ts';

export type Origin =
  | { from: 'flag' }
  | { from: 'env' }
  | { from: 'file'; path: string; line?: number | undefined }
  | { from: 'supervisor'; pid: number; given?: string | undefined }
  | { from: 'default' };

/** Flags as parsed: strings, and booleans for switches. */
export type Flags = Readonly<Record<string, unknown>>;

export interface Sources {
  flags: Flags;
  /** The environment, with the env file's values already merged below it. */
  env: NodeJS.ProcessEnv;
  /** The files those values came from (env file, service unit), to tell them from the real environment. */
  files?: readonly EnvFile[];
  /** The variables the env files added below the environment (settings or not). */
  fileEnv?: Record<string, string>;
}

export interface Resolved {
  values: Values;
  /**
   * The environment the settings were read from, the env files' values below the process's: where
   * a variable a setting names (a provider's `api_key_env`) is looked up. The process's own
   * environment is never changed.
   */
  env: Readonly<NodeJS.ProcessEnv>;
  /**
   * The variables an env file added (a provider's key included): what a process this one starts
   * is handed besides the settings, as the file is read once.
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
    case 'file':
      return `${envName(key)} (${origin.path}${origin.line ? ` line ${origin.line}` : ''})`;
    case 'supervisor':
      return `${envName(key)} (the running supervisor, pid ${origin.pid})`;
    default:
      return `${envName(key)} (default)`;
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

function envOrigin(name: string, value: string, files: readonly EnvFile[]): Origin {
  for (const file of files) {
    const entry = file.entries.get(name);
    if (!entry || entry.value !== value) continue;
    return file.supervisorPid === undefined
      ? { from: 'file', path: file.path, line: entry.line }
      : { from: 'supervisor', pid: file.supervisorPid, given: file.origins?.get(name) };
  }
  return { from: 'env' };
}

export function resolveSettings(
  src: Sources,
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
    const flag = hasFlag(key) ? src.flags[key] : undefined;
    const env = src.env[envName(key)];
    let value: unknown;
    let origin: Origin = { from: 'default' };
    if (typeof flag === 'boolean') {
      origin = { from: 'flag' };
      raw[key] = String(flag);
      value = flag;
    } else if (typeof flag === 'string') {
      origin = { from: 'flag' };
      if (flag.trim() === '') throw new UsageError(`--${key} needs a value`);
      value = s.codec.parse(flag);
      if (value === undefined) throw refused(key, origin, flag);
      raw[key] = flag;
    } else if (env !== undefined && env !== '') {
      origin = envOrigin(envName(key), env, src.files ?? []);
      value = s.codec.parse(env);
      if (value === undefined) throw refused(key, origin, env);
      raw[key] = env;
    } else if (typeof s.default === 'function') {
      value = (s.default as (g: (k: string) => unknown, c: DefaultContext) => unknown)(
        (k) => get(k as Key),
        ctx,
      );
    } else {
      value = s.default;
    }
    values[key] = value;
    origins[key] = origin;
    done.add(key);
    return value;
  };
  for (const key of keys) get(key);
  return {
    values: values as Values,
    origins: origins as Record<Key, Origin>,
    raw,
    env: src.env,
    fileEnv: src.fileEnv ?? {},
  };
}

/** Where each setting `handOver` hands over came from, as `robbie config` shows an origin. */
export function handedOrigins(resolved: Resolved, scopes: readonly Scope[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of KEYS) {
    if (key === 'env-file' || resolved.raw[key] === undefined || !scopes.includes(settingOf(key).scope))
      continue;
    out[envName(key)] = originText(key, resolved.origins[key]);
  }
  return out;
}

/**
 * The environment that hands every setting of `scopes` that was not left at its default to another
 * robbie process (a supervised child, the background supervisor), as it was written. The one way
 * settings reach another process: nothing goes on its command line, where `ps` shows it.
 */
export function handOver(resolved: Resolved, scopes: readonly Scope[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of KEYS) {
    const text = resolved.raw[key];
    // The env file's values are in the environment already; reading it again would only repeat its warnings.
    if (key === 'env-file' || text === undefined || !scopes.includes(settingOf(key).scope)) continue;
    env[envName(key)] = text;
  }
  return env;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j] as number;
      row[j] = Math.min(here + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return row[b.length] as number;
}

/** The known name closest to `name`, when it is close enough to be a likely misspelling. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestDistance || (d === bestDistance && best && k.length < best.length)) {
      best = k;
      bestDistance = d;
    }
  }
  // A shared prefix also counts: ROBBIE_STANDBY_SPARE is ROBBIE_STANDBY with a word too many.
  const prefixed = known.filter((k) => name.startsWith(`${k}_`)).sort((x, y) => y.length - x.length)[0];
  if (prefixed) return prefixed;
  return best && bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

/** One warning per `ROBBIE_*` variable that is no setting, naming the closest known one. */
export function unknownSettings(env: NodeJS.ProcessEnv, files: readonly EnvFile[]): string[] {
  const known = KEYS.map(envName);
  const internal: readonly string[] = INTERNAL_ENV;
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('ROBBIE_') || known.includes(name) || internal.includes(name)) continue;
    const origin = envOrigin(name, env[name] ?? '', files);
    const where =
      origin.from === 'file'
        ? `${origin.path}${origin.line ? ` line ${origin.line}` : ''}`
        : origin.from === 'supervisor'
          ? `the running supervisor, pid ${origin.pid}`
          : 'environment';
    // ROBBIE_PORT, ROBBIE_DATABASE_URL: a conventional name with the prefix added.
    const bare = name.slice('ROBBIE_'.length);
    const guess = known.includes(bare) ? bare : closest(name, known);
    warnings.push(
      `unknown setting ${name} (${where}) is ignored${guess ? `; did you mean ${guess}?` : ''} (robbie config lists them all)`,
    );
  }
  return warnings;
}

export interface SettingView {
  /** As `robbie config` shows it: secrets hidden, unset as null. */
  value: string | number | boolean | string[] | null;
  env: string;
  /** `default`, `flag --max-body`, `env ROBBIE_MAX_BODY`, `file /etc/robbie/robbie.env:3`, `running supervisor (pid 12)`. */
  origin: string;
}

function originText(key: Key, origin: Origin): string {
  switch (origin.from) {
    case 'flag':
      return `flag --${key}`;
    case 'env':
      return `env ${envName(key)}`;
    case 'file':
      return `file ${origin.path}${origin.line ? `:${origin.line}` : ''}`;
    case 'supervisor':
      return `running supervisor (pid ${origin.pid})${origin.given ? `: ${origin.given}` : ''}`;
    default:
      return 'default';
  }
}

/** A URL's password and query values: what a URL setting may carry that is nobody's business. */
function urlCredentials(url: string): string[] {
  try {
    const u = new URL(url);
    return [decodeURIComponent(u.password), ...[...u.searchParams.values()]].filter((v) => v.length >= 4);
  } catch {
    return [];
  }
}

/** A URL as shown: its user, password and query hidden when it has them. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password && !u.search) return url;
    return `${u.protocol}//${u.username || u.password ? '***@' : ''}${u.host}${u.pathname === '/' ? '' : u.pathname}${u.search ? '?***' : ''}`;
  } catch {
    return url;
  }
}

/** Every setting (or only those given, not defaulted) as it may be shown: secrets never. */
export function viewSettings(resolved: Resolved, onlyGiven = false): Record<string, SettingView> {
  const out: Record<string, SettingView> = {};
  for (const key of KEYS) {
    const origin = resolved.origins[key];
    if (!origin || (onlyGiven && origin.from === 'default')) continue;
    const s = settingOf(key);
    const value = resolved.values[key] as unknown;
    let shown: SettingView['value'];
    if (value === undefined) shown = null;
    else if (s.secret) shown = s.kind === 'url' ? `${maskedUrl(String(value))} (hidden)` : 'set (hidden)';
    else if (s.kind === 'url') shown = withoutCredentials(String(value));
    else if (typeof value === 'number' && (s.kind === 'duration' || s.kind === 'size'))
      shown = s.codec.format(value);
    else if (typeof value === 'object' && !Array.isArray(value)) shown = s.codec.format(value);
    else shown = value as SettingView['value'];
    out[key] = { value: shown, env: envName(key), origin: originText(key, origin) };
  }
  return out;
}

/**
 * Every secret setting's value is masked wherever it would appear in a log line or a message: the
 * keys themselves, and the password of a secret URL (DATABASE_URL, ROBBIE_SMTP_URL).
 */
export function registerSettingSecrets(resolved: Resolved): void {
  for (const key of KEYS) {
    const s = settingOf(key);
    const value = resolved.values[key] as unknown;
    if (s.kind === 'url' && !s.secret && value !== undefined) {
      // A URL setting that is no secret may still carry credentials (http://user:pass@host).
      for (const part of urlCredentials(String(value))) registerSecret(part);
      continue;
    }
    if (!s.secret || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) registerSecret(String(v));
    else if (s.kind === 'url') {
      try {
        registerSecret(decodeURIComponent(new URL(String(value)).password));
      } catch {
        // not a URL: refused by its codec already
      }
    } else registerSecret(String(value));
  }
}
