/**
 * The provider kinds robbie speaks, by name: each one's folder holds its defaults and its client
 * (registry.ts). Adding a kind is its folder, a line here and a line there — two, because the
 * settings read this list in every process and the supervisor's bundle must not carry the clients.
 */
import { anthropicDefaults } from './anthropic/defaults.ts';
import { echoDefaults } from './echo/defaults.ts';
import type { KindDefaults } from './kind.ts';
import { ollamaDefaults } from './ollama/defaults.ts';
import { openAiDefaults } from './openai/defaults.ts';

export const KINDS = {
  ollama: ollamaDefaults,
  openai: openAiDefaults,
  anthropic: anthropicDefaults,
  echo: echoDefaults,
} as const satisfies Record<string, KindDefaults>;

export type ProviderKind = keyof typeof KINDS;
export const PROVIDER_KINDS = Object.keys(KINDS) as ProviderKind[];
