/**
 * The supervisor records the process groups it runs, so that a supervisor started after a crashed
 * one (kill -9, OOM) can end what its predecessor left behind — after checking, by process start
 * time, that each group is still the very process it recorded and not a stranger that reused the pid.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Logger } from '../logger/logger.ts';
import { groupAlive, terminateGroup } from './process-group.ts';
import { processStartToken } from './process-info.ts';

export interface RecordedChild {
  id: string;
  pgid: number;
  start?: string;
}

export interface StateRecord {
  supervisorPid: number;
  children: RecordedChild[];
}

export function writeState(path: string, record: StateRecord): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
  renameSync(tmp, path);
}

function readState(path: string): StateRecord | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as StateRecord;
    return Array.isArray(parsed.children) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Ends the process groups a dead predecessor recorded; returns how many it found. */
export async function reapPredecessor(path: string, log: Logger, stopTimeoutMs: number): Promise<number> {
  const record = readState(path);
  if (!record || record.supervisorPid === process.pid) return 0;
  let reaped = 0;
  await Promise.all(
    record.children.map(async (c) => {
      if (!groupAlive(c.pgid)) return;
      const start = processStartToken(c.pgid);
      if (c.start !== undefined && start !== c.start) {
        log.warn('a recorded child pid now belongs to another process: left alone', {
          pgid: c.pgid,
          id: c.id,
        });
        return;
      }
      reaped++;
      log.warn('ending a child left by a previous supervisor', {
        pgid: c.pgid,
        id: c.id,
        previous: record.supervisorPid,
      });
      await terminateGroup(c.pgid, stopTimeoutMs);
    }),
  );
  return reaped;
}
