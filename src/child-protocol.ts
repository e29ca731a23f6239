/** Messages between the supervisor and a `robbie serve` child over the IPC channel. */
import type { StorageEvent } from './storage/types.ts';
import type { TrafficSample } from './telemetry/traffic.ts';

/** Child → supervisor. */
export type ChildMessage =
  /** Initialised. An active child is listening on `port`; a standby is not yet. */
  | { type: 'ready'; role: 'active' | 'standby'; probePort: number; port?: number }
  /** A standby took the port after `activate`. */
  | { type: 'listening'; port: number }
  /** A standby could not take the port. */
  | { type: 'listen-failed'; error: string }
  /** The store's outages, recoveries and refused rows: the supervisor alerts on them. */
  | { type: 'storage'; event: StorageEvent }
  /** The traffic it served in the last second, for the dashboard's hour (kept by the supervisor). */
  | { type: 'traffic'; sample: TrafficSample };

/** Supervisor → child. */
export type SupervisorMessage = { type: 'activate' };

export function isChildMessage(value: unknown): value is ChildMessage {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}
