import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ChildStatus, formatStatus, type StatusReport } from '../../src/supervisor/status.ts';

function child(id: string, uptime: number | null): ChildStatus {
  return {
    id,
    role: id === 'standby' ? 'standby' : 'active',
    pid: uptime === null ? null : 100,
    state: uptime === null ? 'stopped' : 'running',
    uptime_s: uptime,
    restarts: { total: 0, in_window: 0 },
    last_exit: null,
    last_probe: null,
    rss_bytes: null,
    cpu_s: null,
    backoff_ms: null,
    next_restart_at: null,
  };
}

describe('robbie status, as a table', () => {
  it('says a process up for under a second is up "<1s", not "0ms"; whole seconds after', () => {
    const report: StatusReport = {
      supervisor: {
        pid: 1,
        state: 'running',
        version: '1.0.0',
        uptime_s: 0,
        started_at: '2026-12-07T10:00:00.000Z',
        home: '/var/lib/robbie',
        control_socket: '/var/lib/robbie/robbie.sock',
        rss_bytes: null,
        cpu_s: null,
      },
      children: [child('serve-0', 7), child('standby', 0), child('serve-1', null)],
      logs: { dir: '/var/log/robbie', files: [] },
    };
    const text = formatStatus(report);
    assert.match(text, /^supervisor {2}pid 1 {2}running {2}up <1s {2}/);
    assert.doesNotMatch(text, /\b0ms\b/);
    const rows = Object.fromEntries(
      text
        .split('\n')
        .filter((l) => /^(serve|standby)/.test(l))
        .map((l) => [l.split(/\s+/)[0], l.split(/\s{2,}/)[3]]),
    );
    assert.deepEqual(rows, { 'serve-0': '7s', standby: '<1s', 'serve-1': '-' });
  });
});
