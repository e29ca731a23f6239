import { type ConsolaInstance, type ConsolaReporter, createConsola } from 'consola';
import { type Fields, jsonReporter, type LineSink } from './json-reporter.ts';
import { consolaLevel, type LevelName, parseLevel } from './levels.ts';
import { redactDeep } from './redact.ts';

export type { Fields } from './json-reporter.ts';

/** The logging interface every module uses: a message and structured fields. */
export interface Logger {
  trace(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  fatal(msg: string, fields?: Fields): void;
  /** A logger that adds these fields to every line. */
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  /** `pretty` for people at a terminal, `json` for pipes, files and collectors. */
  format: 'pretty' | 'json';
  level: LevelName;
  /** Where JSON lines go (default: stdout). */
  sink?: LineSink;
}

class ConsolaLogger implements Logger {
  readonly #consola: ConsolaInstance;
  readonly #fields: Fields;
  constructor(consola: ConsolaInstance, fields: Fields) {
    this.#consola = consola;
    this.#fields = fields;
  }
  #emit(type: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal', msg: string, fields?: Fields): void {
    const merged = fields ? { ...this.#fields, ...fields } : this.#fields;
    if (Object.keys(merged).length === 0) this.#consola[type](msg);
    else this.#consola[type](msg, merged);
  }
  trace(msg: string, fields?: Fields): void {
    this.#emit('trace', msg, fields);
  }
  debug(msg: string, fields?: Fields): void {
    this.#emit('debug', msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.#emit('info', msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.#emit('warn', msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.#emit('error', msg, fields);
  }
  fatal(msg: string, fields?: Fields): void {
    this.#emit('fatal', msg, fields);
  }
  child(fields: Fields): Logger {
    return new ConsolaLogger(this.#consola, { ...this.#fields, ...fields });
  }
}

const stdoutSink: LineSink = (line) => {
  process.stdout.write(line);
};

/** A pretty reporter that still redacts: consola's fancy output, fed redacted arguments. */
function redactingPretty(inner: ConsolaInstance): ConsolaReporter {
  return {
    log(logObj) {
      const [first, ...rest] = logObj.args.map((a: unknown) => (a instanceof Error ? a : redactDeep(a)));
      inner[logObj.type](first, ...rest);
    },
  };
}

export function createLogger(opts: LoggerOptions): Logger {
  const level = consolaLevel(opts.level);
  // consola picks its fancy reporter even when output is piped, and collapses repeated lines:
  // both are chosen explicitly here (throttle 0, reporter by format).
  const reporter =
    opts.format === 'json'
      ? jsonReporter(opts.sink ?? stdoutSink)
      : redactingPretty(createConsola({ fancy: true, level, throttle: 0 }));
  const consola = createConsola({ reporters: [reporter], level, throttle: 0 });
  return new ConsolaLogger(consola, {});
}

/** Pretty on a terminal, JSON lines otherwise; `ROBBIE_LOG_FORMAT` and `ROBBIE_LOG_LEVEL` override. */
export function loggerFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  isTTY = process.stdout.isTTY === true,
): Logger {
  const fmt = env.ROBBIE_LOG_FORMAT;
  const format = fmt === 'json' || fmt === 'pretty' ? fmt : isTTY ? 'pretty' : 'json';
  return createLogger({ format, level: parseLevel(env.ROBBIE_LOG_LEVEL) ?? 'info' });
}
