import { defineCommand } from 'citty';
import { loadSettings } from '../../config/load.ts';
import { viewSettings } from '../../config/view.ts';
import { consoleLogger } from '../../logger/logger.ts';
import { nameProcess } from '../../runtime/process-name.ts';
import { runServe } from '../../server/serve.ts';
import { serveConfig } from '../../server/serve-config.ts';
import { serveArgs } from '../args.ts';

export default defineCommand({
  meta: { name: 'serve', description: 'Run the Universal Input API in the foreground, unsupervised' },
  args: serveArgs,
  async run({ args }) {
    nameProcess('robbie serve');
    const settings = loadSettings(args);
    const config = serveConfig(settings);
    const log = consoleLogger(config.console);
    const given = viewSettings(settings, true);
    if (Object.keys(given).length > 0)
      log.info('settings', {
        given: Object.fromEntries(Object.entries(given).map(([k, v]) => [k, v.value])),
      });
    await runServe(config, log);
  },
});
