/** `robbie db migrate`, `status`, `requeue`, `backup` and `restore`. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineCommand } from 'citty';
import { resolvePaths } from '../../config/paths.ts';
import type { Flags } from '../../config/resolve.ts';
import { UsageError, UserError } from '../../errors.ts';
import { redact } from '../../logger/redact.ts';
import { copyToPostgres } from '../../storage/copy-to-postgres.ts';
import { SQLITE_FILE } from '../../storage/open-store.ts';
import { describePgError } from '../../storage/postgres/errors.ts';
import { backupSqlite, restoreSqlite } from '../../storage/sqlite/backup.ts';
import { ownerAlive, readLock } from '../../supervisor/lock.ts';
import { settingsOfService } from '../service-settings.ts';
import { openServiceStore as open, storeArgs } from '../service-store.ts';

const args = {
  ...storeArgs,
  json: { type: 'boolean', description: 'Print the result as JSON' },
} as const;

export const migrate = defineCommand({
  meta: { name: 'migrate', description: 'Apply pending schema migrations (also done at every start)' },
  args,
  async run({ args: a }) {
    const store = await open(a);
    try {
      const version = await store.migrate();
      process.stdout.write(
        a.json
          ? `${JSON.stringify({ store: store.kind, version })}\n`
          : `schema at version ${version} (${store.kind})\n`,
      );
    } catch (err) {
      throw new UserError(`migration failed: ${store.describeError(err).reason}`);
    } finally {
      await store.close();
    }
  },
});

export const status = defineCommand({
  meta: {
    name: 'status',
    description: 'Show the store, its schema version, whether it is reachable, and the outbox depth',
  },
  args,
  async run({ args: a }) {
    const store = await open(a);
    try {
      await store.ping().catch(() => undefined); // info() then says why it is unreachable
      const info = await store.info();
      if (a.json) process.stdout.write(`${JSON.stringify(info)}\n`);
      else {
        process.stdout.write(
          `store      ${info.kind}\nschema     ${info.version ?? 'unknown'}\ndatabase   ${info.database_up ? 'reachable' : `UNREACHABLE${info.error ? ` (${info.error})` : ''}`}\n` +
            `outbox     ${info.outbox_pending} pending${info.outbox_oldest_s !== null ? ` (oldest ${info.outbox_oldest_s}s)` : ''}\n` +
            (info.outbox_quarantined > 0
              ? `quarantine ${info.outbox_quarantined} row(s) the database refused (${info.quarantine_reason}); fix the cause, then robbie db requeue\n`
              : ''),
        );
      }
      process.exitCode = info.database_up ? 0 : 1;
    } finally {
      await store.close();
    }
  },
});

export const requeue = defineCommand({
  meta: {
    name: 'requeue',
    description: 'Put outbox rows the database refused (quarantined) back in the replay queue',
  },
  args,
  async run({ args: a }) {
    const store = await open(a);
    try {
      const n = await store.requeueQuarantined();
      process.stdout.write(
        a.json
          ? `${JSON.stringify({ requeued: n })}\n`
          : `${n} quarantined row(s) back in the replay queue\n`,
      );
    } finally {
      await store.close();
    }
  },
});

/** The SQLite store's file and the supervisor's lock; a PostgreSQL store is refused, naming its tool. */
async function sqliteStore(a: Flags, doing: string): Promise<{ file: string; lockFile: string }> {
  const { values } = (await settingsOfService(a)).settings;
  if (values['database-url'])
    throw new UserError(`the store is PostgreSQL: ${doing} with its own tools (pg_dump, pg_restore)`);
  const paths = resolvePaths(values);
  return { file: join(paths.home, SQLITE_FILE), lockFile: paths.lockFile };
}

function pathArg(a: { path?: unknown }): string {
  if (typeof a.path !== 'string' || a.path === '') throw new UsageError('give the path of the copy');
  return resolve(a.path);
}

const copyArgs = {
  path: { type: 'positional', required: false, description: 'The copy', valueHint: 'path' },
  ...args,
} as const;

export const backup = defineCommand({
  meta: {
    name: 'backup',
    description: 'Copy the SQLite store to PATH as of one moment, while the service runs (a new file, 0600)',
  },
  args: copyArgs,
  async run({ args: a }) {
    const to = pathArg(a);
    const info = backupSqlite((await sqliteStore(a, 'back it up')).file, to);
    process.stdout.write(
      a.json
        ? `${JSON.stringify({ path: to, ...info })}\n`
        : `copied to ${to}: schema ${info.version}, ${info.requests} request(s)\n`,
    );
  },
});

export const restore = defineCommand({
  meta: {
    name: 'restore',
    description: 'Put a copy made by db backup in place of the SQLite store (the service stopped)',
  },
  args: copyArgs,
  async run({ args: a }) {
    const from = pathArg(a);
    const { file, lockFile } = await sqliteStore(a, 'restore it');
    const owner = readLock(lockFile);
    if (owner && ownerAlive(owner))
      throw new UserError(
        `the service is running (supervisor pid ${owner.pid}): stop it first (robbie stop, or systemctl stop robbie)`,
      );
    const info = restoreSqlite(from, file);
    process.stdout.write(
      a.json
        ? `${JSON.stringify({ path: file, ...info })}\n`
        : `restored ${from}: schema ${info.version}, ${info.requests} request(s)${info.kept ? `; the store it replaced is ${info.kept}` : ''}\n`,
    );
  },
});

export const copy = defineCommand({
  meta: {
    name: 'copy',
    description:
      'Copy the SQLite store (requests, blocks, keys, spend) into PostgreSQL; run again to finish a cut copy',
  },
  args: {
    to: {
      type: 'string',
      description: 'The PostgreSQL URL (its password from PGPASSWORD rather than the command line)',
      valueHint: 'postgres://…',
    },
    ...args,
  },
  async run({ args: a }) {
    const to = typeof a.to === 'string' ? a.to : '';
    if (!/^postgres(ql)?:\/\//.test(to)) throw new UsageError('--to must be a postgres:// URL');
    const { file } = await sqliteStore(a, 'copy it');
    if (!existsSync(file)) throw new UserError(`there is no store to copy at ${file}`);
    const done = await copyToPostgres(file, to, (p) => {
      if (!a.json) process.stderr.write(`${p.table}: ${p.read} read, ${p.inserted} new\n`);
    }).catch((err: unknown) => {
      if (err instanceof UserError) throw err;
      throw new UserError(`the copy stopped: ${describePgError(err)} (run it again to go on)`);
    });
    process.stdout.write(
      a.json
        ? `${JSON.stringify({ to: redact(to), tables: done })}\n`
        : `${done.map((p) => `${p.table.padEnd(18)} ${p.read} read, ${p.inserted} new`).join('\n')}\n`,
    );
  },
});

export default defineCommand({
  meta: { name: 'db', description: 'Database schema and state; copies of the SQLite store' },
  subCommands: { migrate, status, requeue, backup, restore, copy },
});
