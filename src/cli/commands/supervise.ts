import { defineCommand } from 'citty';
import { applyEnvFile } from '../../config/env-file.ts';
import { resolveSuperviseConfig } from '../../config/supervise-config.ts';
import { runSupervise } from '../../supervisor/run.ts';
import { superviseArgs } from '../args.ts';

export default defineCommand({
  meta: {
    name: 'supervise',
    description:
      'Run and keep alive the API (or any command after --) in the foreground: probes, restarts, logs',
  },
  args: superviseArgs,
  async run({ args, data }) {
    applyEnvFile(args['env-file']);
    const command = (data as { passthrough?: string[] } | undefined)?.passthrough;
    const config = resolveSuperviseConfig(args, process.env, command);
    process.exitCode = await runSupervise(config);
    process.exit(process.exitCode);
  },
});
