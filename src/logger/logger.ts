import { fstatSync } from 'node:fs';
import { type ConsolaInstance, type ConsolaReporter, createConsola } from 'consola';
import { type Fields, jsonReporter, type LineSink, toRecord } from './json-reporter.ts';
import { consolaLevel, type LevelName } from './levels.ts';
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

export type LogFormat = 'pretty' | 'json' | 'journald' | 'none';

export interface LoggerOptions {
  /**
   * `pretty` for people at a terminal, `json` for pipes, files and collectors, `journald` for
   * systemd's journal (priority prefixes, no timestamps: journald adds its own), `none` for no
   * console output at all (under launchd, whose capture file nobody rotates).
   */
  format: LogFormat;
  level: LevelName;
  /** Where JSON lines go (default: stdout). */
  sink?: LineSink;
  /** Also write every record as a JSON line here (the supervisor's own log files). */
  tee?: LineSink;
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

/**
 * JSON lines to stdout, the lines of one event-loop turn in one write at its end: a busy server
 * logs a line per request, and a write per line is a system call per line (and a wake-up of the
 * supervisor reading the pipe). Whatever is pending is written out before the process exits.
 */
let pending: string[] = [];
let scheduled = false;
let flushOnExit = false;
function flushStdout(): void {
  scheduled = false;
  if (pending.length === 0) return;
  const text = pending.length === 1 ? (pending[0] as string) : pending.join('');
  pending = [];
  process.stdout.write(text);
}
const stdoutSink: LineSink = (line) => {
  pending.push(line);
  if (scheduled) return;
  scheduled = true;
  setImmediate(flushStdout);
  if (!flushOnExit) {
    flushOnExit = true;
    process.on('exit', flushStdout);
  }
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

const JOURNAL_PRIORITY: Record<LevelName, number> = {
  fatal: 2,
  error: 3,
  warn: 4,
  info: 6,
  debug: 7,
  trace: 7,
};

/** `<N>msg key=value…` lines for journald, which strips the prefix into the entry's priority. */
function journaldReporter(write: (line: string) => void): ConsolaReporter {
  return {
    log(logObj) {
      const record = toRecord(logObj);
      const { time: _time, level, msg, ...fields } = record;
      const extra = Object.entries(fields)
        .map(
          ([k, v]) =>
            `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`,
        )
        .join(' ');
      write(`<${JOURNAL_PRIORITY[level as LevelName]}>${String(msg)}${extra ? ` ${extra}` : ''}\n`);
    },
  };
}

export function createLogger(opts: LoggerOptions): Logger {
  const level = consolaLevel(opts.level);
  // consola picks its fancy reporter even when output is piped, and collapses repeated lines:
  // both are chosen explicitly here (throttle 0, reporter by format).
  const reporters: ConsolaReporter[] = [];
  if (opts.format === 'json') reporters.push(jsonReporter(opts.sink ?? stdoutSink));
  else if (opts.format === 'journald') reporters.push(journaldReporter((line) => process.stdout.write(line)));
  else if (opts.format === 'pretty')
    reporters.push(redactingPretty(createConsola({ fancy: true, level, throttle: 0 })));
  if (opts.tee) reporters.push(jsonReporter(opts.tee));
  const consola = createConsola({ reporters, level, throttle: 0 });
  return new ConsolaLogger(consola, {});
}

/** True when stdout is connected to the journal (systemd sets JOURNAL_STREAM to its device:inode). */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(1);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** The `log-level` and `log-format` settings. */
export interface ConsoleSettings {
  level: LevelName;
  /** Undefined: pretty on a terminal, journald under systemd, JSON lines otherwise. */
  format: LogFormat | undefined;
}

/** The console logger of `serve` and `supervise`, with an optional copy of every line (`tee`). */
export function consoleLogger(
  settings: ConsoleSettings,
  isTTY = process.stdout.isTTY === true,
  tee?: LineSink,
): Logger {
  return createLogger({ format: consoleFormat(settings.format, isTTY), level: settings.level, tee });
}

export function consoleFormat(format: LogFormat | undefined, isTTY: boolean): LogFormat {
  if (format) return format;
  if (stdoutIsJournal()) return 'journald';
  return isTTY ? 'pretty' : 'json';
}
