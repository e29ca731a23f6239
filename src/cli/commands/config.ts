/** `robbie config`: every setting with its value and where it came from — secrets hidden. */
import { defineCommand } from 'citty';
import { viewSettings } from '../../config/view.ts';
import { redact } from '../../logger/redact.ts';
import { superviseConfig } from '../../supervisor/supervise-config.ts';
import { superviseArgs } from '../args.ts';
import { commandData } from '../parse-args.ts';
import { settingsOfService } from '../service-settings.ts';
import { terminalSafe } from '../terminal-safe.ts';

export default defineCommand({
  meta: {
    name: 'config',
    description: 'Show every setting, its value and its origin (flag, env, file, default), secrets hidden',
  },
  args: { ...superviseArgs, json: { type: 'boolean', description: 'Print it as JSON' } },
  async run({ args, data }) {
    const { passthrough } = commandData(data);
    const command = passthrough.length ? passthrough : undefined;
    const { settings, source } = await settingsOfService(args, { custom: command !== undefined });
    const c = superviseConfig(settings, command);
    const view = {
      settings_of: source,
      listen: `${c.serve.host}:${c.serve.port}`,
      home: c.paths.home,
      log_dir: c.paths.logDir,
      store: c.serve.databaseUrl
        ? `postgres ${redact(c.serve.databaseUrl)}`
        : 'sqlite (robbie.db in the state directory)',
      command: c.command?.join(' ') ?? 'robbie serve',
      settings: viewSettings(settings),
    };
    if (args.json) {
      process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      return;
    }
    const { settings: rows, ...summary } = view;
    const lines = Object.entries(summary).map(([k, v]) => `${k.padEnd(24)} ${v}`);
    lines.push('');
    for (const [key, s] of Object.entries(rows)) {
      const value = s.value === null ? '-' : Array.isArray(s.value) ? s.value.join(',') : String(s.value);
      lines.push(`${key.padEnd(24)} ${value.padEnd(28)} ${s.origin}`);
    }
    process.stdout.write(`${lines.map(terminalSafe).join('\n')}\n`);
  },
});
