/**
 * Alerts by email through a real SMTP server (aiosmtpd, on loopback, with AUTH): a crash loop
 * mails one cool-down and one recovery alert; a slow or absent server never delays a restart;
 * `robbie alert test` says what each channel answered; the SMTP password is in no log line and on
 * no command line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, killAll, ROOT, runRobbie, spawnProc, waitFor, waitHealthy } from '../helpers/process.ts';
import { startSupervisor } from '../helpers/supervisor.ts';

after(killAll);

const PYTHON = ['/usr/bin/python3', 'python3'].find(
  (p) => spawnSync(p, ['-c', 'import aiosmtpd']).status === 0,
);
const why = PYTHON ? undefined : 'no python3 with aiosmtpd (apt-get install python3-aiosmtpd)';
if (why && process.env.CI) throw new Error(`CI=true: the email alert tests must run, but ${why}`);

const PASSWORD = 'Sm7p-S3cret-pw';

interface Mail {
  from: string;
  to: string[];
  subject: string;
  body: string;
}

async function startSmtp(delayS = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'robbie-smtp-'));
  const out = join(dir, 'mail.jsonl');
  const port = await freePort();
  const proc = spawnProc(
    PYTHON as string,
    [join(ROOT, 'tests/fixtures/smtp-server.py'), String(port), out, 'alerter', String(delayS)],
    { env: { ...process.env, SMTP_PASSWORD: PASSWORD } },
  );
  await waitFor('the SMTP server', () => proc.stdout().includes('ready'), 15_000);
  return {
    port,
    url: `smtp://alerter:${PASSWORD}@127.0.0.1:${port}`,
    mails: (): Mail[] =>
      existsSync(out)
        ? readFileSync(out, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Mail)
        : [],
    stop: () => {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function noPasswordOnCommandLines(): void {
  const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
  assert.ok(!ps.includes(PASSWORD), 'the SMTP password is on no command line');
}

describe('alerts by email', { skip: why ? `skipped: ${why}` : false }, () => {
  it('a crash loop mails one alert for the cool-down and one for the recovery', async () => {
    const smtp = await startSmtp();
    const dir = mkdtempSync(join(tmpdir(), 'robbie-loop-'));
    const counter = join(dir, 'starts');
    // Fails at once four times, then stays up.
    const script = `PATH=/usr/bin:/bin; n=$(cat ${counter} 2>/dev/null || echo 0); echo $((n+1)) > ${counter}; [ "$n" -ge 4 ] && exec sleep 60; exit 1`;
    const sup = await startSupervisor(
      [
        '--max-restarts',
        '3',
        '--restart-window',
        '30s',
        '--cooldown',
        '1s',
        '--backoff-max',
        '100ms',
        '--min-uptime',
        '300ms',
        '--alert-email',
        'ops@example.com,oncall@example.com',
      ],
      { env: { ROBBIE_SMTP_URL: smtp.url }, command: ['/bin/sh', '-c', script], waitReady: false },
    );
    try {
      const mails = await waitFor(
        'the cool-down and recovery mails',
        () => {
          const m = smtp.mails();
          return m.some((x) => /recovered/.test(x.subject)) ? m : undefined;
        },
        30_000,
      );
      noPasswordOnCommandLines();
      const cooldown = mails.filter((m) => /cooling down/.test(m.subject));
      const recovery = mails.filter((m) => /recovered/.test(m.subject));
      assert.equal(cooldown.length, 1, mails.map((m) => m.subject).join('\n'));
      assert.equal(recovery.length, 1);
      const mail = cooldown[0] as Mail;
      assert.match(mail.subject, new RegExp(`^\\[robbie\\] ${hostname()} app-0: `));
      assert.deepEqual(mail.to.sort(), ['oncall@example.com', 'ops@example.com']);
      assert.match(mail.body, new RegExp(`host: +${hostname()}`));
      assert.match(mail.body, /child: +app-0/);
      assert.match(mail.body, /more: +robbie status/);
      const log = readFileSync(join(sup.home, 'logs', 'robbie.log'), 'utf8');
      assert.ok(
        !log.includes(PASSWORD) && !sup.proc.stderr().includes(PASSWORD),
        'the password is in no log',
      );
    } finally {
      await sup.stop();
      smtp.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an SMTP server that hangs, or none at all, never delays a restart', async () => {
    const slow = await startSmtp(30);
    const sup = await startSupervisor(['--alert-email', 'ops@example.com'], {
      env: { ROBBIE_SMTP_URL: slow.url, ROBBIE_PROVIDER: 'echo' },
    });
    try {
      await waitHealthy(sup.port, 15_000);
      for (let i = 0; i < 3; i++) {
        const before = await sup.active();
        process.kill(before.pid as number, 'SIGKILL');
        // The crash alert is stuck in the server's DATA for 30 s; the child is replaced anyway.
        await waitFor(
          'the child replaced',
          async () => {
            const now = await sup.active();
            return now.pid !== before.pid ? now : undefined;
          },
          5000,
        );
        await waitHealthy(sup.port, 5000);
      }
    } finally {
      await sup.stop();
      slow.stop();
    }
  });

  it('robbie alert test says what each channel answered, and fails when one fails', async () => {
    const smtp = await startSmtp();
    const hits: string[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        hits.push(body);
        res.end('ok');
      });
    });
    const hookPort = await freePort();
    await new Promise<void>((r) => hook.listen(hookPort, '127.0.0.1', r));
    const home = mkdtempSync(join(tmpdir(), 'robbie-alert-test-'));
    try {
      const env = {
        ROBBIE_HOME: home,
        ROBBIE_SMTP_URL: smtp.url,
        ROBBIE_ALERT_EMAIL: 'ops@example.com',
        ROBBIE_ALERT_WEBHOOK: `http://127.0.0.1:${hookPort}/services/T0/B0/hook-token-xyz`,
      };
      const ok = await runRobbie(['alert', 'test'], env, 30_000);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /^ok +webhook http:\/\/127\.0\.0\.1:\d+\/\*\*\*: answered HTTP 200$/m);
      assert.match(
        ok.stdout,
        /^ok +email to ops@example\.com via smtp:\/\/127\.0\.0\.1:\d+: accepted \(250 /m,
      );
      assert.ok(!ok.stdout.includes(PASSWORD) && !ok.stdout.includes('hook-token-xyz'));
      assert.equal(hits.length, 1);
      assert.match(smtp.mails()[0]?.subject ?? '', /test alert/);
      smtp.stop();
      const down = await runRobbie(['alert', 'test'], env, 30_000);
      assert.equal(down.code, 1);
      assert.match(down.stdout, /^ok +webhook/m);
      assert.match(
        down.stdout,
        /^failed +email to ops@example\.com via smtp:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/m,
      );
      assert.ok(!down.stdout.includes(PASSWORD));
      const none = await runRobbie(['alert', 'test'], { ROBBIE_HOME: home });
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no alert channel is configured/);
      const noSmtp = await runRobbie(['alert', 'test'], { ROBBIE_HOME: home, ROBBIE_ALERT_EMAIL: 'a@b.c' });
      assert.equal(noSmtp.code, 78);
      assert.match(
        noSmtp.stderr,
        /ROBBIE_ALERT_EMAIL \(environment\) needs an SMTP server: set ROBBIE_SMTP_URL/,
      );
    } finally {
      hook.close();
      smtp.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('alerts from the serving child', () => {
  it('the database unreachable past --alert-db-down-after is alerted, through the supervisor', async () => {
    const got: Record<string, unknown>[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        got.push(JSON.parse(body) as Record<string, unknown>);
        res.end('ok');
      });
    });
    const hookPort = await freePort();
    await new Promise<void>((r) => hook.listen(hookPort, '127.0.0.1', r));
    // Nothing listens on port 1: the child serves in degraded mode, its writes going to the outbox.
    const sup = await startSupervisor(
      ['--alert-webhook', `http://127.0.0.1:${hookPort}/hook`, '--alert-db-down-after', '1s', '--no-standby'],
      { env: { DATABASE_URL: 'postgres://robbie:db-pw-77@127.0.0.1:1/robbie', ROBBIE_PROVIDER: 'echo' } },
    );
    try {
      const alert = await waitFor(
        'the database-down alert',
        () => got.find((a) => a.event === 'database-down'),
        30_000,
      );
      assert.match(
        String(alert.text),
        /the database has been unreachable since \S+ \(.+\): requests are answered/,
      );
      assert.equal(alert.more, 'robbie db status');
      assert.ok(!JSON.stringify(got).includes('db-pw-77'));
    } finally {
      await sup.stop();
      hook.close();
    }
  });
});
