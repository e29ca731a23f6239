/**
 * `robbie start`, `stop` and `restart` with a service installed: they act through the service
 * manager, so the unit's state stays the truth (a `robbie stop` behind systemd's back would leave
 * the unit dead but enabled; a `robbie start` would run a second, unmanaged supervisor).
 */
import { spawnSync } from 'node:child_process';
import { isRoot } from '../config/paths.ts';
import { UserError } from '../errors.ts';
import { unitFailure } from './install.ts';
import type { InstalledService } from './installed.ts';
import { LAUNCHD_LABEL, systemctlFor, UNIT_NAME, unitStateArgv } from './plan.ts';

export type ManagerVerb = 'start' | 'stop';

/** The command a person would type to do `verb` to the installed service. */
export function managerCommand(service: InstalledService, verb: ManagerVerb): string {
  if (service.unit.endsWith('.plist')) {
    const domain = service.scope === 'system' ? 'system' : `gui/${process.getuid?.() ?? 501}`;
    return verb === 'start'
      ? `launchctl kickstart ${domain}/${LAUNCHD_LABEL}`
      : `launchctl kill TERM ${domain}/${LAUNCHD_LABEL}`;
  }
  const sudo = service.scope === 'system' && !isRoot() ? 'sudo ' : '';
  return `${sudo}${systemctlFor(service.scope).join(' ')} ${verb} robbie`;
}

/**
 * Runs `systemctl [--user] start|stop robbie.service` and waits for it (start returns once the
 * supervisor says READY: the API answers). Refuses, with the command, where robbie cannot do it
 * itself: a system service without root, or launchd (not verified here).
 */
export function throughServiceManager(
  service: InstalledService,
  verb: ManagerVerb,
  out: (line: string) => void,
  /** Settings given on the command line, which the service would not see. */
  given: readonly string[] = [],
): void {
  const command = managerCommand(service, verb);
  if (verb === 'start' && given.length > 0) {
    throw new UserError(
      `robbie runs as the installed ${service.scope} service, whose settings are in ${service.envFile}: set ${given.map((k) => `--${k}`).join(', ')} there (robbie install-service --env KEY=VALUE), or give --home to run another supervisor`,
    );
  }
  if (service.unit.endsWith('.plist') || (service.scope === 'system' && !isRoot())) {
    throw new UserError(
      `robbie runs as the installed ${service.scope} service (${service.unit}): ${verb} it with: ${command}`,
    );
  }
  const argv = [...systemctlFor(service.scope), verb, UNIT_NAME];
  out(`$ ${argv.join(' ')}`);
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw new UserError(`cannot run systemctl: ${(r.error as NodeJS.ErrnoException).code}`);
  if (r.status !== 0) {
    const why = unitFailure(unitStateArgv(service.scope));
    const first = (r.stderr || r.stdout).trim().split('\n')[0] ?? '';
    throw new UserError(`${argv.join(' ')} failed${why ? `: ${why}` : first ? `: ${first}` : ''}`);
  }
}
