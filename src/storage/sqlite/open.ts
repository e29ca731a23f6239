/**
 * Opening SQLite files robbie writes: WAL, synchronous commits, a busy timeout for shared files;
 * and WalSync, with which the store makes its own commits durable (off the event loop, unless
 * nothing else would be served meanwhile).
 */
import { accessSync, chmodSync, closeSync, constants, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { StorageUnavailableError } from '../types.ts';

export function openSqlite(path: string): DatabaseSync {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Prompts and answers are in it: readable by its owner only, whatever the umask. SQLite makes
    // the -wal and -shm files with the database file's mode.
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
    const db = new DatabaseSync(path);
    // busy_timeout first: several processes (instances, the standby) open the file at the same
    // moment, and switching to WAL takes a lock another may hold. WAL: readers never block the
    // writer. FULL: a commit is on disk before it is acknowledged.
    db.exec(
      'pragma busy_timeout = 5000; pragma journal_mode = wal; pragma synchronous = full; pragma foreign_keys = on;',
    );
    return db;
  } catch (err) {
    throw new StorageUnavailableError(`cannot open ${path}: ${whyCannotOpen(path, err)}`);
  }
}

/**
 * Commits made durable off the event loop. With `synchronous = full` SQLite fsyncs the WAL inside
 * COMMIT, on the calling thread — for the store, the event loop, which then served no one: at 32
 * connections here a quarter of the time went by in fsyncs of 0.7 ms. With `synchronous = normal`
 * (set by the caller) a commit only writes its frames to the WAL; `sync()` fsyncs that file on
 * libuv's thread pool, and a write is acknowledged only once it returns: the same guarantee, while
 * the loop goes on serving and the next group of writes gathers. (Linux and macOS flush a file's
 * data through any descriptor of it; the WAL lives as long as a connection is open.)
 *
 * Unless the caller says a client waits for this fsync and nothing else is being served
 * (`inline`): then the loop has nothing to go on with, and the hand-off is pure delay — a pool
 * thread woken for the fsync and the loop woken again for its end. At one connection (the gateway
 * benchmark's fake model, a whole answer per request, five interleaved pairs of 10 s runs) an
 * inline fsync answered at a median 0.80–0.88 ms against 0.88–0.95 ms, 0.07–0.11 ms less in every
 * pair. A disk slow to sync (one fsync past INLINE_MAX_MS) sends the next one to the pool, which
 * measures it again: a request arriving meanwhile never waits behind a slow disk for long.
 */
const INLINE_MAX_MS = 2;

export class WalSync {
  readonly #path: string;
  readonly #inlineMaxMs: number;
  #handle: Promise<FileHandle> | undefined;
  /** How long the last fsync took, in ms. */
  #lastMs = 0;

  constructor(databasePath: string, inlineMaxMs = INLINE_MAX_MS) {
    this.#path = `${databasePath}-wal`;
    this.#inlineMaxMs = inlineMaxMs;
  }

  /** `inline`: a client waits for this fsync and nothing else is being served: on this thread. */
  async sync(inline = false): Promise<void> {
    this.#handle ??= openDurably(this.#path);
    let handle: FileHandle;
    try {
      handle = await this.#handle;
    } catch (err) {
      this.#handle = undefined;
      throw err;
    }
    const started = performance.now();
    if (inline && this.#lastMs < this.#inlineMaxMs) fsyncSync(handle.fd);
    else await handle.sync();
    this.#lastMs = performance.now() - started;
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }
}

/** Opens the file and makes its directory entry durable too (once: the WAL is made at open). */
async function openDurably(path: string): Promise<FileHandle> {
  const handle = await open(path, 'r+');
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return handle;
}

/** SQLite only says "unable to open database file": ask the file system why. */
function whyCannotOpen(path: string, err: unknown): string {
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return 'read-only file system';
    if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
    if (code === 'ENOSPC') return 'disk full';
    if (code) return code;
  }
  return describeSqliteError(err);
}

/** A short reason for a SQLite failure, for answers and logs (no SQL, no data). */
export function describeSqliteError(err: unknown): string {
  const e = err as { errcode?: number; errstr?: string; code?: string; message?: string };
  if (e.errcode === 13 || /SQLITE_FULL|database or disk is full/i.test(e.message ?? '')) return 'disk full';
  if (e.errcode === 8 || /readonly|read-only/i.test(e.message ?? '')) return 'read-only file system';
  if (e.errcode === 5 || /database is locked/i.test(e.message ?? '')) return 'database busy';
  if (e.errcode === 10 || /disk I\/O error/i.test(e.message ?? '')) return 'disk I/O error';
  if (e.code && e.code !== 'ERR_SQLITE_ERROR') return e.code;
  return e.errstr ?? 'storage error';
}

export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('begin immediate');
  try {
    const out = fn();
    db.exec('commit');
    return out;
  } catch (err) {
    try {
      db.exec('rollback');
    } catch {
      // the failed statement may have rolled back already
    }
    throw err;
  }
}

const statements = new WeakMap<DatabaseSync, Map<string, StatementSync>>();

/** A prepared statement, prepared once per database: preparing on every call showed in profiles. */
export function stmt(db: DatabaseSync, sql: string): StatementSync {
  let cache = statements.get(db);
  if (!cache) {
    cache = new Map();
    statements.set(db, cache);
  }
  let s = cache.get(sql);
  if (!s) {
    s = db.prepare(sql);
    cache.set(sql, s);
  }
  return s;
}
