/**
 * A real systemd as PID 1 of a container (unshare + pivot_root into a debootstrapped Debian 12,
 * cached as a tar), with the built binary as /usr/local/bin/robbie: what `install-service` meets on
 * a server. See tests/system/*.sh and ../shared/research/real-systemd/.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, requireBinary, sleep } from './process.ts';

const SYSTEM = join(ROOT, 'tests/system');
export const ROOTFS_TAR = process.env.ROBBIE_CI_ROOTFS ?? '/var/cache/robbie-ci/rootfs-bookworm.tar';
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Machine {
  /** A shell command inside, as root (or as `user` through runuser), bounded by `timeoutMs`. */
  sh(script: string, opts?: { timeoutMs?: number }): Result;
  /** The same, failing the test unless it exits 0. */
  ok(script: string, opts?: { timeoutMs?: number }): string;
  /** Waits (bounded) until `script` exits 0. */
  until(what: string, script: string, timeoutMs: number): Promise<Result>;
  poweroff(): Promise<void>;
}

/** Why a systemd cannot be booted here, or undefined when it can. */
export function cannotBoot(): string | undefined {
  if (process.getuid?.() !== 0) return 'booting systemd in a container needs root';
  const packages: Record<string, string> = {
    unshare: 'util-linux',
    nsenter: 'util-linux',
    ip: 'iproute2',
    tar: 'tar',
  };
  for (const [tool, pkg] of Object.entries(packages)) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (apt-get install ${pkg})`;
  }
  return ensureRootfs();
}

/** Builds the cached Debian rootfs tar when missing; says why it cannot, or undefined. */
export function ensureRootfs(): string | undefined {
  if (existsSync(ROOTFS_TAR)) return undefined;
  mkdirSync(join(ROOTFS_TAR, '..'), { recursive: true });
  const r = spawnSync(join(SYSTEM, 'make-rootfs.sh'), [ROOTFS_TAR], { encoding: 'utf8', timeout: 600_000 });
  return r.status === 0
    ? undefined
    : `no Debian rootfs at ${ROOTFS_TAR} and make-rootfs.sh failed: ${r.stderr.trim()}`;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export async function bootSystemd(): Promise<Machine> {
  const dir = mkdtempSync('/var/tmp/robbie-systemd-');
  const rootfs = join(dir, 'root');
  mkdirSync(rootfs);
  const untar = spawnSync('tar', ['-C', rootfs, '-xf', ROOTFS_TAR], { encoding: 'utf8', timeout: 120_000 });
  if (untar.status !== 0) throw new Error(`tar: ${untar.stderr}`);
  cpSync(requireBinary(), join(rootfs, 'usr/local/bin/robbie'));
  const cgroup = `robbie-ci-${process.pid}`;
  const boot = spawn(join(SYSTEM, 'boot-systemd.sh'), [rootfs, cgroup], { stdio: 'ignore', detached: true });
  const gone = new Promise<void>((r) => boot.once('exit', () => r()));
  let leader: number | undefined;
  for (let i = 0; i < 100 && leader === undefined; i++) {
    await sleep(50);
    // unshare forks; its child execs systemd.
    leader = childrenOf(boot.pid as number).find((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd';
      } catch {
        return false;
      }
    });
  }
  const cleanup = async () => {
    boot.kill('SIGKILL');
    spawnSync(join(SYSTEM, 'cg-clean.sh'), [cgroup]);
    rmSync(dir, { recursive: true, force: true });
  };
  if (leader === undefined) {
    await cleanup();
    throw new Error('systemd did not start in the container');
  }
  const pid1 = leader;
  const sh = (script: string, opts: { timeoutMs?: number } = {}): Result => {
    const r = spawnSync(
      'nsenter',
      [
        '-t',
        String(pid1),
        '-a',
        '-r',
        '-w',
        '--',
        'env',
        '-i',
        `PATH=${PATH}`,
        'HOME=/root',
        'SYSTEMD_PAGER=',
        'SYSTEMD_COLORS=0',
        'bash',
        '-c',
        script,
      ],
      { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000 },
    );
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const machine: Machine = {
    sh,
    ok(script, opts) {
      const r = sh(script, opts);
      if (r.code !== 0) throw new Error(`inside: ${script}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    },
    async until(what, script, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let last: Result = { code: null, stdout: '', stderr: '' };
      for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
        last = sh(script, { timeoutMs: Math.max(1000, deadline - Date.now()) });
        if (last.code === 0) return last;
        await sleep(100);
      }
      throw new Error(`timed out waiting for ${what}: ${script}\n${last.stdout}\n${last.stderr}`);
    },
    async poweroff() {
      // SIGRTMIN+4: systemd's "power off" (Node names no real-time signals: kill(1) sends it).
      spawnSync('kill', ['-s', 'SIGRTMIN+4', String(pid1)]);
      await Promise.race([gone, sleep(20_000)]);
      await cleanup();
    },
  };
  try {
    await machine.until(
      'systemd to boot',
      'case $(systemctl is-system-running) in running|degraded) exit 0;; esac; exit 1',
      60_000,
    );
  } catch (err) {
    await machine.poweroff();
    throw err;
  }
  return machine;
}
