/**
 * The single executable's main script on Linux. `robbie supervise` is the one long-running command
 * whose memory is the product's (it stays up for months next to what it keeps alive), so it runs
 * from this small bundle; every other command — `robbie serve` included — runs the complete CLI,
 * carried after the executable and read only by the process that runs it (runtime/embedded.ts).
 * From source, under Node or Deno, main.ts is the only entry point.
 */
import { defineCommand } from 'citty';
import { ROOT_META, supervise } from './cli/root-meta.ts';
import { runCli } from './cli/run.ts';
import { loadEmbedded } from './runtime/embedded.ts';

const args = process.argv.slice(2);
// `robbie --version` too: a health check or an install script runs it often, and it needs nothing.
if (args[0] === 'supervise' || (args.length === 1 && (args[0] === '--version' || args[0] === '-v'))) {
  void runCli(defineCommand({ meta: ROOT_META, subCommands: { supervise } }), args, ROOT_META.version);
} else {
  try {
    loadEmbedded('cli');
  } catch (err) {
    process.stderr.write(`robbie: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
