/**
 * `robbie db copy`: a SQLite store's records — requests, gatekeeper blocks, keys and their spend —
 * copied into PostgreSQL, so a user who outgrows one machine keeps their history and their callers.
 *
 * Idempotent and resumable: every row keeps its identity (its id, or its key and day), and a row
 * already there is left as it is (`on conflict do nothing`), so a copy cut short is finished by
 * running it again. Values are put in PostgreSQL's types column by column: JSON text as jsonb,
 * milliseconds as timestamps, 0/1 as booleans, U+0000 as U+FFFD (what PostgreSQL cannot hold).
 */
import { DatabaseSync } from 'node:sqlite';
import type postgres from 'postgres';
import type { Sql } from 'postgres';
import { UserError } from '../errors.ts';
import { connect, migratePostgres } from './postgres/connect.ts';
import { withoutNul } from './postgres/without-nul.ts';

/** What is copied, in this order; the rest (claims, windows, the cache, holds) is state, not records. */
const TABLES = ['api_keys', 'key_spend', 'ai_request_logs', 'gatekeeper_blocks'] as const;
const BATCH = 500;

export interface CopyProgress {
  table: string;
  read: number;
  inserted: number;
}

type Row = Record<string, unknown>;

/** A SQLite value in the PostgreSQL column's type. */
function convert(value: unknown, pgType: string): postgres.ParameterOrJSON<never> {
  if (value === null || value === undefined) return null;
  if (pgType === 'jsonb' || pgType === 'json') {
    const parsed = typeof value === 'string' ? safeJson(value) : value;
    return parsed === undefined ? null : (withoutNul(parsed) as postgres.JSONValue);
  }
  if (pgType.startsWith('timestamp')) return typeof value === 'number' ? new Date(value) : String(value);
  if (pgType === 'boolean') return Boolean(value);
  // What node:sqlite gives besides: text, numbers (integer columns as numbers), blobs.
  return typeof value === 'string' ? withoutNul(value) : (value as number | Uint8Array);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function columnTypes(sql: Sql, table: string): Promise<Map<string, string>> {
  const rows = await sql<{ column_name: string; data_type: string }[]>`
    select column_name, data_type from information_schema.columns
    where table_schema = current_schema() and table_name = ${table}`;
  return new Map(rows.map((r) => [r.column_name, r.data_type]));
}

/** Copies the store at `sqlitePath` into the database at `url`; says how far each table got. */
export async function copyToPostgres(
  sqlitePath: string,
  url: string,
  progress: (p: CopyProgress) => void,
): Promise<CopyProgress[]> {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(sqlitePath, { readOnly: true });
    db.exec('pragma busy_timeout = 5000');
  } catch (err) {
    throw new UserError(`cannot open ${sqlitePath}: ${(err as Error).message.split('\n')[0]}`);
  }
  const sql = connect(url);
  const done: CopyProgress[] = [];
  try {
    await migratePostgres(sql);
    for (const table of TABLES) {
      const types = await columnTypes(sql, table);
      const sqliteColumns = (db.prepare(`pragma table_info(${table})`).all() as { name: string }[]).map(
        (c) => c.name,
      );
      const columns = sqliteColumns.filter((c) => types.has(c));
      const p: CopyProgress = { table, read: 0, inserted: 0 };
      if (columns.length === 0) {
        done.push(p);
        continue;
      }
      // In the order they were written; key_spend has no rowid (and few rows).
      const page =
        table === 'key_spend'
          ? db.prepare(`select * from key_spend order by key_id, day limit ${BATCH} offset ?`)
          : db.prepare(
              `select rowid as _rowid, * from ${table} where rowid > ? order by rowid limit ${BATCH}`,
            );
      let after = 0;
      for (;;) {
        const rows = page.all(after) as Row[];
        if (rows.length === 0) break;
        after = table === 'key_spend' ? after + rows.length : Number(rows.at(-1)?._rowid);
        const values = rows.map((r) =>
          Object.fromEntries(columns.map((c) => [c, convert(r[c], types.get(c) ?? 'text')])),
        );
        const result = await sql`insert into ${sql(table)} ${sql(values, columns)} on conflict do nothing`;
        p.read += rows.length;
        p.inserted += result.count;
        progress(p);
      }
      done.push(p);
    }
    // Keys made in PostgreSQL from now on number their changes after the copied ones.
    await sql`select setval('api_keys_rev', greatest(
      (select coalesce(max(rev), 1) from api_keys), (select last_value from api_keys_rev)))`;
    return done;
  } finally {
    db.close();
    await sql.end({ timeout: 5 });
  }
}
