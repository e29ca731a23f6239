import { defineCommand } from 'citty';
import { VERSION } from '../../runtime/version.ts';

export default defineCommand({
  meta: { name: 'version', description: 'Print the version' },
  args: {
    json: { type: 'boolean', description: 'Print version, runtime and platform as JSON' },
  },
  run({ args }) {
    if (args.json) {
      const runtime = 'Deno' in globalThis ? 'deno' : 'node';
      process.stdout.write(
        `${JSON.stringify({ version: VERSION, runtime, node: process.version, platform: process.platform, arch: process.arch })}\n`,
      );
    } else {
      process.stdout.write(`${VERSION}\n`);
    }
  },
});
