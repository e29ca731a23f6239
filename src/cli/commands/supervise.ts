import { defineCommand } from 'citty';
import { loadSettings } from '../../config/load.ts';
import { runSupervise } from '../../supervisor/run.ts';
import { superviseConfig } from '../../supervisor/supervise-config.ts';
import { superviseArgs } from '../args.ts';
import { commandData } from '../parse-args.ts';

export default defineCommand({
  meta: {
    name: 'supervise',
    description:
      'Run and keep alive the API (or any command after --) in the foreground: probes, restarts, logs',
  },
  args: superviseArgs,
  async run({ args, data }) {
    const { passthrough } = commandData(data);
    const command = passthrough.length ? passthrough : undefined;
    const config = superviseConfig(loadSettings(args, { custom: command !== undefined }), command);
    process.exitCode = await runSupervise(config);
    process.exit(process.exitCode);
  },
});
