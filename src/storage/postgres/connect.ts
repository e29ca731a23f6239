/** The connection factory and the migration runner. */
import postgres from 'postgres';
import { POSTGRES_MIGRATIONS } from '../schema.ts';
import { QUERY_TIMEOUT_MS } from './errors.ts';

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

const MIGRATION_LOCK = 727_274_001;

export async function migratePostgres(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    // Several instances may start at once: one migrates, the others wait and find it done.
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`create table if not exists robbie_schema_migrations (
      version integer primary key, name text not null, applied_at timestamptz not null default now())`;
    const done = new Set(
      (await tx<{ version: number }[]>`select version from robbie_schema_migrations`).map((r) => r.version),
    );
    let version = Math.max(0, ...done);
    for (const m of POSTGRES_MIGRATIONS) {
      if (done.has(m.version)) continue;
      await tx.unsafe(m.sql);
      await tx`insert into robbie_schema_migrations (version, name) values (${m.version}, ${m.name})`;
      version = Math.max(version, m.version);
    }
    return version;
  });
}

/**
 * The records' pool, or (`coordination`) a small one for what coordinates instances rather than
 * records anything — claims, rate-limit windows, the answer cache — whose commits do not wait for
 * the WAL to reach the disk (`synchronous_commit=off`, as the SQLite store keeps them on a
 * connection without fsync): every request's rate-limit row is one hot row, and a durable commit
 * held its lock for an fsync per request, which bounded the whole API at one request per fsync.
 * A crash of the database forgets at most the last fraction of a second of counts.
 */
export function connect(url: string, opts: { coordination?: boolean } = {}): Sql {
  return postgres(url, {
    max: opts.coordination ? 4 : 10,
    connect_timeout: 5,
    // Connections killed by a database restart are not reused for long.
    idle_timeout: 30,
    onnotice: () => {},
    connection: {
      application_name: opts.coordination ? 'robbie-coordination' : 'robbie',
      statement_timeout: QUERY_TIMEOUT_MS,
      ...(opts.coordination ? { synchronous_commit: 'off' } : {}),
    },
  });
}
