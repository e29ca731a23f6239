/**
 * The supervisor's two log streams: `robbie.log` (everything) and `robbie-errors.log` (every
 * error-or-worse line and every stderr line), both rotating in-process.
 */
import { join } from 'node:path';
import type { LevelName } from '../../logger/levels.ts';
import { isErrorLevel } from './log-record.ts';
import { type FileHealth, RotatingFile, type RotationOptions } from './rotating-file.ts';

export const MAIN_LOG = 'robbie.log';
export const ERROR_LOG = 'robbie-errors.log';

export class LogSink {
  readonly main: RotatingFile;
  readonly errors: RotatingFile;

  constructor(logDir: string, rotation: RotationOptions, onProblem: (message: string) => void) {
    this.main = new RotatingFile(join(logDir, MAIN_LOG), rotation, onProblem);
    this.errors = new RotatingFile(join(logDir, ERROR_LOG), rotation, onProblem);
  }

  /** One of the supervisor's own lines: error-or-worse ones go to robbie-errors.log too. */
  write(line: string, level: LevelName): void {
    this.main.write(line);
    if (isErrorLevel(level)) this.errors.write(line);
  }

  /**
   * Lines already framed: all of them for robbie.log, the error ones for robbie-errors.log.
   * `borrowed`: the caller reuses the bytes after this call (see RotatingFile.write).
   */
  writeFramed(all: string | Buffer, errors: string | Buffer, borrowed = false): void {
    this.main.write(all, borrowed);
    if (errors.length > 0) this.errors.write(errors, borrowed);
  }

  reopen(): void {
    this.main.reopen();
    this.errors.reopen();
  }

  flush(): void {
    this.main.flush();
    this.errors.flush();
  }

  health(): FileHealth[] {
    return [this.main.health(), this.errors.health()];
  }

  async close(): Promise<void> {
    await Promise.all([this.main.close(), this.errors.close()]);
  }
}
