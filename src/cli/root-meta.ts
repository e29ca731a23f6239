import type { CommandDef } from 'citty';
import { VERSION } from '../runtime/version.ts';

/**
 * What the full command tree (root.ts) and the supervisor's own (main-supervise.ts) share: the
 * program's name and the `supervise` command, so `robbie supervise` reads and behaves the same
 * whichever bundle runs it.
 */
export const ROOT_META = {
  name: 'robbie',
  version: VERSION,
  description: 'The Universal Input API in one executable, kept alive: supervised, health-checked, logged',
};

export const supervise = (): Promise<CommandDef> => import('./commands/supervise.ts').then((m) => m.default);
