import { root } from './cli/root.ts';
import { runCli } from './cli/run.ts';
import { VERSION } from './runtime/version.ts';

// argv[2…] are the user's arguments under Node, Deno and inside the single executable alike.
void runCli(root, process.argv.slice(2), VERSION);
