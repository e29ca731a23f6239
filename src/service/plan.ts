/**
 * What `robbie install-service` will do on a platform and scope: the files (unit or plist, env file)
 * with their modes, and the service-manager commands — computed without touching anything, so that
 * --print and --dry-run show exactly what a real install does.
 */
import { homedir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.ts';
import { selfCommand } from '../runtime/platform.ts';
import {
  envFileLine,
  systemdAssignment,
  systemdListedPath,
  systemdPath,
  systemdWord,
  xml,
} from './escape.ts';
import { fill, template } from './templates.ts';

export type Platform = 'linux' | 'darwin';
export type Scope = 'system' | 'user';

export const UNIT_NAME = 'robbie.service';
export const LAUNCHD_LABEL = 'dev.robbie.supervise';

export interface PlannedFile {
  path: string;
  content: string;
  mode: number;
  /** The env file is merged with what is already there, never overwritten blindly. */
  kind: 'unit' | 'env';
}

export interface ServicePlan {
  platform: Platform;
  scope: Scope;
  unit: PlannedFile;
  env: PlannedFile;
  /** Commands that install, enable and start (in order); `ignoreFailure` ones may fail harmlessly. */
  install: { argv: string[]; ignoreFailure?: boolean; start?: boolean }[];
  uninstall: { argv: string[]; ignoreFailure?: boolean }[];
  /** systemd: how to read the unit's state and its last journal lines while waiting for it. */
  watch?: { show: string[]; journal: string[] } | undefined;
  /** Directories the service needs before it starts, which its manager does not create. */
  dirs: string[];
  /** Where to look afterwards. */
  notes: string[];
  home: string;
  logDir: string;
  /** The dedicated user a system service runs as (none: root, or the user of a user service). */
  serviceUser: string | undefined;
}

export interface PlanInput {
  platform: Platform;
  scope: Scope;
  /** How robbie is run, before its command: this executable (or node/deno + script from source). */
  exec?: { command: string; args: string[] };
  /** Settings for the env file: merged over an existing one by the installer. */
  env: Record<string, string>;
  /** System services only: run as this dedicated user. */
  serviceUser?: string | undefined;
  /** Prefix for every path written (packaging, tests). */
  root?: string | undefined;
  homeDir?: string;
  uid?: number;
  stopTimeoutSec?: number;
}

/** Where an installed service keeps its unit, its env file, its state and its logs. */
export interface ServiceLocations {
  unit: string;
  envFile: string;
  home: string;
  logDir: string;
}

export function serviceLocations(platform: Platform, scope: Scope, homeDir: string): ServiceLocations {
  const system = scope === 'system';
  if (platform === 'linux') {
    const home = system ? '/var/lib/robbie' : join(homeDir, '.local/state/robbie');
    return {
      unit: system
        ? '/etc/systemd/system/robbie.service'
        : join(homeDir, '.config/systemd/user/robbie.service'),
      envFile: system ? '/etc/robbie/robbie.env' : join(homeDir, '.config/robbie/robbie.env'),
      home,
      logDir: system ? '/var/log/robbie' : join(home, 'logs'),
    };
  }
  const home = system
    ? '/Library/Application Support/robbie'
    : join(homeDir, 'Library/Application Support/robbie');
  return {
    unit: system
      ? `/Library/LaunchDaemons/${LAUNCHD_LABEL}.plist`
      : join(homeDir, `Library/LaunchAgents/${LAUNCHD_LABEL}.plist`),
    envFile: join(home, 'robbie.env'),
    home,
    logDir: system ? '/Library/Logs/robbie' : join(homeDir, 'Library/Logs/robbie'),
  };
}

export function systemctlFor(scope: Scope): string[] {
  return scope === 'system' ? ['systemctl'] : ['systemctl', '--user'];
}

/** `systemctl show` of what tells a unit's state: active or not, and how its main process ended. */
export function unitStateArgv(scope: Scope): string[] {
  return [
    ...systemctlFor(scope),
    'show',
    UNIT_NAME,
    '-p',
    'ActiveState,SubState,Result,ExecMainCode,ExecMainStatus,NRestarts',
  ];
}

export function unitJournalArgv(scope: Scope): string[] {
  return [
    'journalctl',
    ...(scope === 'system' ? [] : ['--user']),
    '-u',
    UNIT_NAME,
    '-n',
    '15',
    '-o',
    'cat',
    '--no-pager',
  ];
}

function under(root: string | undefined, path: string): string {
  return root ? join(root, path) : path;
}

export function envFileContent(values: Record<string, string>): string {
  const lines = Object.entries(values)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => envFileLine(k, v));
  return `# robbie settings (read by the service; mode 0600: it may hold DATABASE_URL and keys)\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

export function planService(input: PlanInput): ServicePlan {
  const exec = input.exec ?? selfCommand([]);
  const execArgs = [...exec.args, 'supervise'];
  const home = input.homeDir ?? homedir();
  const timeoutStop = String(input.stopTimeoutSec ?? 30);
  const envContent = envFileContent(input.env);
  if (input.platform === 'linux') {
    const system = input.scope === 'system';
    const {
      unit: unitPath,
      envFile: envPath,
      home: stateHome,
      logDir,
    } = serviceLocations('linux', input.scope, home);
    if (/["'\\]/.test(exec.command)) {
      throw new UserError(
        `systemd refuses an executable whose path holds quotes or backslashes (${exec.command}): move robbie to another directory`,
      );
    }
    const execStart = [exec.command, ...execArgs].map(systemdWord).join(' ');
    // `systemctl reload`: a rolling restart of the children, the supervisor staying up.
    const execReload = [exec.command, ...exec.args, 'reload'].map(systemdWord).join(' ');
    const underHome =
      /^\/(home|root)(\/|$)/.test(exec.command) || execArgs.some((a) => /^\/(home|root)\//.test(a));
    const values: Record<string, string> = system
      ? {
          exec_start: execStart,
          exec_reload: execReload,
          // One reader of the env file, robbie's own (as under launchd): its lines are named in
          // errors, and no second parser with other quoting rules reads the same file.
          environment: [
            systemdAssignment('ROBBIE_HOME', stateHome),
            systemdAssignment('ROBBIE_LOG_DIR', logDir),
            systemdAssignment('ROBBIE_ENV_FILE', envPath),
          ].join(' '),
          working_directory: systemdPath(stateHome),
          user_lines: input.serviceUser ? `User=${input.serviceUser}\nGroup=${input.serviceUser}\n` : '',
          timeout_stop: timeoutStop,
          // A binary under /home or /root must stay readable for the service to start at all.
          protect_home: underHome ? 'read-only' : 'yes',
        }
      : {
          exec_start: execStart,
          exec_reload: execReload,
          // Absolute: %S is ~/.config in a user unit before systemd 254, and every command
          // looks for the state in ~/.local/state/robbie.
          environment: [
            systemdAssignment('ROBBIE_HOME', stateHome),
            systemdAssignment('ROBBIE_ENV_FILE', envPath),
          ].join(' '),
          working_directory: systemdPath(stateHome),
          state_dir: systemdListedPath(stateHome),
          timeout_stop: timeoutStop,
        };
    const ctl = systemctlFor(input.scope);
    const user = userInfo().username;
    return {
      platform: 'linux',
      scope: input.scope,
      serviceUser: system ? input.serviceUser : undefined,
      home: stateHome,
      logDir,
      // A user unit's StateDirectory= is under ~/.config before systemd 254, and ReadWritePaths=
      // needs the directory to exist: the installer creates it.
      dirs: system ? [] : [under(input.root, stateHome)],
      watch: { show: unitStateArgv(input.scope), journal: unitJournalArgv(input.scope) },
      unit: {
        path: under(input.root, unitPath),
        content: fill(template(system ? 'systemd-system' : 'systemd-user'), values),
        mode: 0o644,
        kind: 'unit',
      },
      env: { path: under(input.root, envPath), content: envContent, mode: 0o600, kind: 'env' },
      install: [
        ...(system && input.serviceUser
          ? [
              {
                argv: [
                  'useradd',
                  '--system',
                  '--user-group',
                  '--no-create-home',
                  '--home-dir',
                  stateHome,
                  '--shell',
                  '/usr/sbin/nologin',
                  input.serviceUser,
                ],
                ignoreFailure: true,
              },
              // The service user reads its own settings (robbie status, health, logs as that user).
              { argv: ['chgrp', input.serviceUser, dirname(envPath), envPath] },
              { argv: ['chmod', '0750', dirname(envPath)] },
              { argv: ['chmod', '0640', envPath] },
            ]
          : []),
        { argv: [...ctl, 'daemon-reload'] },
        { argv: [...ctl, 'enable', UNIT_NAME] },
        // restart starts a stopped service and applies an updated unit to a running one.
        // A failure from an earlier attempt must not be read as this start's.
        { argv: [...ctl, 'reset-failed', UNIT_NAME], ignoreFailure: true, start: true },
        // --no-block: the installer watches the unit itself and reports a failure at once.
        { argv: [...ctl, 'restart', '--no-block', UNIT_NAME], start: true },
      ],
      uninstall: [{ argv: [...ctl, 'disable', '--now', UNIT_NAME], ignoreFailure: true }],
      notes: [
        `logs:    ${system ? 'journalctl -u robbie -f' : 'journalctl --user -u robbie -f'}  or  robbie logs -f`,
        `status:  ${system ? 'systemctl status robbie' : 'systemctl --user status robbie'}  and  robbie status`,
        ...(system
          ? []
          : [
              `boot:    a user service starts at boot only with lingering on: loginctl enable-linger ${user}`,
            ]),
      ],
    };
  }

  // macOS: a LaunchDaemon as root, a LaunchAgent otherwise.
  const system = input.scope === 'system';
  const {
    unit: plistPath,
    envFile: envPath,
    home: stateHome,
    logDir,
  } = serviceLocations('darwin', input.scope, home);
  const domain = system
    ? 'system'
    : `gui/${input.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 501)}`;
  const target = `${domain}/${LAUNCHD_LABEL}`;
  // launchd has no env-file setting: robbie reads it itself (ROBBIE_ENV_FILE), so secrets stay out
  // of the 0644 plist.
  const argv = [exec.command, ...execArgs];
  const indent = (n: number) => ' '.repeat(n);
  const values: Record<string, string> = {
    label: LAUNCHD_LABEL,
    program_arguments: argv.map((a) => `${indent(4)}<string>${xml(a)}</string>`).join('\n'),
    working_directory: xml(stateHome),
    environment: [
      ['ROBBIE_HOME', stateHome],
      ['ROBBIE_LOG_DIR', logDir],
      ['ROBBIE_ENV_FILE', envPath],
      // robbie.log has everything; the console copy would grow without bound in launchd's file.
      ['ROBBIE_LOG_FORMAT', 'none'],
      ['PATH', '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'],
    ]
      .map(
        ([k, v]) =>
          `${indent(4)}<key>${xml(k as string)}</key>\n${indent(4)}<string>${xml(v as string)}</string>`,
      )
      .join('\n'),
    timeout_stop: timeoutStop,
    stdout_path: xml(join(logDir, 'launchd-stdout.log')),
    stderr_path: xml(join(logDir, 'launchd-stderr.log')),
    user_keys:
      system && input.serviceUser
        ? `  <key>UserName</key>\n  <string>${xml(input.serviceUser)}</string>\n  <key>GroupName</key>\n  <string>${xml(input.serviceUser)}</string>\n`
        : '',
  };
  const plist = under(input.root, plistPath);
  return {
    platform: 'darwin',
    scope: input.scope,
    serviceUser: input.scope === 'system' ? input.serviceUser : undefined,
    home: stateHome,
    logDir,
    dirs: [],
    unit: { path: plist, content: fill(template('launchd'), values), mode: 0o644, kind: 'unit' },
    env: { path: under(input.root, envPath), content: envContent, mode: 0o600, kind: 'env' },
    install: [
      // bootstrap refuses a job that is already loaded: unload the old definition first.
      { argv: ['launchctl', 'bootout', target], ignoreFailure: true },
      { argv: ['launchctl', 'enable', target] },
      { argv: ['launchctl', 'bootstrap', domain, plistPath], start: true },
      { argv: ['launchctl', 'kickstart', '-k', target], start: true },
    ],
    uninstall: [{ argv: ['launchctl', 'bootout', target], ignoreFailure: true }],
    notes: [`logs:    robbie logs -f`, `status:  launchctl print ${target}  and  robbie status`],
  };
}
