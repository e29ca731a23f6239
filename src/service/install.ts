/**
 * Carries out a service plan: writes the unit and the env file (merged with what is there), runs the
 * service manager, and waits until `/health` answers. Every step is printed; --dry-run prints the
 * same steps and does none of them.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseEnv } from 'node:util';
import { terminalSafe } from '../cli/terminal-safe.ts';
import { UserError } from '../errors.ts';
import { probeOnce } from '../supervisor/probe.ts';
import { envFileContent, type PlannedFile, type ServicePlan } from './plan.ts';

export interface InstallOptions {
  dryRun: boolean;
  start: boolean;
  /** Files only, no service manager (--root). */
  filesOnly: boolean;
  out: (line: string) => void;
  healthTimeoutMs: number;
}

function quote(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The env file keeps settings it already has; the new ones win. */
function mergedEnv(file: PlannedFile, updates: Record<string, string>): string {
  let existing: Record<string, string> = {};
  try {
    existing = parseEnv(readFileSync(file.path, 'utf8')) as Record<string, string>;
  } catch {
    // none yet
  }
  return envFileContent({ ...existing, ...updates });
}

function writeFile(file: PlannedFile, content: string): void {
  try {
    mkdirSync(dirname(file.path), { recursive: true, mode: file.kind === 'env' ? 0o700 : 0o755 });
    writeFileSync(file.path, content, { mode: file.mode });
    chmodSync(file.path, file.mode); // an existing file keeps its old mode otherwise
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`no permission to write ${file.path}`);
    throw new UserError(`cannot write ${file.path}: ${code ?? String(err)}`);
  }
}

function run(argv: string[], ignoreFailure: boolean | undefined, out: (line: string) => void): void {
  out(`$ ${quote(argv)}`);
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    if (ignoreFailure) return;
    throw new UserError(
      `cannot run ${argv[0]}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`,
    );
  }
  if (r.status !== 0 && !ignoreFailure) {
    const why = (r.stderr || r.stdout || '').trim().split('\n')[0] ?? '';
    throw new UserError(`${quote(argv)} failed (exit ${r.status})${why ? `: ${why}` : ''}`);
  }
}

export async function install(
  plan: ServicePlan,
  envUpdates: Record<string, string>,
  healthUrl: string,
  opts: InstallOptions,
): Promise<void> {
  const { out } = opts;
  const envContent = mergedEnv(plan.env, envUpdates);
  const verb = opts.dryRun ? 'would write' : 'writing';
  out(`${verb} ${plan.unit.path} (mode 0644)`);
  if (opts.dryRun) out(plan.unit.content.replace(/^/gm, '    '));
  else writeFile(plan.unit, plan.unit.content);
  out(`${verb} ${plan.env.path} (mode 0600)`);
  if (opts.dryRun) out(envContent.replace(/=(.*)$/gm, '=…').replace(/^/gm, '    '));
  else writeFile(plan.env, envContent);
  for (const dir of plan.dirs) {
    out(`${opts.dryRun ? 'would create' : 'creating'} ${dir} (mode 0700)`);
    if (!opts.dryRun) mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  if (opts.filesOnly) {
    out('files only (--root): no service manager contacted; it would run:');
    for (const c of plan.install) if (opts.start || !c.start) out(`    ${quote(c.argv)}`);
    return;
  }
  for (const c of plan.install) {
    if (c.start && !opts.start) continue;
    if (opts.dryRun) out(`would run: ${quote(c.argv)}`);
    else run(c.argv, c.ignoreFailure, out);
  }
  if (opts.dryRun || !opts.start) {
    if (!opts.start) out('installed and enabled, not started (--no-start)');
    for (const n of plan.notes) out(n);
    return;
  }
  out(`waiting for ${healthUrl} …`);
  const deadline = Date.now() + opts.healthTimeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const state = plan.watch ? unitState(plan.watch.show) : undefined;
    const failed = state && unitFailed(state);
    if (failed) {
      const journal = plan.watch ? journalTail(plan.watch.journal) : [];
      if (journal.length)
        out(`last lines of the unit's journal:\n${journal.map((l) => `    ${l}`).join('\n')}`);
      throw new UserError(`the service failed to start: ${failed}`);
    }
    const r = await probeOnce(healthUrl, 2000);
    // Type=notify: the unit is active once the supervisor has seen the API answer too.
    if (r.ok && (!state || state.ActiveState === 'active')) {
      out(`robbie is running: ${healthUrl} answers`);
      for (const n of plan.notes) out(n);
      return;
    }
    last = r.error ?? `HTTP ${r.status}`;
    await sleep(100);
  }
  const journal = plan.watch ? journalTail(plan.watch.journal) : [];
  if (journal.length) out(`last lines of the unit's journal:\n${journal.map((l) => `    ${l}`).join('\n')}`);
  for (const n of plan.notes) out(n);
  throw new UserError(`the service was started but ${healthUrl} did not answer in time (${last})`);
}

