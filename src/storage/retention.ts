import type { Logger } from '../logger/logger.ts';
import type { Store } from './types.ts';

const HOUR = 3_600_000;

/**
 * Removes request logs and gatekeeper blocks older than `retentionMs` (the original kept 90 days),
 * an hour after start and then hourly, in batches so a large backlog never holds long locks.
 */
export function scheduleRetention(
  store: Store,
  retentionMs: number,
  log: Logger,
  everyMs = HOUR,
): () => void {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      const removed = await store.purge(new Date(Date.now() - retentionMs), 1000);
      if (removed > 0)
        log.info('retention purge', { removed, older_than_days: Math.round(retentionMs / 86_400_000) });
    } catch (err) {
      log.warn('retention purge failed; will try again', { reason: (err as Error).message });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void run(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
