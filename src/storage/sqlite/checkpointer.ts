/**
 * Checkpoints the store's WAL on a worker thread of its own.
 *
 * SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages: on the
 * event loop, copying those pages into the database file and fsyncing both files while no request
 * is served. At 32 connections here that was every ~70 ms, and the store's commits took 13% of the
 * CPU. With the checkpoint on this worker, four interleaved runs of the gateway benchmark's load
 * (32 connections, the same machine) served a median 2,813 requests/s against 2,450 (+15%; runs
 * spread 2,286–3,488 against 1,984–3,114), with a lower p99 in three of four. The price is memory:
 * the serving process holds 12.5 MB more at rest (a worker is a V8 isolate of its own). SQLite has
 * no asynchronous checkpoint and node:sqlite no thread of its own, hence the worker.
 *
 * The worker runs a PASSIVE checkpoint every CHECKPOINT_EVERY_MS: it copies what it can without
 * ever blocking a writer. Under constant writes a passive checkpoint never sees the WAL empty, so
 * the WAL could only grow; once it holds RESTART_PAGES the worker checkpoints with RESTART, which
 * holds writers back for the few pages the last passive one left, and lets the next commit start
 * the WAL over. The writers' own automatic checkpoint stays, at AUTOCHECKPOINT_PAGES, as the bound
 * should the worker ever stop.
 */

import type { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';

const CHECKPOINT_EVERY_MS = 100;
const RESTART_PAGES = 2048;
/** The writers' own automatic checkpoint, while the worker runs (SQLite's default is 1,000). */
const AUTOCHECKPOINT_PAGES = 32_768;
/** How long a closing store waits for the worker to close its connection. */
const CLOSE_WAIT_MS = 2000;

/** The worker's script: CommonJS evaluated as is, so that the single executable carries no file for it. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path);
db.exec('pragma busy_timeout = 200');
const passive = db.prepare('pragma wal_checkpoint(passive)');
const restart = db.prepare('pragma wal_checkpoint(restart)');
const tick = () => {
  try {
    const r = passive.get();
    if (r && r.log >= workerData.restartPages) restart.get();
  } catch {
    // busy or gone: the next tick tries again, and the writers' own checkpoint bounds the WAL
  }
};
const timer = setInterval(tick, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  try { db.close(); } catch {}
  parentPort.postMessage('closed');
});
parentPort.postMessage('ready');
`;

export class Checkpointer {
  readonly #worker: Worker;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  /**
   * Starts checkpointing `path` off the event loop and raises the automatic checkpoint of the
   * store's own connections; undefined (SQLite's own checkpoint unchanged) where no worker starts.
   */
  static async start(path: string, connections: readonly DatabaseSync[]): Promise<Checkpointer | undefined> {
    let worker: Worker;
    try {
      worker = new Worker(WORKER, {
        eval: true,
        workerData: { path, everyMs: CHECKPOINT_EVERY_MS, restartPages: RESTART_PAGES },
      });
    } catch {
      return undefined;
    }
    const ready = await new Promise<boolean>((resolve) => {
      worker.once('message', () => resolve(true));
      worker.once('error', () => resolve(false));
      worker.once('exit', () => resolve(false));
    });
    if (!ready) {
      await worker.terminate();
      return undefined;
    }
    // A checkpoint never keeps the process alive.
    worker.unref();
    worker.on('error', () => undefined);
    for (const db of connections) db.exec(`pragma wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    return new Checkpointer(worker);
  }

  /** Stops the worker once its connection is closed (the last connection closed removes the WAL). */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#worker.once('message', () => resolve());
      this.#worker.once('exit', () => resolve());
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
      this.#worker.postMessage('close');
    });
    clearTimeout(timer);
    await this.#worker.terminate();
  }
}
