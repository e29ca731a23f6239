/** The running service's store, for the commands that read or change it (`db`, `keys`, `usage`). */
import { resolvePaths } from '../config/paths.ts';
import type { Flags } from '../config/resolve.ts';
import { UserError } from '../errors.ts';
import { createLogger } from '../logger/logger.ts';
import { openStore } from '../storage/open-store.ts';
import { StorageUnavailableError, type Store } from '../storage/types.ts';
import { pathArgs, settingArgs } from './args.ts';
import { settingsOfService } from './service-settings.ts';

/** The flags that say where the service keeps its state: its home and its database. */
export const storeArgs = { ...pathArgs, ...settingArgs(['database-url']) } as const;

export async function openServiceStore(a: Flags): Promise<Store> {
  // The service's store: the running supervisor's settings, else the installed service's.
  const { values } = (await settingsOfService(a)).settings;
  const quiet = createLogger({ format: 'none', level: 'fatal' });
  return openStore({ databaseUrl: values['database-url'], home: resolvePaths(values).home }, quiet);
}

/**
 * Runs `work` on the service's store, migrated to the current schema first (a command run before
 * the service's first start finds its tables), and closes it; a store that cannot be reached is one
 * line, exit 1.
 */
export async function withServiceStore<T>(a: Flags, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openServiceStore(a);
  try {
    try {
      await store.migrate();
    } catch (err) {
      throw new UserError(`the store cannot be reached: ${store.describeError(err).reason}`);
    }
    return await work(store);
  } catch (err) {
    if (err instanceof StorageUnavailableError)
      throw new UserError(`the store cannot be reached: ${err.message}`);
    throw err;
  } finally {
    await store.close();
  }
}
