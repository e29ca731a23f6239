import type { KindDefaults } from '../kind.ts';

export const ollamaDefaults: KindDefaults = {
  url: 'http://127.0.0.1:11434',
  models: { chat: 'llama3.1:8b', code: 'qwen2.5-coder:7b', embedding: 'nomic-embed-text' },
  serves: 'discover',
};
