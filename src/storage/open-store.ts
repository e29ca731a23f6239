/** Picks the store: PostgreSQL when DATABASE_URL is set, else the embedded SQLite file. */
import { join } from 'node:path';
import { checkDatabaseUrl } from '../config/database-url.ts';
import type { Logger } from '../logger/logger.ts';
import { PostgresStore } from './postgres/store.ts';
import { SqliteStore } from './sqlite/store.ts';
import type { StorageEvents, Store } from './types.ts';

export interface StorageConfig {
  databaseUrl: string | undefined;
  home: string;
  /** Whether one request is in flight in the process (SqliteStoreOptions.alone). */
  alone?: () => boolean;
}

export const SQLITE_FILE = 'robbie.db';
export const OUTBOX_FILE = 'outbox.db';

export function openStore(config: StorageConfig, log: Logger, events?: StorageEvents): Store {
  if (config.databaseUrl) {
    checkDatabaseUrl(config.databaseUrl);
    return new PostgresStore(config.databaseUrl, join(config.home, OUTBOX_FILE), log, events);
  }
  return new SqliteStore(join(config.home, SQLITE_FILE), { alone: config.alone });
}
