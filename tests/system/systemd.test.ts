/**
 * install-service against a real systemd 252 booted as PID 1 of a container: the system unit, the
 * dedicated user, the user unit with linger, the watchdog, and every command as root and as the
 * service user. CI=true fails when systemd cannot be booted; elsewhere the suite skips with why.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sleep } from '../helpers/process.ts';
import { bootSystemd, cannotBoot, type Machine } from '../helpers/systemd.ts';

const why = cannotBoot();
if (why && process.env.CI) throw new Error(`CI=true: the systemd suite must run, but ${why}`);

interface Status {
  supervisor: { pid: number; home: string };
  children: { id: string; role: string; pid: number | null; state: string }[];
}

describe('robbie under a real systemd', { skip: why ? `skipped: ${why}` : false }, () => {
  let m: Machine;
  const show = (prop: string, user = '') => m.ok(`systemctl ${user} show robbie -p ${prop} --value`).trim();
  const status = (prefix = ''): Status => JSON.parse(m.ok(`${prefix} robbie status --json`)) as Status;
  const activePid = (): number | null => status().children.find((c) => c.id === 'serve-0')?.pid ?? null;
  const robbieProcs = () => Number(m.sh('ps -eo comm= | grep -cx robbie').stdout.trim());

  before(async () => {
    m = await bootSystemd();
  });
  after(async () => {
    await m?.poweroff();
  });

  it('install-service: the system unit is active and healthy when it returns, shown as robbie', () => {
    const t0 = Date.now();
    const out = m.ok('robbie install-service --env ROBBIE_PROVIDER=echo');
    assert.match(out, /robbie is running: http:\/\/127\.0\.0\.1:8000\/health answers/);
    assert.ok(Date.now() - t0 < 20_000);
    assert.equal(show('ActiveState'), 'active');
    assert.equal(show('Type'), 'notify');
    assert.equal(show('NRestarts'), '0');
    const st = m.ok('systemctl status robbie --no-pager -l');
    assert.match(st, /Main PID: \d+ \(robbie\)/);
    assert.match(st, /"robbie supervise"/);
    assert.match(st, /"robbie serve"/);
    // READY came once the API answered: the status text the supervisor sent.
    assert.match(show('StatusText'), /^serving http:\/\/127\.0\.0\.1:8000$/);
    assert.match(show('WatchdogUSec'), /^10s$/);
    // As root, by default, as a dedicated user of its own.
    assert.equal(m.ok(`ps -o user= -p ${show('MainPID')}`).trim(), 'robbie');
  });

  it('robbie status, health, config and logs find the service with no flags, as root', () => {
    assert.equal(status().supervisor.home, '/var/lib/robbie');
    assert.match(m.ok('robbie health'), /^healthy \(HTTP 200\) http:\/\/127\.0\.0\.1:8000\/health/);
    const config = JSON.parse(m.ok('robbie config --json')) as {
      settings: Record<string, { value: unknown; origin: string }>;
    };
    assert.equal(config.settings.provider?.value, 'echo');
    // Asked of the running supervisor, which says where it got it.
    assert.match(
      config.settings.provider?.origin ?? '',
      /^running supervisor \(pid \d+\): file \/etc\/robbie\/robbie\.env:\d+$/,
    );
    assert.match(m.ok('robbie logs -n 50'), /supervisor started/);
    const journal = m.ok('journalctl -u robbie --no-pager -o cat');
    assert.match(journal, /supervisor started/);
    assert.doesNotMatch(journal, /=undefined/);
  });

  it('kill -9 of the child: replaced by the supervisor, no unit restart', async () => {
    const before = activePid();
    assert.ok(before);
    m.ok(`kill -9 ${before}`);
    let now: number | null = before;
    for (let i = 0; i < 100 && (now === before || now === null); i++) {
      await sleep(100);
      now = activePid();
    }
    assert.ok(now && now !== before, `serve-0 still ${now}`);
    m.ok('robbie health');
    assert.equal(show('NRestarts'), '0');
  });

  it('kill -9 of the supervisor: systemd starts it again', async () => {
    const main = show('MainPID');
    m.ok(`kill -9 ${main}`);
    await m.until(
      'the unit to be back',
      `[ "$(systemctl show robbie -p MainPID --value)" != ${main} ] && [ "$(systemctl is-active robbie)" = active ] && robbie health >/dev/null`,
      20_000,
    );
    assert.equal(show('NRestarts'), '1');
  });

  it('SIGSTOP of the supervisor: the watchdog kills it and systemd starts it again', async () => {
    const main = show('MainPID');
    const t0 = Date.now();
    m.ok(`kill -STOP ${main}`);
    await m.until(
      'the watchdog to replace the supervisor',
      `[ "$(systemctl show robbie -p MainPID --value)" != ${main} ] && [ "$(systemctl is-active robbie)" = active ] && robbie health >/dev/null`,
      40_000,
    );
    const took = Date.now() - t0;
    assert.ok(took > 5_000, `not before the watchdog timeout (${took} ms)`);
    assert.match(m.ok('journalctl -u robbie --no-pager -o cat'), /[Ww]atchdog timeout/);
  });

  it('systemctl reload replaces the child, the supervisor staying, and the API answering', () => {
    const main = show('MainPID');
    const before = activePid();
    m.ok('systemctl reload robbie', { timeoutMs: 60_000 });
    const after = activePid();
    assert.ok(after && after !== before, `serve-0 was ${before}, is ${after}`);
    assert.equal(show('MainPID'), main, 'the same supervisor');
    assert.equal(show('ActiveState'), 'active');
    m.ok('robbie health');
  });

  it('systemctl restart and stop are clean: nothing left, port closed, status says not running', () => {
    m.ok('systemctl restart robbie', { timeoutMs: 60_000 });
    assert.equal(show('ActiveState'), 'active');
    m.ok('robbie health');
    m.ok('systemctl stop robbie', { timeoutMs: 60_000 });
    assert.equal(show('Result'), 'success');
    assert.equal(robbieProcs(), 0);
    assert.equal(m.sh('robbie health').code, 1);
    assert.equal(m.sh('robbie status').code, 3);
  });

  it('robbie start and stop act through the unit', () => {
    const start = m.ok('robbie start', { timeoutMs: 60_000 });
    assert.match(start, /\$ systemctl start robbie\.service/);
    assert.equal(show('ActiveState'), 'active');
    m.ok('robbie health');
    const refused = m.sh('robbie start --port 9000');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /settings are in \/etc\/robbie\/robbie\.env: set --port there/);
    m.ok('robbie stop', { timeoutMs: 60_000 });
    assert.equal(show('ActiveState'), 'inactive');
    assert.equal(robbieProcs(), 0);
  });

  it('a unit that exits 78 is reported by install-service within 3 s, with its journal lines', () => {
    // A hand-edited env file: install-service checks only the settings it is given.
    m.ok("echo 'ROBBIE_COOLDOWN=later' >> /etc/robbie/robbie.env");
    const t0 = Date.now();
    const r = m.sh('robbie install-service');
    const took = Date.now() - t0;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(took < 3000, `reported after ${took} ms`);
    assert.match(r.stderr, /the service failed to start: exit code 78 \(the configuration was refused\)/);
    assert.match(
      r.stdout,
      /last lines of the unit's journal:[\s\S]*ROBBIE_COOLDOWN \(\/etc\/robbie\/robbie\.env line \d+\) must be a duration/,
    );
    m.ok("sed -i '/ROBBIE_COOLDOWN/d' /etc/robbie/robbie.env");
  });

  it('systemd-analyze rates the installed unit 2.0 or better', () => {
    const out = m.ok('systemd-analyze security robbie.service --no-pager');
    const score = Number(/Overall exposure level for robbie\.service: ([\d.]+)/.exec(out)?.[1]);
    assert.ok(score <= 2.0, `exposure ${score}`);
    process.stdout.write(`# systemd-analyze security robbie.service: ${score}\n`);
  });

  it('uninstall-service: stopped, disabled, removed; --purge removes the env file', () => {
    m.ok('robbie start', { timeoutMs: 60_000 });
    m.ok('robbie uninstall-service');
    assert.equal(m.sh('systemctl cat robbie').code === 0, false);
    assert.equal(robbieProcs(), 0);
    assert.ok(m.sh('test -e /etc/robbie/robbie.env').code === 0, 'kept without --purge');
    m.ok('robbie uninstall-service --purge');
    assert.ok(m.sh('test -e /etc/robbie/robbie.env').code !== 0);
  });

  it('robbie start as root with no service installed: logs where it says, and robbie logs finds them', () => {
    m.ok('rm -rf /var/lib/robbie /var/log/robbie');
    const out = m.ok('ROBBIE_PROVIDER=echo robbie start', { timeoutMs: 60_000 });
    assert.match(out, /logs: \/var\/log\/robbie\/robbie\.log/);
    assert.ok(m.sh('test -s /var/log/robbie/robbie.log').code === 0, 'the log is where start said');
    assert.match(m.ok('robbie logs -n 20'), /supervisor started/);
    m.ok('robbie stop', { timeoutMs: 60_000 });
    assert.equal(robbieProcs(), 0);
  });

  it('--create-user: runs as robbie; every command works as root and as the service user', () => {
    m.ok('rm -rf /var/lib/robbie /var/log/robbie /etc/robbie');
    m.ok('robbie install-service --create-user --env PORT=8100 --env ROBBIE_PROVIDER=echo');
    assert.equal(m.ok(`ps -o user= -p ${show('MainPID')}`).trim(), 'robbie');
    for (const as of ['', 'runuser -u robbie --']) {
      assert.equal(status(as).supervisor.home, '/var/lib/robbie', `status ${as}`);
      assert.match(m.ok(`${as} robbie health`), /:8100\/health/, `health ${as}`);
      assert.match(m.ok(`${as} robbie logs -n 20`), /supervisor/, `logs ${as}`);
      const c = JSON.parse(m.ok(`${as} robbie config --json`)) as { listen: string };
      assert.equal(c.listen, '127.0.0.1:8100', `config ${as}`);
    }
    const out = m.ok('systemd-analyze security robbie.service --no-pager');
    const score = Number(/Overall exposure level for robbie\.service: ([\d.]+)/.exec(out)?.[1]);
    assert.ok(score <= 2.0, `exposure ${score}`);
    process.stdout.write(`# systemd-analyze security robbie.service --create-user: ${score}\n`);
    m.ok('robbie uninstall-service --purge');
  });

  it('--as-root keeps the service root', () => {
    m.ok('rm -rf /var/lib/robbie /var/log/robbie /etc/robbie');
    m.ok('robbie install-service --as-root --env ROBBIE_PROVIDER=echo');
    assert.equal(m.ok(`ps -o user= -p ${show('MainPID')}`).trim(), 'root');
    m.ok('robbie health');
    const out = m.ok('systemd-analyze security robbie.service --no-pager');
    const score = Number(/Overall exposure level for robbie\.service: ([\d.]+)/.exec(out)?.[1]);
    assert.ok(score <= 2.0, `exposure ${score}`);
    process.stdout.write(`# systemd-analyze security robbie.service --as-root: ${score}\n`);
    m.ok('robbie uninstall-service --purge');
  });

  it('--create-user refuses a binary the service user cannot run, with the fix', () => {
    m.ok('install -m 0700 -d /root/bin && cp /usr/local/bin/robbie /root/bin/robbie');
    const r = m.sh('/root/bin/robbie install-service --create-user');
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /the service user robbie cannot run \/root\/bin\/robbie .*install -m 0755 \/root\/bin\/robbie \/usr\/local\/bin\/robbie/,
    );
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.ok(m.sh('test -e /etc/systemd/system/robbie.service').code !== 0, 'nothing installed');
  });

  it('--user with linger: the user unit keeps its state where every command looks', async () => {
    m.ok('id alice >/dev/null 2>&1 || useradd -m -s /bin/bash alice; loginctl enable-linger alice');
    const uid = m.ok('id -u alice').trim();
    await m.until('alice’s user manager', `test -S /run/user/${uid}/systemd/private`, 20_000);
    const as = `setpriv --reuid=alice --regid=alice --init-groups env -i PATH=$PATH HOME=/home/alice USER=alice XDG_RUNTIME_DIR=/run/user/${uid}`;
    m.ok(
      `${as} robbie install-service --user --env PORT=8200 --env ROBBIE_PROVIDER=echo --health-timeout 20s`,
      {
        timeoutMs: 60_000,
      },
    );
    assert.equal(status(as).supervisor.home, '/home/alice/.local/state/robbie');
    assert.match(m.ok(`${as} robbie health`), /:8200\/health/);
    const out = m.ok(`${as} systemd-analyze --user security robbie.service --no-pager`);
    const score = Number(/Overall exposure level for robbie\.service: ([\d.]+)/.exec(out)?.[1]);
    assert.ok(score <= 2.0, `exposure ${score}`);
    process.stdout.write(`# systemd-analyze --user security robbie.service: ${score}\n`);
    m.ok(`${as} robbie stop`, { timeoutMs: 60_000 });
    assert.equal(m.ok(`${as} systemctl --user is-active robbie || true`).trim(), 'inactive');
    m.ok(`${as} robbie uninstall-service --user --purge`);
    assert.ok(m.sh('test -e /home/alice/.config/systemd/user/robbie.service').code !== 0);
  });

  it('a home with a space: the user unit can write its state there', async () => {
    m.ok(
      'id bob >/dev/null 2>&1 || useradd -m -d "/home/bob smith" -s /bin/bash bob; loginctl enable-linger bob',
    );
    const uid = m.ok('id -u bob').trim();
    await m.until('bob’s user manager', `test -S /run/user/${uid}/systemd/private`, 20_000);
    const as = `setpriv --reuid=bob --regid=bob --init-groups env -i PATH=$PATH "HOME=/home/bob smith" USER=bob XDG_RUNTIME_DIR=/run/user/${uid}`;
    m.ok(
      `${as} robbie install-service --user --env PORT=8300 --env ROBBIE_PROVIDER=echo --health-timeout 20s`,
      { timeoutMs: 60_000 },
    );
    assert.equal(status(as).supervisor.home, '/home/bob smith/.local/state/robbie');
    // Healthy means its store opened and migrated: the state directory is writable by the unit.
    assert.match(m.ok(`${as} robbie health`), /:8300\/health/);
    assert.equal(
      m.sh('test -s "/home/bob smith/.local/state/robbie/robbie.db"').code,
      0,
      'the store is written',
    );
    m.ok(`${as} robbie uninstall-service --user --purge`, { timeoutMs: 60_000 });
  });

  it('an executable path with a line break is refused with one line, nothing installed', () => {
    m.ok(`ln -f "$(command -v robbie)" "/usr/local/bin/rob
bie"`);
    const r = m.sh(`"/usr/local/bin/rob
bie" install-service --env ROBBIE_PROVIDER=echo`);
    m.ok(`rm -f "/usr/local/bin/rob
bie"`);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /line break or control character cannot go into a unit file/);
    assert.ok(m.sh('test -e /etc/systemd/system/robbie.service').code !== 0, 'nothing installed');
  });
});
