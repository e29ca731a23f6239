/**
 * Frames a child's output line as robbie's JSON log line: `time, level, source, pid, stream, msg`
 * and, when the child already writes JSON objects, its own fields (its level wins; its own time,
 * source, pid and stream are kept as `child_time`, `child_source`, `child_pid`, `child_stream`).
 */
import type { LevelName } from '../../logger/levels.ts';
import { mayNeedRedaction, redact, redactBulk, redactDeep } from '../../logger/redact.ts';

/** Field names whose values are secrets whatever they hold. */
const SECRET_KEY =
  /^(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|admin[_-]?key|authorization|cookie)$/i;

export type StreamName = 'stdout' | 'stderr';

const LEVEL_ALIASES: Record<string, LevelName> = {
  fatal: 'fatal',
  critical: 'fatal',
  crit: 'fatal',
  panic: 'fatal',
  error: 'error',
  err: 'error',
  warn: 'warn',
  warning: 'warn',
  info: 'info',
  notice: 'info',
  log: 'info',
  debug: 'debug',
  trace: 'trace',
};

/** Pino-style numeric levels. */
function numericLevel(n: number): LevelName {
  if (n >= 60) return 'fatal';
  if (n >= 50) return 'error';
  if (n >= 40) return 'warn';
  if (n >= 30) return 'info';
  if (n >= 20) return 'debug';
  return 'trace';
}

export function normalizeLevel(value: unknown): LevelName | undefined {
  if (typeof value === 'number') return numericLevel(value);
  if (typeof value === 'string') return LEVEL_ALIASES[value.toLowerCase()];
  return undefined;
}

export function isErrorLevel(level: LevelName): boolean {
  return level === 'error' || level === 'fatal';
}

export interface Framed {
  line: string;
  level: LevelName;
}

/**
 * `prefix` is `{"time":…,"level":…,"source":…,"pid":…,"stream":…,` built once per chunk by the
 * caller; plain lines only add their message, so the hot path is one JSON.stringify of a string.
 * Redaction is decided here, once per line: a JSON line's fields are walked only when its text
 * might hold a secret (`redact`), a plain line gets the bulk subset (`redactBulk`).
 */
export function frameLine(
  text: string,
  partial: boolean,
  meta: { time: string; source: string; pid: number; stream: StreamName },
  plainPrefix: string,
  plainLevel: LevelName,
): Framed {
  if (
    text.length > 1 &&
    text.charCodeAt(0) === 123 /* { */ &&
    text.charCodeAt(text.length - 1) === 125 &&
    !partial
  ) {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      obj = undefined;
    }
    if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
      const fields = obj as Record<string, unknown>;
      const level = normalizeLevel(fields.level) ?? plainLevel;
      // The supervisor's own fields win: a child cannot forge the time, source, pid or stream of
      // its lines (its own are kept as child_*: robbie's own "stream ended" says how in `stream`),
      // and its fields are redacted like any text.
      const sensitive = mayNeedRedaction(text);
      const record: Record<string, unknown> = {
        time: meta.time,
        level,
        source: meta.source,
        pid: meta.pid,
        stream: meta.stream,
        msg:
          typeof fields.msg === 'string'
            ? fields.msg
            : typeof fields.message === 'string'
              ? fields.message
              : '',
      };
      for (const k of Object.keys(fields)) {
        if (k === 'level' || k === 'msg' || k === 'message') continue;
        if (k in record) {
          if (fields[k] !== record[k]) record[`child_${k}`] = fields[k];
        } else record[k] = fields[k];
      }
      // Most lines hold nothing to hide: only those that might are walked.
      if (sensitive) {
        record.msg = redact(record.msg as string);
        for (const k of Object.keys(record)) {
          if (k === 'msg' || k === 'time' || k === 'level' || k === 'source' || k === 'pid' || k === 'stream')
            continue;
          const v = record[k];
          record[k] = SECRET_KEY.test(k) && v !== null && v !== '' ? '***' : redactDeep(v);
        }
      }
      return { line: `${JSON.stringify(record)}\n`, level };
    }
  }
  const msg = JSON.stringify(mayNeedRedaction(text) ? redactBulk(text) : text);
  return { line: `${plainPrefix}${msg}${partial ? ',"partial":true}\n' : '}\n'}`, level: plainLevel };
}

export function plainPrefix(
  meta: { time: string; source: string; pid: number; stream: StreamName },
  level: LevelName,
): string {
  return `{"time":"${meta.time}","level":"${level}","source":${JSON.stringify(meta.source)},"pid":${meta.pid},"stream":"${meta.stream}","msg":`;
}
