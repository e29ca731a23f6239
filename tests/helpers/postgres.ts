/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a temp dir (as user
 * `postgres` when running as root), a random port on 127.0.0.1, its unix socket in the temp dir, a
 * password for TCP connections (so tests can check it never leaks). It can be stopped and started
 * again to stage outages.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './process.ts';

export interface PgCluster {
  url: string;
  port: number;
  password: string;
  dir: string;
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  psql(sql: string, db?: string): string;
  /** Another session holds `table` in ACCESS EXCLUSIVE mode for `seconds`; resolves when it lets go. */
  lockFor(table: string, seconds: number): Promise<void>;
  /** Runs one of the server's tools (pgbench, …) as the cluster's owner; returns its stdout. */
  tool(name: string, args: string[]): string;
  destroy(): void;
}

function binDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin/initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : undefined;
}

/** Why PostgreSQL cannot run here, or undefined when it can. */
export function postgresMissing(): string | undefined {
  return binDir()
    ? undefined
    : 'PostgreSQL server binaries (initdb, pg_ctl) are not installed under /usr/lib/postgresql (apt-get install postgresql)';
}

function uidOf(user: string): { uid: number; gid: number } | undefined {
  const u = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (u.status !== 0) return undefined;
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

export async function startCluster(opts: { fsync?: boolean } = {}): Promise<PgCluster> {
  const bin = binDir();
  if (!bin) throw new Error(postgresMissing());
  const dir = mkdtempSync(join(tmpdir(), 'robbie-pg-'));
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const owner = asRoot ? uidOf('postgres') : undefined;
  if (asRoot && !owner)
    throw new Error('running as root, but there is no postgres user to run the cluster as');
  const password = `pw-${Math.random().toString(36).slice(2)}-x`;
  writeFileSync(join(dir, 'pw'), password);
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(join(dir, 'pw'), owner.uid, owner.gid);
  }
  const run = (tool: string, args: string[], check = true) => {
    const cmd = asRoot ? 'runuser' : join(bin, tool);
    const argv = asRoot ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args;
    const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: dir, timeout: 60_000 });
    if (check && r.status !== 0) throw new Error(`${tool} failed: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const data = join(dir, 'data');
  run('initdb', [
    '-D',
    data,
    '-U',
    'robbie',
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    `--pwfile=${join(dir, 'pw')}`,
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  const port = await freePort();
  const settings = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses='127.0.0.1'", '-c max_connections=200'];
  // fsync off only: the machine does not crash in a test, and a commit is still flushed to the
  // server's WAL before it is acknowledged (synchronous_commit stays on, so an immediate stop loses
  // no committed transaction).
  if (opts.fsync === false) settings.push('-c fsync=off');
  const start = () =>
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      settings.join(' '),
      'start',
    ]);
  start();
  const psql = (sql: string, db = 'robbie') =>
    run('psql', [
      '-h',
      dir,
      '-p',
      String(port),
      '-U',
      'robbie',
      '-d',
      db,
      '-At',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      sql,
    ]).trim();
  psql('create database robbie', 'postgres');
  return {
    url: `postgres://robbie:${password}@127.0.0.1:${port}/robbie`,
    port,
    password,
    dir,
    stop: (mode = 'fast') => {
      run('pg_ctl', ['-D', data, '-w', '-t', '60', '-m', mode, 'stop']);
    },
    start: () => {
      start();
    },
    psql,
    lockFor: (table, seconds) =>
      new Promise<void>((resolve, reject) => {
        const sql = `begin; lock table ${table} in access exclusive mode; select pg_sleep(${seconds}); commit;`;
        const args = [
          '-h',
          dir,
          '-p',
          String(port),
          '-U',
          'robbie',
          '-d',
          'robbie',
          '-v',
          'ON_ERROR_STOP=1',
          '-c',
          sql,
        ];
        const cmd = asRoot ? 'runuser' : join(bin, 'psql');
        const argv = asRoot ? ['-u', 'postgres', '--', join(bin, 'psql'), ...args] : args;
        const p = spawn(cmd, argv, { cwd: dir, stdio: 'ignore' });
        const timer = setTimeout(() => p.kill('SIGKILL'), (seconds + 30) * 1000);
        p.on('error', reject);
        p.on('exit', (code) => {
          clearTimeout(timer);
          if (code === 0) resolve();
          else reject(new Error(`the lock session exited ${code}`));
        });
      }),
    tool: (name, args) => run(name, args),
    destroy: () => {
      run('pg_ctl', ['-D', data, '-w', '-m', 'immediate', 'stop'], false);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * For a test that needs PostgreSQL: the cluster, or — only on a developer machine, never in CI —
 * undefined after printing why it is skipped.
 */
export async function clusterOrSkip(t: { skip: (msg: string) => void }): Promise<PgCluster | undefined> {
  const missing = postgresMissing();
  if (missing) {
    if (process.env.CI) throw new Error(`${missing} (CI=true: this test must run)`);
    t.skip(`skipped: ${missing}`);
    return undefined;
  }
  return startCluster({ fsync: false });
}
