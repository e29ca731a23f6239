/** Each provider kind's client (its folder's provider.ts), made from its configuration. */

import { AnthropicProvider } from './anthropic/provider.ts';
import { EchoProvider } from './echo/provider.ts';
import type { UpstreamHttp } from './http.ts';
import type { ProviderKind } from './kinds.ts';
import { OllamaProvider } from './ollama/provider.ts';
import { OpenAiProvider } from './openai/provider.ts';
import type { ProviderConfig } from './providers-config.ts';
import type { Provider } from './types.ts';

type Make = (p: ProviderConfig, http: UpstreamHttp) => Provider;
/** A kind with a server has its URL (the settings fill in its default). */
const urlOf = (p: ProviderConfig): string => p.url ?? '';

const CLIENTS: Record<ProviderKind, Make> = {
  ollama: (p, http) => new OllamaProvider(http, urlOf(p), p.name),
  openai: (p, http) => new OpenAiProvider(http, urlOf(p), p.apiKey, p.name),
  anthropic: (p, http) => new AnthropicProvider(http, urlOf(p), p.apiKey, p.name),
  echo: (p) => new EchoProvider(p.name),
};

export function providerFor(p: ProviderConfig, http: UpstreamHttp): Provider {
  return CLIENTS[p.kind](p, http);
}
