/**
 * Signals to whole process groups. Every child runs in its own group (spawned detached), so a stop
 * reaches its grandchildren too (npm → sh → node), unlike PM2's pid-tree walk or supervisord's
 * default of signalling the child alone.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Sends `signal` to every process in group `pgid`; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    if (code === 'EPERM') return true;
    throw err;
  }
}

export function groupAlive(pgid: number): boolean {
  return signalGroup(pgid, 0);
}

/** Polls (every 20 ms, bounded by `timeoutMs`) until the group is empty; true when it is. */
export async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) return true;
    await sleep(20);
  }
  return !groupAlive(pgid);
}

/**
 * SIGTERM to the group, up to `timeoutMs` for every member to leave, then SIGKILL to what remains.
 * Resolves with how the group ended.
 */
export async function terminateGroup(
  pgid: number,
  timeoutMs: number,
): Promise<'gone' | 'terminated' | 'killed'> {
  if (!signalGroup(pgid, 'SIGTERM')) return 'gone';
  // A stopped process holds SIGTERM until continued.
  signalGroup(pgid, 'SIGCONT');
  if (await waitGroupGone(pgid, timeoutMs)) return 'terminated';
  signalGroup(pgid, 'SIGKILL');
  await waitGroupGone(pgid, 2000);
  return 'killed';
}
