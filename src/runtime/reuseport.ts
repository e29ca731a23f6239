/**
 * Instances share the port through SO_REUSEPORT. When one of them closes its listener (a reload,
 * a restart, a drain), Linux resets the connections still waiting in that listener's accept queue
 * — a client sees "connection reset" although another instance is listening. Since Linux 5.14,
 * `net.ipv4.tcp_migrate_req = 1` moves them to another listener of the group instead. The
 * supervisor turns it on when it may (root, in its network namespace) and says so; otherwise it
 * says how, once. Only reuseport groups are affected by the setting.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from '../logger/logger.ts';

const SYSCTL = '/proc/sys/net/ipv4/tcp_migrate_req';

export function enableRequestMigration(log: Logger): void {
  if (process.platform !== 'linux') return;
  let current: string;
  try {
    current = readFileSync(SYSCTL, 'utf8').trim();
  } catch {
    return; // a kernel before 5.14: nothing to do
  }
  if (current === '1') return;
  try {
    writeFileSync(SYSCTL, '1');
    log.info(
      'enabled net.ipv4.tcp_migrate_req: connections queued at a closing listener move to the new one',
    );
  } catch {
    log.info(
      'net.ipv4.tcp_migrate_req is off: a reload under heavy load may reset a few queued connections (sysctl -w net.ipv4.tcp_migrate_req=1 fixes it)',
    );
  }
}
