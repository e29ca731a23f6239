/** The control socket's protocol: one JSON request line, one JSON response line. */
export type ControlCommand = 'status' | 'stop' | 'restart' | 'reload';

export interface ControlRequest {
  cmd: ControlCommand;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string };

export const CONTROL_COMMANDS: readonly ControlCommand[] = ['status', 'stop', 'restart', 'reload'];
