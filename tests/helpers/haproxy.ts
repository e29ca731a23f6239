/**
 * HAProxy (Debian's package) in front of robbie instances on loopback: round robin, health checks
 * on /readyz every 200 ms, and retries of a request whose connection failed or was cut — safe here
 * because every request carries a request_id (robbie answers a retry from its record).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, sleep, waitFor } from './process.ts';

const HAPROXY = '/usr/sbin/haproxy';

export function haproxyMissing(): string | undefined {
  return spawnSync('test', ['-x', HAPROXY]).status === 0
    ? undefined
    : `${HAPROXY} is not installed (apt-get install haproxy)`;
}

export interface Balancer {
  port: number;
  stop(): Promise<void>;
}

export async function startHaproxy(backends: number[]): Promise<Balancer> {
  const dir = mkdtempSync('/tmp/robbie-haproxy-');
  const port = await freePort();
  const config = [
    'global',
    '  maxconn 512',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  retries 3',
    '  option redispatch',
    '  option http-buffer-request',
    '  retry-on conn-failure empty-response response-timeout 502 503',
    'frontend api',
    `  bind 127.0.0.1:${port}`,
    '  default_backend robbie',
    'backend robbie',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  default-server inter 200ms fall 2 rise 1',
    ...backends.map((p, i) => `  server robbie${i} 127.0.0.1:${p} check`),
    '',
  ].join('\n');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const check = spawnSync(HAPROXY, ['-c', '-f', file], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy -c: ${check.stdout}${check.stderr}`);
  const proc = spawn(HAPROXY, ['-f', file, '-db'], { stdio: 'ignore' });
  await waitFor(
    'haproxy listening',
    async () => (await fetch(`http://127.0.0.1:${port}/livez`).catch(() => undefined))?.status === 200,
    10_000,
    50,
  );
  return {
    port,
    stop: async () => {
      proc.kill('SIGTERM');
      for (let i = 0; i < 50 && proc.exitCode === null && proc.signalCode === null; i++) await sleep(100);
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
