/** `robbie install-service` and `robbie uninstall-service`: systemd units and launchd plists. */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { defineCommand } from 'citty';
import { type EnvFile, EnvFileError, readEnvFile } from '../../config/env-file.ts';
import { durationCodec } from '../../config/kinds.ts';
import { isRoot } from '../../config/paths.ts';
import { resolveSettings } from '../../config/resolve.ts';
import { registerSettingSecrets } from '../../config/secrets.ts';
import { fromFile } from '../../config/sources.ts';
import { unknownSettings } from '../../config/unknown-settings.ts';
import { flagValue } from '../../config/values.ts';
import { ConfigError, UsageError, UserError } from '../../errors.ts';
import { selfCommand } from '../../runtime/platform.ts';
import { serveConfig } from '../../server/serve-config.ts';
import { healthUrl as serviceHealthUrl } from '../../server/urls.ts';
import { install, uninstall } from '../../service/install.ts';
import { type Platform, planService, type Scope, type ServicePlan } from '../../service/plan.ts';
import { commandData } from '../parse-args.ts';

const common = {
  user: {
    type: 'boolean',
    description: 'A user service (systemd --user, or a LaunchAgent) instead of a system one',
  },
  platform: {
    type: 'string',
    description: 'Render for linux or darwin (default: this machine)',
    valueHint: 'os',
  },
  root: {
    type: 'string',
    description: 'Write the files under this directory and contact no service manager',
    valueHint: 'dir',
  },
  'dry-run': { type: 'boolean', description: 'Print every file and command, change nothing' },
} as const;

function platformOf(text: string | undefined): Platform {
  const p = text ?? process.platform;
  if (p === 'linux' || p === 'darwin') return p;
  if (text) throw new UsageError(`--platform must be linux or darwin (got '${text}')`);
  throw new UserError(
    `robbie installs services on Linux (systemd) and macOS (launchd), not on ${process.platform}`,
  );
}

