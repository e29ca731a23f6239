import type { KindDefaults } from '../kind.ts';

export const anthropicDefaults: KindDefaults = {
  url: 'https://api.anthropic.com',
  models: { chat: 'claude-sonnet-4-5', code: 'claude-sonnet-4-5', embedding: '' },
  serves: 'discover',
  keyEnv: 'ANTHROPIC_API_KEY',
};
