/**
 * One supervisor per state directory. The lock is a file created atomically with the owner's pid
 * and process start time in it; a lock whose owner is gone (or whose pid now belongs to another
 * process) is stale and taken over — by one starting supervisor at a time.
 */
import { linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../errors.ts';
import { describeFsError } from '../fs-errors.ts';
import { processAlive, processStartToken } from './process-info.ts';

interface LockContent {
  pid: number;
  start?: string;
}

export function readLock(path: string): LockContent | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as LockContent;
    return typeof parsed.pid === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function ownerAlive(owner: LockContent): boolean {
  // Same pid, later process: the lock is stale.
  return (
    processAlive(owner.pid) && (owner.start === undefined || processStartToken(owner.pid) === owner.start)
  );
}

/** A takeover that has not finished in this time was abandoned by a dead process. */
const TAKEOVER_STALE_MS = 5000;

/**
 * Creates `path` holding `content`, atomically, or returns false when it exists: the content is
 * written to a private file first and hard-linked into place, so nobody ever reads a half-written
 * lock (and mistakes it for a stale one).
 */
function createWith(path: string, content: string): boolean {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, content, { mode: 0o600 });
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new UserError(`cannot write the state directory ${dirname(path)}: ${describeFsError(err)}`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // not written
    }
  }
}

export class StateLock {
  readonly path: string;
  #held = false;

  constructor(path: string) {
    this.path = path;
  }

  /** Takes the lock or throws a one-line error naming the running supervisor. */
  acquire(): void {
    const content: LockContent = { pid: process.pid };
    const start = processStartToken(process.pid);
    if (start) content.start = start;
    const mine = JSON.stringify(content);
    for (let attempt = 0; attempt < 50; attempt++) {
      if (createWith(this.path, mine)) {
        this.#held = true;
        return;
      }
      const owner = readLock(this.path);
      if (owner && owner.pid !== process.pid && ownerAlive(owner)) {
        throw new UserError(
          `another robbie supervisor (pid ${owner.pid}) is already running on this state directory (${this.path})`,
        );
      }
      // Stale (kill -9, power loss). Only the holder of the takeover lock may remove it, so two
      // starting supervisors cannot each remove the other's fresh lock.
      const takeover = `${this.path}.takeover`;
      if (createWith(takeover, mine)) {
        try {
          const now = readLock(this.path);
          if (!now || !ownerAlive(now)) unlinkSync(this.path);
        } catch {
          // gone already
        } finally {
          unlinkSync(takeover);
        }
      } else {
        try {
          if (Date.now() - statSync(takeover).mtimeMs > TAKEOVER_STALE_MS) unlinkSync(takeover);
        } catch {
          // finished meanwhile
        }
        sleepMs(20);
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

/** Waits without an event loop (the lock is taken before the supervisor starts one). */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