/** `--env KEY=VALUE` pairs, as a file-like source whose values can be reported as "(--env)". */
function envPairs(pairs: readonly string[]): EnvFile {
  const entries = new Map<string, { value: string; line: number }>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env takes KEY=VALUE (got '${pair}')`);
    entries.set(pair.slice(0, eq), { value: pair.slice(eq + 1), line: 0 });
  }
  return { path: '--env', entries };
}

/**
 * The service's settings: the `--env-file` given, then every `--env` over it. They are checked
 * here, so that a wrong one is refused before it is installed (exit 2) rather than by the
 * service at its start (exit 78, and a unit that does not start).
 */
function serviceSettings(
  envFile: string | undefined,
  pairs: readonly string[],
): { env: Record<string, string>; url: string } {
  const files: EnvFile[] = [envPairs(pairs)];
  if (envFile) {
    try {
      files.push(readEnvFile(envFile, (line) => process.stderr.write(`robbie: warning: ${line}\n`)));
    } catch (err) {
      if (err instanceof EnvFileError)
        throw new UsageError(`--env-file cannot be read: ${envFile}: ${err.code}`);
      throw err;
    }
  }
  const sources = files.map(fromFile);
  for (const w of unknownSettings(sources)) process.stderr.write(`robbie: warning: ${w}\n`);
  try {
    const settings = resolveSettings(sources);
    registerSettingSecrets(settings);
    serveConfig(settings);
    return { env: { ...settings.fileEnv }, url: serviceHealthUrl(settings) };
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/** Why a user who is neither owner nor group could not run `path`, or undefined when they can. */
function blockedForOthers(path: string): string | undefined {
  const parts = path.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const at = `/${parts.slice(0, i + 1).join('/')}`;
    let mode: number;
    try {
      mode = statSync(at).mode;
    } catch {
      return undefined; // not there: the service manager says so in its own words
    }
    const last = i === parts.length - 1;
    const needs = last ? 0o005 : 0o001;
    if ((mode & needs) !== needs)
      return `${at} is mode ${(mode & 0o777).toString(8).padStart(4, '0')}${last ? '' : ' (others may not enter it)'}`;
  }
  return undefined;
}

/** A dedicated service user must be able to run the executable (else: 203/EXEC and a restart loop). */
function checkRunnableBy(user: string): void {
  const self = selfCommand(['supervise']);
  for (const path of [self.command, ...self.args.filter((a) => a.startsWith('/'))]) {
    const why = blockedForOthers(path);
    if (why)
      throw new UserError(
        `the service user ${user} cannot run ${path} (${why}): put robbie where every user can run it, e.g. install -m 0755 ${path} /usr/local/bin/robbie, and run /usr/local/bin/robbie install-service --create-user`,
      );
  }
}

/** A systemd unit gives its service a private /tmp and /var/tmp (PrivateTmp=yes): robbie must live elsewhere. */
function checkNotHidden(platform: Platform): void {
  if (platform !== 'linux') return;
  const self = selfCommand(['supervise']);
  const hidden = [self.command, ...self.args].find((p) => /^\/(var\/)?tmp(\/|$)/.test(p));
  if (hidden) {
    throw new UserError(
      `the service could not run ${hidden}: systemd gives it a private /tmp and /var/tmp (PrivateTmp=yes); install robbie elsewhere first, e.g. install -m 0755 ${hidden} /usr/local/bin/robbie, and run /usr/local/bin/robbie install-service`,
    );
  }
}

/** Refuses, in one line, an install that cannot work here. */
function checkCanInstall(platform: Platform, scope: Scope): void {
  if (platform !== process.platform) {
    throw new UsageError(
      `a ${platform} service cannot be installed on ${process.platform}: use --print, --dry-run or --root`,
    );
  }
  if (scope === 'system' && !isRoot()) {
    throw new UserError(
      'installing a system service needs root: run it as root, or add --user for a user service',
    );
  }
  if (platform === 'darwin') {
    if (spawnSync('launchctl', ['version']).error)
      throw new UserError('launchctl is not available on this machine');
    return;
  }
  if (spawnSync('systemctl', ['--version']).error)
    throw new UserError('systemctl is not available: systemd is not installed here');
  if (scope === 'system' && !existsSync('/run/systemd/system')) {
    throw new UserError(
      'systemd is not running on this machine (no /run/systemd/system): use --print to get the unit',
    );
  }
  if (scope === 'user') {
    const r = spawnSync('systemctl', ['--user', 'is-system-running'], { encoding: 'utf8', timeout: 10_000 });
    if (/Failed to connect|No medium found|XDG_RUNTIME_DIR/i.test(`${r.stderr}${r.stdout}`)) {
      throw new UserError(
        'no systemd user manager is running for this user: log in through a session, or install a system service as root',
      );
    }
  }
}

/** The dedicated user a system service on Linux runs as, unless `--as-root` keeps it root. */
const SERVICE_USER = 'robbie';

function plan(
  args: { user?: boolean; platform?: string; root?: string; 'create-user'?: boolean; 'as-root'?: boolean },
  env: Record<string, string>,
): ServicePlan {
  const platform = platformOf(args.platform);
  const scope: Scope = args.user ? 'user' : 'system';
  if (args['create-user'] && scope === 'user')
    throw new UsageError('--create-user is for system services, not with --user');
  if (args['create-user'] && args['as-root'])
    throw new UsageError('--create-user and --as-root contradict each other: give one');
  // launchd's daemons keep their old default (root) unless asked.
  const dedicated = platform === 'linux' || args['create-user'] === true;
  const serviceUser = scope === 'system' && dedicated && !args['as-root'] ? SERVICE_USER : undefined;
  return planService({ platform, scope, env, serviceUser, root: args.root });
}

const out = (line: string) => process.stdout.write(`${line}\n`);

export const installService = defineCommand({
  meta: {
    name: 'install-service',
    description: 'Install robbie as a systemd service (Linux) or launchd job (macOS), enable and start it',
  },
  args: {
    ...common,
    print: { type: 'boolean', description: 'Print the unit (or plist) for this machine and exit' },
    'no-start': { type: 'boolean', description: 'Install and enable, but do not start' },
    env: {
      type: 'string',
      description: 'A setting for the env file, KEY=VALUE (repeatable)',
      valueHint: 'KEY=VALUE',
    },
    'env-file': { type: 'string', description: 'Take settings from this KEY=VALUE file', valueHint: 'path' },
    'create-user': {
      type: 'boolean',
      description: 'Run the system service as a dedicated user "robbie", created if missing (the default)',
    },
    'as-root': {
      type: 'boolean',
      description: 'Run the system service as root rather than as the dedicated user "robbie"',
    },
    'health-timeout': {
      type: 'string',
      description: 'How long to wait for /health after starting (default 30s)',
      valueHint: 'duration',
    },
  },
  async run({ args, data }) {
    const { env, url: healthUrl } = serviceSettings(
      args['env-file'] as string | undefined,
      commandData(data).lists.env ?? [],
    );
    const p = plan(args, env);
    if (args.print) {
      process.stdout.write(p.unit.content);
      return;
    }
    const filesOnly = args.root !== undefined;
    if (!filesOnly && !args['dry-run']) {
      checkNotHidden(p.platform);
      checkCanInstall(p.platform, p.scope);
    }
    if (p.serviceUser && !filesOnly) checkRunnableBy(p.serviceUser);
    await install(p, env, healthUrl, {
      dryRun: args['dry-run'] === true,
      start: args['no-start'] !== true,
      filesOnly,
      out,
      healthTimeoutMs: flagValue(
        'health-timeout',
        args['health-timeout'] as string | undefined,
        durationCodec(1000),
        30_000,
      ),
    });
  },
});

export const uninstallService = defineCommand({
  meta: {
    name: 'uninstall-service',
    description: 'Stop, disable and remove the service that install-service created',
  },
  args: {
    ...common,
    purge: { type: 'boolean', description: 'Also remove the env file (it may hold DATABASE_URL and keys)' },
  },
  run({ args }) {
    const p = plan(args, {});
    const filesOnly = args.root !== undefined;
    if (!filesOnly && !args['dry-run']) checkCanInstall(p.platform, p.scope);
    uninstall(p, args.purge === true, { dryRun: args['dry-run'] === true, filesOnly, out });
  },
});
