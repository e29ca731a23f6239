import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/logger/logger.ts';
import { systemdNotifier } from '../../src/runtime/systemd-notify.ts';
import { unitFailure } from '../../src/service/install.ts';

const show = (text: string) => ['sh', '-c', `printf '${text.replace(/\n/g, '\\n')}'`];

describe('reading a unit while it starts', () => {
  it('sees a failed start, its exit code and what it means', () => {
    assert.equal(
      unitFailure(
        show('ActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainCode=1\nExecMainStatus=78\n'),
      ),
      'exit code 78 (the configuration was refused); unit failed/failed, result exit-code',
    );
    assert.match(
      unitFailure(
        show(
          'ActiveState=activating\nSubState=auto-restart\nResult=exit-code\nExecMainCode=1\nExecMainStatus=203\n',
        ),
      ) ?? '',
      /203\/EXEC/,
    );
    assert.match(
      unitFailure(
        show('ActiveState=failed\nSubState=failed\nResult=signal\nExecMainCode=2\nExecMainStatus=9\n'),
      ) ?? '',
      /killed by signal 9/,
    );
  });

  it('waits while the unit is starting or running, and when systemctl cannot say', () => {
    assert.equal(unitFailure(show('ActiveState=activating\nSubState=start\nResult=success\n')), undefined);
    assert.equal(unitFailure(show('ActiveState=active\nSubState=running\nResult=success\n')), undefined);
    assert.equal(unitFailure(['sh', '-c', 'exit 1']), undefined);
  });
});

describe('systemd notifications', () => {
  const log = createLogger({ format: 'none', level: 'fatal' });
  it('are off without NOTIFY_SOCKET, and the watchdog only for the process systemd named', () => {
    assert.equal(systemdNotifier({}, log).startWatchdog(), undefined);
    const other = systemdNotifier(
      { NOTIFY_SOCKET: '/nonexistent', WATCHDOG_USEC: '10000000', WATCHDOG_PID: '1' },
      log,
      2,
    );
    assert.equal(other.startWatchdog(), undefined);
    const mine = systemdNotifier({ NOTIFY_SOCKET: '/nonexistent', WATCHDOG_USEC: '10000000' }, log, 2);
    assert.equal(mine.startWatchdog(), 5000, 'half of WatchdogSec');
    mine.close();
  });
});
