/**
 * When a supervisor counts as serving: every active child running and, for the built-in API,
 * `/health` answering. One rule for `robbie start` (which waits for it) and for the READY the
 * supervisor sends systemd.
 */
import { localHealthUrl } from '../server/urls.ts';
import { probeOnce } from './probe.ts';
import type { StatusReport } from './status.ts';
import type { SuperviseConfig } from './supervise-config.ts';

export function healthUrlOf(config: Pick<SuperviseConfig, 'serve'>): string {
  return localHealthUrl(config.serve.host, config.serve.port);
}

export async function serving(
  report: StatusReport,
  config: Pick<SuperviseConfig, 'serve' | 'command'>,
): Promise<boolean> {
  const actives = report.children.filter((c) => c.role === 'active');
  if (actives.length === 0 || actives.some((c) => c.state !== 'running')) return false;
  return config.command !== undefined || (await probeOnce(healthUrlOf(config), 2000)).ok;
}
