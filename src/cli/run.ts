import { type ArgsDef, type CommandContext, type CommandDef, renderUsage } from 'citty';
import { boolCodec } from '../config/kinds.ts';
import { envName } from '../config/settings.ts';
import { isKnownError, UsageError } from '../errors.ts';
import { redact } from '../logger/redact.ts';
import { stdioGuarded } from '../logger/stdio.ts';
import { wantsColour } from './logs/pretty.ts';
import { type CommandData, parseCommandLine } from './parse-args.ts';
import { terminalSafe } from './terminal-safe.ts';

/** ROBBIE_DEBUG is read before anything else is resolved: a failure to resolve is what it explains. */
function debugWanted(): boolean {
  return boolCodec.parse(process.env[envName('debug')] ?? '') === true;
}

type AnyCommand = CommandDef<ArgsDef>;

async function resolve<T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof value === 'function' ? await (value as () => T | Promise<T>)() : await value;
}

function stripAnsi(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences are control characters.
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

async function usage(cmd: AnyCommand, parent: AnyCommand | undefined): Promise<string> {
  const text = await renderUsage(cmd, parent);
  // citty colours its usage whatever the output is; plain text unless a colour terminal asked.
  return wantsColour() ? text : stripAnsi(text);
}

/**
 * Runs the CLI: finds the subcommand, answers --help and --version, checks flags strictly, runs
 * the command, and turns every error into one line on stderr and an exit code (2 for usage).
 * Arguments after `--` are handed to the command untouched (`supervise -- CMD ARGS…`).
 */
export async function runCli(root: AnyCommand, rawArgs: string[], version: string): Promise<void> {
  // `robbie logs | head -1`: a reader that went away is the end of the output, not an error.
  // (supervise and serve guard their own streams further: logger/stdio.ts.)
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' && !stdioGuarded()) process.exit(process.exitCode ?? 0);
  });
  try {
    if (rawArgs.length === 1 && (rawArgs[0] === '--version' || rawArgs[0] === '-v')) {
      process.stdout.write(`${version}\n`);
      return;
    }
    let cmd = root;
    let parent: AnyCommand | undefined;
    const path: string[] = [];
    let rest = rawArgs;
    for (;;) {
      const subs = cmd.subCommands ? await resolve(cmd.subCommands) : undefined;
      const first = rest[0];
      if (!subs || first === undefined || first.startsWith('-')) break;
      const sub = subs[first];
      if (!sub) {
        const where = path.length ? `robbie ${path.join(' ')}` : 'robbie';
        throw new UsageError(`unknown command '${first}' (run '${where} --help' for the list)`);
      }
      parent = cmd;
      cmd = await resolve(sub);
      path.push(first);
      rest = rest.slice(1);
    }
    const dashdash = rest.indexOf('--');
    const own = dashdash === -1 ? rest : rest.slice(0, dashdash);
    const passthrough = dashdash === -1 ? [] : rest.slice(dashdash + 1);
    const wantsHelp = own.includes('--help') || own.includes('-h');
    if (!wantsHelp && !cmd.run && own.length > 0) {
      throw new UsageError(
        `unknown option '${own[0]}' (run 'robbie ${path.join(' ')} --help')`.replace('robbie  ', 'robbie '),
      );
    }
    if (wantsHelp || !cmd.run) {
      process.stdout.write(`${await usage(cmd, parent)}\n`);
      // A command group run without its subcommand is a usage error; `robbie` alone is just help.
      if (!wantsHelp && path.length > 0) process.exitCode = 2;
      return;
    }
    const argsDef = cmd.args ? await resolve(cmd.args) : {};
    const { args, lists } = parseCommandLine(path.join(' ') || 'robbie', argsDef, own);
    const data: CommandData = { passthrough, lists };
    await cmd.run({ rawArgs: own, args, cmd, data } as CommandContext<ArgsDef>);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
    process.stderr.write(`robbie: ${terminalSafe(redact(messageFor(err)))}\n`);
    if (!isKnownError(err) && debugWanted() && err instanceof Error && err.stack) {
      process.stderr.write(`${redact(err.stack)}\n`);
    }
    // Whatever the command left running (timers, sockets) must not keep a failed command alive.
    process.exit(process.exitCode);
  }
}

function exitCodeFor(err: unknown): number {
  if (isKnownError(err)) return err.exitCode;
  if (err instanceof Error && err.name === 'CLIError') return 2;
  return 1;
}

function messageFor(err: unknown): string {
  if (isKnownError(err)) return err.message;
  if (err instanceof Error && err.name === 'CLIError') return stripAnsi(err.message);
  const message = err instanceof Error ? err.message : String(err);
  return `unexpected error: ${message}${debugWanted() ? '' : ' (set ROBBIE_DEBUG=1 for details)'}`;
}
