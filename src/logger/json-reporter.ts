import type { ConsolaReporter, LogObject } from 'consola';
import { type LevelName, levelFromConsolaType } from './levels.ts';
import { redact, redactDeep } from './redact.ts';
import { serializeError } from './serialize-error.ts';

export type Fields = Record<string, unknown>;

/** Something that takes whole lines: stdout, or the supervisor's log files (which route by level). */
export type LineSink = (line: string, level: LevelName) => void;

function isPlainObject(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Error);
}

/** Builds the JSON object for one consola call: `log.info('msg', { field: 1 })`. */
export function toRecord(logObj: LogObject): Fields {
  const args: unknown[] = [...logObj.args];
  const fields: Fields = {};
  // The last plain object carries the structured fields; errors become `err`.
  const last = args[args.length - 1];
  if (args.length > 1 && isPlainObject(last)) {
    args.pop();
    for (const [k, v] of Object.entries(last)) fields[k] = v instanceof Error ? serializeError(v) : v;
  }
  const parts: string[] = [];
  for (const a of args) {
    if (a instanceof Error) {
      if (fields.err === undefined) fields.err = serializeError(a);
      parts.push(a.message);
    } else {
      parts.push(typeof a === 'string' ? a : JSON.stringify(a));
    }
  }
  const record: Fields = { time: logObj.date.toISOString(), level: levelFromConsolaType(logObj.type) };
  if (logObj.tag) record.tag = logObj.tag;
  record.msg = redact(parts.join(' '));
  // An absent field is left out (`error=undefined` would otherwise reach the journal).
  for (const [k, v] of Object.entries(fields)) {
    if (!(k in record) && v !== undefined) record[k] = redactDeep(v);
  }
  return record;
}

/** A consola reporter that writes one JSON object per line, for files, pipes and collectors. */
export function jsonReporter(sink: LineSink): ConsolaReporter {
  return {
    log(logObj) {
      const record = toRecord(logObj);
      sink(`${JSON.stringify(record)}\n`, record.level as LevelName);
    },
  };
}
