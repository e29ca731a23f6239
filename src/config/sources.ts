/**
 * Where settings come from. A command's sources are one list, highest first: its flags, its
 * environment, the running supervisor, the env file, the installed unit. Resolution walks the list
 * once per setting and takes the first source that has it; the source is the value's origin.
 */
import type { EnvFile } from './env-file.ts';
import { envName, hasFlag, type Key, STARTED_WITH } from './settings.ts';

/** Flags as parsed: strings, and booleans for switches. */
export type Flags = Readonly<Record<string, unknown>>;

type Vars = Readonly<Record<string, string | undefined>>;

export type Source =
  | { kind: 'flags'; flags: Flags }
  /** `started`: where `robbie start` got each variable it handed this process in its environment. */
  | { kind: 'env'; vars: Vars; started?: ReadonlyMap<string, string> }
  | { kind: 'file'; path: string; entries: EnvFile['entries'] }
  /** The settings a running supervisor says it was given, and where it was given each. */
  | { kind: 'supervisor'; pid: number; vars: Vars; given: ReadonlyMap<string, string> };

export type Origin =
  | { from: 'flag' }
  | { from: 'env' }
  | { from: 'start'; given: string }
  | { from: 'file'; path: string; line?: number | undefined }
  | { from: 'supervisor'; pid: number; given?: string | undefined }
  | { from: 'default' };

function startedWith(vars: Vars): ReadonlyMap<string, string> | undefined {
  const text = vars[STARTED_WITH];
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object') return undefined;
    return new Map(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return undefined;
  }
}

export const fromFlags = (flags: Flags): Source => ({ kind: 'flags', flags });
export const fromEnv = (vars: Vars): Source => ({ kind: 'env', vars, started: startedWith(vars) });

export const fromFile = (file: EnvFile): Source => ({ kind: 'file', path: file.path, entries: file.entries });
/** Variables with no file of their own (a unit's Environment= lines): shown as `path`. */
export const fromVars = (path: string, vars: Vars): Source => ({
  kind: 'file',
  path,
  entries: new Map(
    Object.entries(vars).flatMap(([name, value]) =>
      value === undefined ? [] : [[name, { value, line: 0 }]],
    ),
  ),
});
export const fromSupervisor = (
  pid: number,
  vars: Vars,
  given: Readonly<Record<string, string>> = {},
): Source => ({
  kind: 'supervisor',
  pid,
  vars,
  given: new Map(Object.entries(given)),
});

/** The variable `name` as `source` sets it, and the origin that names it; flags set none. */
export function variableIn(source: Source, name: string): { value: string; origin: Origin } | undefined {
  switch (source.kind) {
    case 'flags':
      return undefined;
    case 'env': {
      const value = source.vars[name];
      if (value === undefined) return undefined;
      const given = source.started?.get(name);
      return { value, origin: given ? { from: 'start', given } : { from: 'env' } };
    }
    case 'file': {
      const entry = source.entries.get(name);
      return entry && { value: entry.value, origin: { from: 'file', path: source.path, line: entry.line } };
    }
    case 'supervisor': {
      const value = source.vars[name];
      return value === undefined
        ? undefined
        : { value, origin: { from: 'supervisor', pid: source.pid, given: source.given.get(name) } };
    }
  }
}

/**
 * The value `source` gives `key` as written (a switch's as a boolean) and its origin; undefined
 * when it gives none (an empty variable gives none).
 */
export function settingIn(source: Source, key: Key): { text: string | boolean; origin: Origin } | undefined {
  if (source.kind === 'flags') {
    const flag = hasFlag(key) ? source.flags[key] : undefined;
    return typeof flag === 'string' || typeof flag === 'boolean'
      ? { text: flag, origin: { from: 'flag' } }
      : undefined;
  }
  const found = variableIn(source, envName(key));
  return found && found.value !== '' ? { text: found.value, origin: found.origin } : undefined;
}

function names(source: Source): Iterable<string> {
  switch (source.kind) {
    case 'flags':
      return [];
    case 'file':
      return source.entries.keys();
    default:
      return Object.keys(source.vars);
  }
}

/**
 * Every variable of the sources as the first that sets it gives it, with its origin: the
 * environment a setting that names a variable (a provider's `api_key_env`) reads.
 */
export function variablesOf(sources: readonly Source[]): Map<string, { value: string; origin: Origin }> {
  const out = new Map<string, { value: string; origin: Origin }>();
  for (const source of sources) {
    for (const name of names(source)) {
      if (out.has(name)) continue;
      const found = variableIn(source, name);
      if (found) out.set(name, found);
    }
  }
  return out;
}
