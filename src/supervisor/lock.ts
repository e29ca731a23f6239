/**
 * One supervisor per state directory. The lock is a file created exclusively (O_EXCL) holding the
 * owner's pid and process start time; a lock whose owner is gone (or whose pid now belongs to
 * another process) is stale and taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { processAlive, processStartToken } from './process-info.ts';

interface LockContent {
  pid: number;
  start?: string;
}

function readLock(path: string): LockContent | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as LockContent;
    return typeof parsed.pid === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function ownerAlive(owner: LockContent): boolean {
  // Same pid, later process: the lock is stale.
  return (
    processAlive(owner.pid) && (owner.start === undefined || processStartToken(owner.pid) === owner.start)
  );
}

export class StateLock {
  readonly path: string;
  #held = false;

  constructor(path: string) {
    this.path = path;
  }

  /** Takes the lock or throws a one-line error naming the running supervisor. */
  acquire(): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.path, 'wx', 0o600);
        const content: LockContent = { pid: process.pid };
        const start = processStartToken(process.pid);
        if (start) content.start = start;
        writeSync(fd, JSON.stringify(content));
        closeSync(fd);
        this.#held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = readLock(this.path);
      if (owner && owner.pid !== process.pid && ownerAlive(owner)) {
        throw new UserError(
          `another robbie supervisor (pid ${owner.pid}) is already running on this state directory (${this.path})`,
        );
      }
      // Stale: the owner died without cleaning up (kill -9, power loss).
      try {
        unlinkSync(this.path);
      } catch {
        // someone else removed it first; try again
      }
    }
    throw new UserError(`could not take the supervisor lock ${this.path}`);
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    const owner = readLock(this.path);
    if (owner?.pid === process.pid) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}
