/** `robbie db migrate`, `robbie db status` and `robbie db requeue`. */
import { defineCommand } from 'citty';
import { UserError } from '../../errors.ts';
import { openServiceStore as open, storeArgs } from '../service-store.ts';

const args = {
  ...storeArgs,
  json: { type: 'boolean', description: 'Print the result as JSON' },
} as const;

export const migrate = defineCommand({
  meta: { name: 'migrate', description: 'Apply pending schema migrations (also done at every start)' },
  args,
  async run({ args: a }) {
    const store = open(a);
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
    const store = open(a);
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
    const store = open(a);
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

export default defineCommand({
  meta: { name: 'db', description: 'Database schema and state' },
  subCommands: { migrate, status, requeue },
});
