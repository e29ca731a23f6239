import { defineCommand } from 'citty';
import { applyEnvFile } from '../../config/env-file.ts';
import { resolveServeConfig } from '../../config/serve-config.ts';
import { loggerFromEnv } from '../../logger/logger.ts';
import { registerSecretsFromEnv } from '../../logger/redact.ts';
import { nameProcess } from '../../runtime/process-name.ts';
import { runServe } from '../../server/serve.ts';
import { serveArgs } from '../args.ts';

export default defineCommand({
  meta: { name: 'serve', description: 'Run the Universal Input API in the foreground, unsupervised' },
  args: serveArgs,
  async run({ args }) {
    nameProcess('robbie serve');
    applyEnvFile(args['env-file']);
    registerSecretsFromEnv(process.env);
    const config = resolveServeConfig(args, process.env);
    await runServe(config, loggerFromEnv());
  },
});
