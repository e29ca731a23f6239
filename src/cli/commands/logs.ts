/** `robbie logs` and `robbie errors`: read robbie.log / robbie-errors.log, pretty or raw. */
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { defineCommand } from 'citty';
import { resolvePaths } from '../../config/paths.ts';
import { parseDuration } from '../../config/units.ts';
import { UsageError, UserError } from '../../errors.ts';
import { type LevelName, parseLevel } from '../../logger/levels.ts';
import { ERROR_LOG, MAIN_LOG } from '../../supervisor/output/log-sink.ts';
import { pathArgs } from '../args.ts';
import { follow } from '../logs/follow.ts';
import { prettyLine, wantsColour } from '../logs/pretty.ts';
import {
  describeFiles,
  type LogFilter,
  matches,
  openCurrent,
  readLines,
  rotatedFiles,
} from '../logs/reader.ts';
import { settingsOfService } from '../service-settings.ts';

const args = {
  ...pathArgs,
  follow: { type: 'boolean', alias: 'f', description: 'Keep printing new lines (follows rotations)' },
  lines: {
    type: 'string',
    alias: 'n',
    description: 'How many of the last lines (default 100; 0: all)',
    valueHint: 'n',
  },
  level: {
    type: 'string',
    description: 'Only this level and worse: trace, debug, info, warn, error, fatal',
    valueHint: 'level',
  },
  since: {
    type: 'string',
    description: 'Only lines newer than this: a duration (10m, 2h) or an ISO time',
    valueHint: 'when',
  },
  source: {
    type: 'string',
    description: 'Only lines from this source: supervisor, serve-0, standby, …',
    valueHint: 'name',
  },
  json: { type: 'boolean', description: 'Raw JSON lines instead of the pretty form' },
} as const;

function parseSince(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const ms = parseDuration(text);
  if (ms !== undefined) return Date.now() - ms;
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new UsageError(`--since must be a duration such as 10m or an ISO time (got '${text}')`);
  return t;
}

function command(name: string, file: string, description: string) {
  return defineCommand({
    meta: { name, description },
    args,
    async run({ args: a }) {
      // Where the running supervisor writes, else the installed service or these settings.
      const paths = resolvePaths((await settingsOfService(a)).settings.values);
      let minLevel: LevelName | undefined;
      if (a.level) {
        minLevel = parseLevel(a.level);
        if (!minLevel)
          throw new UsageError(
            `--level must be one of trace, debug, info, warn, error, fatal (got '${a.level}')`,
          );
      }
      const limitText = a.lines ?? '100';
      const limit = Number(limitText);
      if (!/^\d+$/.test(limitText))
        throw new UsageError(`--lines must be a whole number (got '${limitText}')`);
      const filter: LogFilter = { minLevel, since: parseSince(a.since), source: a.source };
      const colour = !a.json && wantsColour();
      const print = (line: string) => process.stdout.write(`${a.json ? line : prettyLine(line, colour)}\n`);
      const current = openCurrent(join(paths.logDir, file));
      const rotated = rotatedFiles(paths.logDir, file, current);
      if (!current && rotated.length === 0 && !a.follow) {
        throw new UserError(
          `no ${file} in ${paths.logDir} (robbie supervise writes it there; see --log-dir / --home)`,
        );
      }
      const lines = readLines(rotated, filter, limit, current?.text);
      for (const l of lines) print(l);
      if (lines.length === 0 && !a.follow) {
        process.stderr.write(
          `no matching lines in ${paths.logDir} (read ${describeFiles(paths.logDir, file)})\n`,
        );
      }
      if (!a.follow) {
        if (current) closeSync(current.fd);
        return;
      }
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.stdout.on('error', stop); // a closed pipe (| head) ends the follow
      await follow(
        join(paths.logDir, file),
        (line) => matches(line, filter) && print(line),
        (message) => process.stderr.write(`robbie ${name}: ${message}\n`),
        ac.signal,
        current,
      );
    },
  });
}

export const logs = command(
  'logs',
  MAIN_LOG,
  'Show the logs (robbie.log and its rotated files), pretty or raw',
);
export const errors = command(
  'errors',
  ERROR_LOG,
  'Show the error log (robbie-errors.log): error lines and stderr',
);
