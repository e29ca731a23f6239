/**
 * Names the process for `ps`, `pgrep -x robbie`, `systemctl status` and `ss -p`: the command line
 * reads `robbie supervise` / `robbie serve` (process.title), and the kernel's short name (comm,
 * what pgrep and ss show) is `robbie` instead of Node 24's `MainThread`. Best effort: Deno and
 * other systems may not allow either.
 */
import { writeFileSync } from 'node:fs';

export function nameProcess(title: string): void {
  try {
    process.title = title;
  } catch {
    // not supported here
  }
  if (process.platform !== 'linux') return;
  try {
    // process.title also set comm, cut to 15 bytes ("robbie supervis"): the short name is robbie.
    writeFileSync('/proc/self/comm', 'robbie');
  } catch {
    // not permitted here
  }
}
