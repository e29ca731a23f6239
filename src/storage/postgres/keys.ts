/**
 * API keys in PostgreSQL. Changes are serialised by a table lock, so revs commit in the order they
 * are taken and `keysSince(rev)` misses none; each is announced on KEYS_CHANNEL at its commit, so
 * every instance reloads at once (the registry's poll is the fallback while a listener reconnects).
 */
import { KeyConflictError, type KeyRecord, type KeySpec } from '../types.ts';
import type { Sql } from './connect.ts';

export const KEYS_CHANNEL = 'robbie_keys';

interface KeyRow {
  id: string;
  name: string;
  digest: string;
  hint: string;
  spec: KeySpec;
  expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
  updated_at: string;
  rev: string;
}

function fromRow(r: KeyRow): KeyRecord {
  return {
    ...r,
    expires_at: r.expires_at === null ? null : Number(r.expires_at),
    revoked_at: r.revoked_at === null ? null : Number(r.revoked_at),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
    rev: Number(r.rev),
  };
}

export async function keysSincePostgres(sql: Sql, rev: number): Promise<{ rev: number; keys: KeyRecord[] }> {
  const rows = await sql<KeyRow[]>`select * from api_keys where rev > ${rev} order by rev`;
  const keys = rows.map(fromRow);
  return { rev: keys.reduce((m, k) => Math.max(m, k.rev), rev), keys };
}

export async function saveKeyPostgres(sql: Sql, key: Omit<KeyRecord, 'rev'>): Promise<KeyRecord> {
  return sql.begin(async (tx) => {
    await tx`lock table api_keys in share row exclusive mode`;
    const taken =
      await tx`select id from api_keys where (name = ${key.name} or digest = ${key.digest}) and id <> ${key.id}`;
    if (taken.length > 0) throw new KeyConflictError(`a key named ${key.name} exists already`);
    const [row] = await tx<{ rev: string }[]>`
      insert into api_keys (id, name, digest, hint, spec, expires_at, revoked_at, created_at, updated_at, rev)
      values (${key.id}, ${key.name}, ${key.digest}, ${key.hint}, ${tx.json(key.spec as unknown as Parameters<typeof tx.json>[0])},
        ${key.expires_at}, ${key.revoked_at}, ${key.created_at}, ${key.updated_at}, nextval('api_keys_rev'))
      on conflict (id) do update set name = excluded.name, digest = excluded.digest, hint = excluded.hint,
        spec = excluded.spec, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at,
        updated_at = excluded.updated_at, rev = excluded.rev
      returning rev`;
    await tx`select pg_notify(${KEYS_CHANNEL}, ${key.id})`;
    return { ...key, rev: Number(row?.rev) };
  }) as Promise<KeyRecord>;
}
