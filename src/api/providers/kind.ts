/**
 * What a provider kind brings besides its client: where its server is by default, its model for
 * each service when the settings name none, and which models it serves. Data only: the settings
 * read it in every process, the supervisor's included, which must not load the clients.
 */
import type { Serves } from './providers-config.ts';

export interface KindDefaults {
  /** Its server when none is given (none: no server). */
  url: string | undefined;
  /** Its model for chat, code and embedding (analysis takes chat's); '' where it has none. */
  models: { chat: string; code: string; embedding: string };
  serves: Serves;
  /** The environment variable its key is read from when the provider is named by its kind. */
  keyEnv?: string;
}
