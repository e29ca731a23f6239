/**
 * A copy of the SQLite store while it serves, and putting one back while it does not.
 *
 * The copy is SQLite's own `VACUUM INTO` on a connection of its own: one read transaction, so the
 * copy is the database as of one moment, every commit before it whole and none after it in part,
 * while the service goes on writing (WAL: a reader never blocks the writer).
 */
import { chmodSync, existsSync, renameSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { UserError } from '../../errors.ts';
import { SQLITE_MIGRATIONS } from '../schema.ts';

const LATEST = Math.max(...SQLITE_MIGRATIONS.map((m) => m.version));

/** What a copy holds: its schema version and its request rows. */
export interface CopyInfo {
  version: number;
  requests: number;
}

function describe(path: string): CopyInfo {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec('pragma busy_timeout = 5000');
    const version = (db.prepare('pragma user_version').get() as { user_version: number }).user_version;
    const ok = (db.prepare('pragma quick_check').get() as { quick_check: string }).quick_check;
    if (ok !== 'ok') throw new UserError(`${path} is damaged (${ok})`);
    const requests = (db.prepare('select count(*) as n from ai_request_logs').get() as { n: number }).n;
    return { version, requests };
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path} is not a robbie SQLite store (${(err as Error).message.split('\n')[0]})`);
  } finally {
    db.close();
  }
}

/** `from` copied to the new file `to` (mode 0600: prompts and answers are in it) as of one moment. */
function vacuumInto(from: string, to: string): void {
  const source = new DatabaseSync(from, { readOnly: true });
  try {
    source.exec('pragma busy_timeout = 5000');
    source.prepare('vacuum into ?').run(to);
  } catch (err) {
    rmSync(to, { force: true });
    throw new UserError(`cannot copy ${from} to ${to}: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    source.close();
  }
  chmodSync(to, 0o600);
}

/** Copies the store at `db` to `to` (a new file) as of one moment, while it serves. */
export function backupSqlite(db: string, to: string): CopyInfo {
  if (!existsSync(db)) throw new UserError(`there is no store to copy at ${db}`);
  if (existsSync(to)) throw new UserError(`${to} exists: give the copy a new name`);
  vacuumInto(db, to);
  return describe(to);
}

/**
 * Puts the copy `from` in place of the store at `db` (the service stopped): the store it replaces,
 * with its WAL, is kept beside it as `robbie.db.before-restore`.
 */
export function restoreSqlite(from: string, db: string): CopyInfo & { kept: string | undefined } {
  if (!existsSync(from)) throw new UserError(`there is no copy at ${from}`);
  const info = describe(from);
  if (info.version > LATEST) {
    throw new UserError(
      `${from} is at schema ${info.version}, newer than this robbie's (${LATEST}): restore it with the robbie that made it`,
    );
  }
  const staged = `${db}.restoring`;
  rmSync(staged, { force: true });
  vacuumInto(from, staged);
  let kept: string | undefined;
  if (existsSync(db)) {
    kept = `${db}.before-restore`;
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${kept}${suffix}`, { force: true });
    // The store and its WAL move together: one without the other is not the same database.
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(`${db}${suffix}`)) renameSync(`${db}${suffix}`, `${kept}${suffix}`);
    }
  }
  renameSync(staged, db);
  return { ...info, kept };
}
