import type { KindDefaults } from '../kind.ts';

export const openAiDefaults: KindDefaults = {
  url: 'https://api.openai.com/v1',
  models: { chat: 'gpt-4o-mini', code: 'gpt-4o-mini', embedding: 'text-embedding-3-small' },
  serves: 'discover',
  keyEnv: 'OPENAI_API_KEY',
};
