/** API keys in the SQLite store: saved with a rev one above the highest, read by rev. */
import type { DatabaseSync } from 'node:sqlite';
import { KeyConflictError, type KeyRecord, type KeySpec } from '../types.ts';
import { stmt, transaction } from './open.ts';

interface KeyRow {
  id: string;
  name: string;
  digest: string;
  hint: string;
  spec: string;
  expires_at: number | null;
  revoked_at: number | null;
  created_at: number;
  updated_at: number;
  rev: number;
}

function fromRow(r: KeyRow): KeyRecord {
  return {
    ...r,
    spec: JSON.parse(r.spec) as KeySpec,
    expires_at: r.expires_at === null ? null : Number(r.expires_at),
    revoked_at: r.revoked_at === null ? null : Number(r.revoked_at),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
    rev: Number(r.rev),
  };
}

export function keysSinceSqlite(db: DatabaseSync, rev: number): { rev: number; keys: KeyRecord[] } {
  const keys = (
    stmt(db, 'select * from api_keys where rev > ? order by rev').all(rev) as unknown as KeyRow[]
  ).map(fromRow);
  return { rev: keys.reduce((m, k) => Math.max(m, k.rev), rev), keys };
}

export function saveKeySqlite(db: DatabaseSync, key: Omit<KeyRecord, 'rev'>): KeyRecord {
  return transaction(db, () => {
    const taken = stmt(db, 'select id from api_keys where (name = ? or digest = ?) and id <> ?').get(
      key.name,
      key.digest,
      key.id,
    );
    if (taken) throw new KeyConflictError(`a key named ${key.name} exists already`);
    const rev =
      Number((stmt(db, 'select coalesce(max(rev), 0) as rev from api_keys').get() as { rev: number }).rev) +
      1;
    stmt(
      db,
      `insert into api_keys (id, name, digest, hint, spec, expires_at, revoked_at, created_at, updated_at, rev)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       on conflict (id) do update set name = excluded.name, digest = excluded.digest, hint = excluded.hint,
         spec = excluded.spec, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at,
         updated_at = excluded.updated_at, rev = excluded.rev`,
    ).run(
      key.id,
      key.name,
      key.digest,
      key.hint,
      JSON.stringify(key.spec),
      key.expires_at,
      key.revoked_at,
      key.created_at,
      key.updated_at,
      rev,
    );
    return { ...key, rev };
  });
}
