/**
 * Human rendering of robbie's JSON log lines: `time level source message key=value…`, with every
 * control character from the record shown as an escape (terminal-safe.ts); only robbie's own
 * colour codes reach the terminal raw.
 */
import { envName } from '../../config/settings.ts';
import { terminalSafe } from '../terminal-safe.ts';

const COLOURS: Record<string, string> = {
  fatal: '\u001b[35m',
  error: '\u001b[31m',
  warn: '\u001b[33m',
  info: '\u001b[36m',
  debug: '\u001b[90m',
  trace: '\u001b[90m',
};
const RESET = '\u001b[0m';

const SHOWN = new Set(['time', 'level', 'source', 'msg', 'pid', 'stream']);

export function prettyLine(line: string, colour: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return terminalSafe(line);
  }
  if (rec === null || typeof rec !== 'object') return terminalSafe(line);
  const time = typeof rec.time === 'string' ? rec.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
  const level = String(rec.level ?? 'info');
  const lvl = level.toUpperCase().padEnd(5);
  const source = `${String(rec.source ?? '')}${rec.pid !== undefined ? `[${String(rec.pid)}]` : ''}`;
  const extra = Object.entries(rec)
    .filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const msg = terminalSafe(`${String(rec.msg ?? '')}${extra ? `  ${extra}` : ''}`);
  const head = [terminalSafe(time), terminalSafe(lvl), terminalSafe(source)];
  if (!colour) return `${head[0]} ${head[1]} ${head[2]} ${msg}`;
  return `\u001b[90m${head[0]}${RESET} ${COLOURS[level] ?? ''}${head[1]}${RESET} ${head[2]} ${msg}`;
}

/** Colour only for a terminal that has not asked for none. */
export function wantsColour(): boolean {
  return process.stdout.isTTY === true && !process.env[envName('no-color')] && process.env.TERM !== 'dumb';
}
