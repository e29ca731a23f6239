/** Facts about the runtime robbie is executing in: Node from source, the single executable, or Deno. */

/** True under Deno (its Node compatibility layer runs the same source). */
export const isDeno: boolean = 'Deno' in globalThis;

/**
 * True inside the single executable built by pkg (SEA mode). `node:sea` is looked up at run time
 * because Deno does not provide it.
 */
export function isSingleExecutable(): boolean {
  if (isDeno) return false;
  try {
    const sea = process.getBuiltinModule('node:sea') as { isSea?: () => boolean } | undefined;
    return sea?.isSea?.() === true;
  } catch {
    return false;
  }
}

/**
 * The command line that starts this same program with other arguments: the binary itself inside
 * the single executable, `node [flags] script` from source, `deno run -A script` under Deno.
 */
export function selfCommand(args: readonly string[]): { command: string; args: string[] } {
  if (isSingleExecutable()) return { command: process.execPath, args: [...args] };
  const script = process.argv[1];
  if (!script) throw new Error('cannot locate the running script to start a copy of it');
  if (isDeno) {
    // Deno's Node compatibility layer rewrites spawn(execPath, [script, ...]) into `deno run -A`.
    return { command: process.execPath, args: [script, ...args] };
  }
  return { command: process.execPath, args: [...process.execArgv, script, ...args] };
}
