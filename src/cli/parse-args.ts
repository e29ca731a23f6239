/**
 * One parser for every command line: node:util `parseArgs` in strict mode, driven by a command's
 * citty argument definitions (citty stays the framework for commands and their help). Unknown
 * flags, missing values and stray arguments are one-line usage errors (exit 2); a repeated flag
 * keeps its last value, and every value is kept for flags a command takes more than once.
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import type { ArgsDef } from 'citty';
import { closest } from '../config/unknown-settings.ts';
import { UsageError } from '../errors.ts';

export type ParsedFlags = Record<string, string | boolean | string[]> & { _: string[] };

export interface CommandLine {
  args: ParsedFlags;
  /** Every value of each string flag, in order (`--env A=1 --env B=2`). */
  lists: Record<string, string[]>;
}

/** What the CLI hands each command besides its flags. */
export interface CommandData {
  /** Arguments after `--`, untouched (`supervise -- CMD ARGS…`). */
  passthrough: string[];
  lists: Record<string, string[]>;
}

export function commandData(data: unknown): CommandData {
  const d = (data ?? {}) as Partial<CommandData>;
  return { passthrough: d.passthrough ?? [], lists: d.lists ?? {} };
}

export function parseCommandLine(commandPath: string, def: ArgsDef, argv: string[]): CommandLine {
  const options: ParseArgsOptionsConfig = {};
  const positionalNames: string[] = [];
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === 'positional') {
      positionalNames.push(name);
      continue;
    }
    const aliases = 'alias' in arg && arg.alias ? [arg.alias].flat() : [];
    const short = aliases.find((a) => a.length === 1);
    if (arg.type === 'boolean') {
      options[name] = { type: 'boolean', ...(short ? { short } : {}) };
      options[`no-${name}`] = { type: 'boolean' };
    } else {
      options[name] = { type: 'string', multiple: true, ...(short ? { short } : {}) };
    }
  }
  const hint = `run 'robbie ${commandPath} --help'`;
  let tokens: NonNullable<ReturnType<typeof parseArgs>['tokens']>;
  try {
    tokens =
      parseArgs({ args: argv, options, strict: true, allowPositionals: true, tokens: true }).tokens ?? [];
  } catch (err) {
    throw usageError(err, commandPath, Object.keys(options), hint);
  }
  const args: ParsedFlags = { _: [] };
  const lists: Record<string, string[]> = {};
  for (const t of tokens) {
    if (t.kind === 'positional') {
      if (args._.length >= positionalNames.length)
        throw new UsageError(`unexpected argument '${t.value}' for 'robbie ${commandPath}' (${hint})`);
      args[positionalNames[args._.length] as string] = t.value;
      args._.push(t.value);
    } else if (t.kind === 'option') {
      const positive = t.name.startsWith('no-') && def[t.name.slice(3)]?.type === 'boolean';
      if (positive) args[t.name.slice(3)] = false;
      else if (t.value === undefined) args[t.name] = true;
      else {
        args[t.name] = t.value;
        lists[t.name] = [...(lists[t.name] ?? []), t.value];
      }
    }
  }
  return { args, lists };
}

function usageError(err: unknown, commandPath: string, names: string[], hint: string): Error {
  const e = err as NodeJS.ErrnoException;
  const option = /'(-[^',\s]+)/.exec(e.message ?? '')?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const guess = option.startsWith('--') ? closest(option.slice(2), names) : undefined;
      return new UsageError(
        `unknown option '${option}' for 'robbie ${commandPath}' (${guess ? `did you mean --${guess}? ` : ''}${hint})`,
      );
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(e.message))
        return new UsageError(`option '${option}' is a switch and takes no value (${hint})`);
      if (/ambiguous/.test(e.message))
        return new UsageError(
          `option '${option}' needs a value (a value starting with '-' is written ${option}=-1)`,
        );
      return new UsageError(`option '${option}' needs a value (${hint})`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument for 'robbie ${commandPath}' (${hint})`);
    default:
      return err instanceof Error ? err : new Error(String(err));
  }
}

/** The flags a command line gave. */
export function givenFlags(args: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(args).filter((k) => k !== '_' && args[k] !== undefined);
}