const EXIT_MEANING: Record<string, string> = {
  '78': 'the configuration was refused',
  '203': 'the executable could not be run (203/EXEC)',
  '226': 'the sandbox could not be set up (226/NAMESPACE)',
  '217': 'the service user could not be set up (217/USER)',
};

/** The unit's properties from `systemctl show`, or undefined when systemctl cannot say. */
function unitState(showArgv: string[]): Record<string, string> | undefined {
  const r = spawnSync(showArgv[0] as string, showArgv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return undefined;
  return Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;
}

/** Why the unit is not coming up, from `systemctl show` — or undefined while it may still. */
export function unitFailure(showArgv: string[]): string | undefined {
  const p = unitState(showArgv);
  return p && unitFailed(p);
}

function unitFailed(p: Record<string, string>): string | undefined {
  const broken =
    p.ActiveState === 'failed' || p.SubState === 'auto-restart' || (p.Result ?? 'success') !== 'success';
  if (!broken) return undefined;
  const status = p.ExecMainStatus ?? '';
  const how =
    p.ExecMainCode === '2' || p.Result === 'signal'
      ? `killed by signal ${status}`
      : `exit code ${status}${EXIT_MEANING[status] ? ` (${EXIT_MEANING[status]})` : ''}`;
  return `${how}; unit ${p.ActiveState ?? '?'}/${p.SubState ?? '?'}, result ${p.Result ?? '?'}`;
}

function journalTail(argv: string[]): string[] {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).slice(-15).map(terminalSafe) : [];
}

export function uninstall(
  plan: ServicePlan,
  purge: boolean,
  opts: { dryRun: boolean; filesOnly: boolean; out: (line: string) => void },
): void {
  const { out } = opts;
  if (!opts.filesOnly) {
    for (const c of plan.uninstall) {
      if (opts.dryRun) out(`would run: ${quote(c.argv)}`);
      else run(c.argv, c.ignoreFailure, out);
    }
  }
  const remove = [plan.unit.path, ...(purge ? [plan.env.path] : [])];
  for (const path of remove) {
    if (!existsSync(path)) {
      out(`${path}: not there`);
      continue;
    }
    out(`${opts.dryRun ? 'would remove' : 'removing'} ${path}`);
    if (!opts.dryRun) {
      try {
        rmSync(path);
      } catch (err) {
        throw new UserError(`cannot remove ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
  }
  if (!purge && existsSync(plan.env.path)) out(`kept ${plan.env.path} (remove it with --purge)`);
  if (plan.platform === 'linux' && !opts.filesOnly) {
    const reload =
      plan.scope === 'system' ? ['systemctl', 'daemon-reload'] : ['systemctl', '--user', 'daemon-reload'];
    if (opts.dryRun) out(`would run: ${quote(reload)}`);
    else run(reload, true, out);
  }
}
