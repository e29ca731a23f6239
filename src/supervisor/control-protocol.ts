/** The control socket's protocol: one JSON request line, one JSON response line. */
import type { TrafficSeries } from '../telemetry/traffic.ts';
import type { StatusReport } from './status.ts';
import type { RollResult } from './supervisor.ts';

/** What each command answers. */
export interface ControlAnswers {
  status: StatusReport;
  stop: { stopping: true; pid: number };
  restart: { restarted: RollResult };
  reload: { reloaded: RollResult };
  /** The supervisor's own settings, as given (none left at its default), for the commands that describe it. */
  settings: RunningSettings;
  /** The API's last hour: requests, errors, latency, usage per key and source (the dashboard). */
  traffic: TrafficSeries;
  /** New settings for the children, taken by a rolling reload (`robbie start --apply`). */
  apply: { applied: string[]; reloaded: RollResult };
}

export type ControlCommand = keyof ControlAnswers;

/** Every setting the running supervisor was given, in its environment form (`ROBBIE_PORT=8100`). */
export interface RunningSettings {
  pid: number;
  env: Record<string, string>;
  /** Where the supervisor got each of them (`file /etc/robbie/robbie.env:3`, `flag --port`). */
  origins: Record<string, string>;
}

export interface ControlRequest {
  cmd: ControlCommand;
  /** `apply`: the settings to run with, in their environment form (`ROBBIE_CACHE=chat`). */
  env?: Record<string, string>;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string };

export const CONTROL_COMMANDS: readonly ControlCommand[] = [
  'status',
  'stop',
  'restart',
  'reload',
  'settings',
  'traffic',
  'apply',
];
