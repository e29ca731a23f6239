/** What a child is started with: command, arguments, environment — a pure function of the config. */

import { withServingHeap } from '../runtime/serving-heap.ts';
import { NOTIFY_ENV } from '../runtime/systemd-notify.ts';
import type { ChildRole, ChildSpec } from './child-handle.ts';
import type { SuperviseConfig } from './supervise-config.ts';

export function childSpec(
  config: Pick<SuperviseConfig, 'command' | 'childEnv' | 'instances'>,
  role: ChildRole,
  slotIndex: number | undefined,
  self: (args: string[]) => { command: string; args: string[] },
  baseEnv: NodeJS.ProcessEnv,
): ChildSpec {
  const env: NodeJS.ProcessEnv = { ...baseEnv, ...config.childEnv };
  // systemd's notify socket and watchdog are the supervisor's, not its children's.
  for (const name of NOTIFY_ENV) delete env[name];
  if (slotIndex !== undefined) env.ROBBIE_INSTANCE = String(slotIndex);
  env.ROBBIE_INSTANCES = String(config.instances);
  if (config.command) {
    const [command, ...args] = config.command as [string, ...string[]];
    return { command, args, env, ipc: false };
  }
  // Its settings come in the environment (config.childEnv), none on its command line.
  const serve = self(['serve']);
  env.ROBBIE_SUPERVISED = '1';
  env.ROBBIE_CHILD_ROLE = role;
  env.ROBBIE_LOG_FORMAT = 'json';
  return { command: serve.command, args: serve.args, env: withServingHeap(env), ipc: true };
}
