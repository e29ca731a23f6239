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
  const args = logObj.args;
  // The last plain object carries the structured fields; errors become `err`.
  const last = args[args.length - 1];
  const fields = args.length > 1 && isPlainObject(last) ? last : undefined;
  const count = fields ? args.length - 1 : args.length;
  let msg = '';
  let argError: unknown;
  for (let i = 0; i < count; i++) {
    const a = args[i];
    let part: string;
    if (a instanceof Error) {
      argError ??= a;
      part = a.message;
    } else part = typeof a === 'string' ? a : JSON.stringify(a);
    msg = i === 0 ? part : `${msg} ${part}`;
  }
  const record: Fields = { time: logObj.date.toISOString(), level: levelFromConsolaType(logObj.type) };
  if (logObj.tag) record.tag = logObj.tag;
  record.msg = redact(msg);
  // One pass over the fields: an absent one is left out (`error=undefined` would otherwise reach
  // the journal), and a name the record already has is not overwritten.
  if (fields) {
    for (const k in fields) {
      const v = fields[k];
      if (v === undefined || k in record) continue;
      record[k] = v instanceof Error ? redactDeep(serializeError(v)) : redactDeep(v);
    }
  }
  if (argError !== undefined && record.err === undefined) record.err = redactDeep(serializeError(argError));
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
