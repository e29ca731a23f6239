import type { KindDefaults } from '../kind.ts';

export const echoDefaults: KindDefaults = {
  url: undefined,
  models: { chat: 'echo', code: 'echo', embedding: 'echo' },
  serves: '*',
};
