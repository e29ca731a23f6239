/** `robbie alert test`: one alert through every configured channel, with what each receiver said. */
import { hostname } from 'node:os';
import { defineCommand } from 'citty';
import { compose } from '../../alerts/alert.ts';
import { errorText } from '../../alerts/alerter.ts';
import { alertChannels, alertSettings } from '../../alerts/from-settings.ts';
import { resolvePaths } from '../../config/paths.ts';
import { UserError } from '../../errors.ts';
import { pathArgs, settingArgs } from '../args.ts';
import { settingsOfService } from '../service-settings.ts';
import { terminalSafe } from '../terminal-safe.ts';

const test = defineCommand({
  meta: {
    name: 'test',
    description:
      'Send a test alert through every configured channel (webhook, email) and say what each answered',
  },
  args: { ...pathArgs, ...settingArgs(['alert-webhook', 'alert-email', 'alert-from']) },
  async run({ args }) {
    // The service's own settings: the running supervisor's, else the installed service's.
    const { settings } = await settingsOfService(args);
    const channels = alertChannels(alertSettings(settings));
    if (channels.length === 0) {
      throw new UserError(
        'no alert channel is configured: set ROBBIE_ALERT_WEBHOOK, or ROBBIE_ALERT_EMAIL with ROBBIE_SMTP_URL',
      );
    }
    const home = resolvePaths(settings.values).home;
    const alert = compose(
      { event: 'test', message: 'a test alert from robbie alert test: this channel works' },
      { host: hostname(), service: home },
      new Date(),
      0,
    );
    let failed = 0;
    for (const channel of channels) {
      try {
        const answer = await channel.send(alert);
        process.stdout.write(`ok      ${terminalSafe(channel.name)}: ${terminalSafe(answer)}\n`);
      } catch (err) {
        failed++;
        process.stdout.write(`failed  ${terminalSafe(channel.name)}: ${terminalSafe(errorText(err))}\n`);
      }
    }
    process.exitCode = failed ? 1 : 0;
  },
});

export default defineCommand({
  meta: { name: 'alert', description: 'Check the alert channels' },
  subCommands: { test },
});
