/**
 * A Docker daemon of the tests' own (Debian's docker.io): its socket, data and state in a temp
 * directory, no iptables, no bridge (containers use the host's network, so they are reached on
 * 127.0.0.1 like everything else here), and the cached Debian rootfs imported as the base image the
 * Dockerfile names, so no registry is needed.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './process.ts';
import { ensureRootfs, ROOTFS_TAR } from './systemd.ts';

export interface Docker {
  /** Runs `docker ARGS`; returns its result (never throws). */
  run(args: string[], timeoutMs?: number): { code: number | null; stdout: string; stderr: string };
  /** Like run, but throws with its stderr unless it exits 0; returns stdout trimmed. */
  ok(args: string[], timeoutMs?: number): string;
  stop(): Promise<void>;
}

const DOCKER = '/usr/bin/docker';

/** Why a Docker daemon cannot run here, or undefined when it can. */
export function dockerMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'running dockerd needs root';
  for (const tool of ['/usr/sbin/dockerd', DOCKER]) {
    if (spawnSync('test', ['-x', tool]).status !== 0)
      return `${tool} is not installed (apt-get install docker.io)`;
  }
  return ensureRootfs();
}

export async function startDocker(baseImage: string): Promise<Docker> {
  const dir = mkdtempSync('/tmp/robbie-docker-');
  const sock = `unix://${join(dir, 'docker.sock')}`;
  const daemon: ChildProcess = spawn(
    '/usr/sbin/dockerd',
    [
      '--host',
      sock,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '--iptables=false',
      '--ip-forward=false',
      '--bridge=none',
    ],
    { stdio: 'ignore' },
  );
  const run = (args: string[], timeoutMs = 120_000) => {
    const r = spawnSync(DOCKER, args, {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, DOCKER_HOST: sock },
    });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
  };
  const ok = (args: string[], timeoutMs?: number) => {
    const r = run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  };
  const stop = async () => {
    daemon.kill('SIGTERM');
    for (let i = 0; i < 100 && daemon.exitCode === null && daemon.signalCode === null; i++) await sleep(100);
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    // Whatever dockerd left mounted under its data root goes before the directory.
    spawnSync('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (run(['version'], 5000).code === 0) break;
    if (daemon.exitCode !== null) break;
    await sleep(100);
  }
  try {
    ok(['version']);
    ok(['import', ROOTFS_TAR, baseImage], 300_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { run, ok, stop };
}
