/**
 * An append-only log file that rotates itself, in the s6-log / logrotate `create` model: rename
 * and reopen, never copy-then-truncate, so no line is lost, duplicated or split across files.
 *
 * - Lines are buffered and written in batches (one write per event-loop turn or 256 KiB).
 * - Rotation by size and/or at midnight: `robbie.log` → `robbie.log.1` (kept plain for a reader
 *   that still has it open), older ones shifted and gzipped as `robbie.log.2.gz`, `.3.gz`, …
 * - Retention: at most `keep` rotated files and `maxTotalBytes` in all (oldest removed first).
 * - `reopen()` (SIGHUP) for an external logrotate that moved the file away.
 * - A full disk or unwritable directory never throws: lines are held in a bounded buffer, counted
 *   as dropped past it, the error is reported once, and opening is retried.
 *
 * rotating-file-stream was considered: it has no reopen, closes itself for good after an error,
 * and its numbered mode leaves compression and the total cap out, so this is written by hand.
 */
import {
  closeSync,
  createReadStream,
  fchmodSync,
  mkdirSync,
  openSync,
  type ReadStream,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlibConstants } from 'node:zlib';

export interface RotationOptions {
  /** Rotate when the current file reaches this many bytes (0: never by size). */
  maxBytes: number;
  /** Rotate at local midnight. */
  daily: boolean;
  /** Rotated files kept. */
  keep: number;
  /** Current plus rotated files, in bytes (0: no cap). */
  maxTotalBytes: number;
  /** gzip rotated files beyond the first. */
  compress: boolean;
  /** File mode for new files. */
  mode: number;
}

export interface FileHealth {
  path: string;
  ok: boolean;
  error?: string;
  droppedLines: number;
  droppedBytes: number;
  rotations: number;
}

/** A rotated file; its index (1 = newest) is its position in the list. */
interface Rotated {
  id: number;
  compressed: boolean;
  size: number;
  removed: boolean;
}

const BATCH_BYTES = 256 * 1024;
/** Lines held in memory while the file cannot be written; beyond this they are dropped and counted. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
const RETRY_OPEN_MS = 2000;

export class RotatingFile {
  readonly path: string;
  readonly #opts: RotationOptions;
  readonly #onProblem: (message: string) => void;
  #fd: number | undefined;
  #size = 0;
  #pending: (string | Buffer)[] = [];
  #pendingBytes = 0;
  #flushScheduled = false;
  #rotated: Rotated[] = [];
  #nextId = 1;
  #compressing: Promise<void> | undefined;
  #error: string | undefined;
  #retryAt = 0;
  #droppedLines = 0;
  #droppedBytes = 0;
  #rotations = 0;
  #dayTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(path: string, opts: RotationOptions, onProblem: (message: string) => void) {
    this.path = path;
    this.#opts = opts;
    this.#onProblem = onProblem;
    this.#adoptExisting();
    this.#open();
    if (opts.daily) this.#scheduleMidnight();
  }

  /**
   * Appends whole lines (each ending in a newline). Never throws, never blocks on a broken disk.
   * `borrowed` bytes are reused by the caller once this returns: they are written now (after
   * anything pending, so the order holds), and what the file cannot take now is copied.
   */
  write(lines: string | Buffer, borrowed = false): void {
    if (this.#closed) return;
    if (borrowed && typeof lines !== 'string') {
      if (this.#fd !== undefined) {
        this.#pending.push(lines);
        this.#pendingBytes += lines.length;
        this.flush();
        const left = this.#pending.indexOf(lines);
        if (left !== -1) this.#pending[left] = Buffer.from(lines);
        return;
      }
      lines = Buffer.from(lines);
    }
    const bytes = typeof lines === 'string' ? Buffer.byteLength(lines) : lines.length;
    if (this.#fd === undefined && this.#pendingBytes + bytes > MAX_PENDING_BYTES) {
      this.#droppedBytes += bytes;
      this.#droppedLines += countLines(lines);
      if (Date.now() >= this.#retryAt) this.#open();
      return;
    }
    this.#pending.push(lines);
    this.#pendingBytes += bytes;
    if (this.#pendingBytes >= BATCH_BYTES) this.flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Writes everything buffered now. What the disk refuses stays buffered from its first unwritten
   * byte (a copy: the bytes may be borrowed), so a retry neither loses nor repeats a line.
   */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0) return;
    if (this.#fd === undefined && (Date.now() < this.#retryAt || !this.#open())) return;
    const fd = this.#fd as number;
    while (this.#pending.length > 0) {
      const data = this.#pending[0] as string | Buffer;
      const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      let written = 0;
      try {
        // Strings go to the kernel as they are (one copy each, no join); only a short write (full
        // disk) needs a Buffer to resume from the right byte.
        written = typeof data === 'string' ? writeSync(fd, data) : writeSync(fd, data);
        if (written < bytes) {
          const buf = typeof data === 'string' ? Buffer.from(data) : data;
          while (written < bytes) written += writeSync(fd, buf, written);
        }
      } catch (err) {
        if (written > 0) {
          const buf = typeof data === 'string' ? Buffer.from(data) : data;
          this.#pending[0] = Buffer.from(buf.subarray(written));
          this.#pendingBytes -= written;
          this.#size += written;
        }
        this.#fail(err);
        this.#closeFd();
        return;
      }
      this.#pending.shift();
      this.#pendingBytes -= bytes;
      this.#size += bytes;
    }
    if (this.#error) this.#recovered();
    if (this.#opts.maxBytes > 0 && this.#size >= this.#opts.maxBytes) this.rotate();
  }

  /** Renames the current file to `.1`, shifts and compresses older ones, and opens a fresh file. */
  rotate(): void {
    if (this.#pending.length > 0 && this.#fd !== undefined) {
      const size = this.#opts.maxBytes;
      this.#opts.maxBytes = 0; // flush without recursing into rotate()
      this.flush();
      this.#opts.maxBytes = size;
    }
    if (this.#size === 0) return;
    this.#closeFd();
    try {
      for (let i = this.#rotated.length - 1; i >= 0; i--) {
        const r = this.#rotated[i] as Rotated;
        renameSync(this.#name(i + 1, r.compressed), this.#name(i + 2, r.compressed));
      }
      renameSync(this.path, this.#name(1, false));
      this.#rotated.unshift({ id: this.#nextId++, compressed: false, size: this.#size, removed: false });
      this.#rotations++;
    } catch (err) {
      this.#fail(err);
    }
    this.#size = 0;
    this.#prune();
    this.#open();
    this.#compressNext();
  }

  /** Reopens the path (after an external tool moved the file away): SIGHUP. */
  reopen(): void {
    this.flush();
    this.#closeFd();
    this.#open();
  }

  health(): FileHealth {
    const h: FileHealth = {
      path: this.path,
      ok: this.#error === undefined,
      droppedLines: this.#droppedLines,
      droppedBytes: this.#droppedBytes,
      rotations: this.#rotations,
    };
    if (this.#error) h.error = this.#error;
    return h;
  }

  /** Flushes, closes, and waits (bounded) for a compression under way. */
  async close(timeoutMs = 5000): Promise<void> {
    this.flush();
    this.#closed = true;
    clearTimeout(this.#dayTimer);
    this.#closeFd();
    const deadline = Date.now() + timeoutMs;
    while (this.#compressing && Date.now() < deadline) {
      await Promise.race([this.#compressing, new Promise((r) => setTimeout(r, deadline - Date.now()))]);
    }
  }

  #name(index: number, compressed: boolean): string {
    return `${this.path}.${index}${compressed ? '.gz' : ''}`;
  }

  /** Picks up rotated files a previous run left, so retention and numbering continue. */
  #adoptExisting(): void {
    for (let i = 1; i <= 10_000; i++) {
      const gz = sizeOf(this.#name(i, true));
      const plain = sizeOf(this.#name(i, false));
      if (gz === undefined && plain === undefined) break;
      if (gz !== undefined && plain !== undefined) {
        // A compression finished its rename but not the removal of its source.
        try {
          unlinkSync(this.#name(i, false));
        } catch {
          // gone already
        }
      }
      const compressed = gz !== undefined;
      this.#rotated.push({
        id: this.#nextId++,
        compressed,
        size: (compressed ? gz : plain) as number,
        removed: false,
      });
    }
    this.#prune();
    this.#compressNext();
  }

  #open(): boolean {
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      this.#fd = openSync(this.path, 'a', this.#opts.mode);
      // A file left by an older version keeps its mode otherwise.
      fchmodSync(this.#fd, this.#opts.mode);
      try {
        this.#size = statSync(this.path).size;
      } catch {
        this.#size = 0;
      }
      if (this.#error) this.#recovered();
      return true;
    } catch (err) {
      this.#fd = undefined;
      this.#fail(err);
      return false;
    }
  }

  #closeFd(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // already closed
    }
    this.#fd = undefined;
  }

  #fail(err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const message = `${code} on ${this.path}`;
    this.#retryAt = Date.now() + RETRY_OPEN_MS;
    if (this.#error !== message) {
      this.#error = message;
      this.#onProblem(`cannot write log file: ${message}; holding up to 8 MiB of lines and retrying`);
    }
  }

  #recovered(): void {
    const dropped = this.#droppedLines;
    this.#error = undefined;
    this.#onProblem(
      `log file ${basename(this.path)} writable again${dropped ? ` (${dropped} lines were dropped)` : ''}`,
    );
  }

  #prune(): void {
    const total = () => this.#size + this.#rotated.reduce((n, r) => n + r.size, 0);
    while (
      this.#rotated.length > 0 &&
      (this.#rotated.length > this.#opts.keep ||
        (this.#opts.maxTotalBytes > 0 && total() > this.#opts.maxTotalBytes))
    ) {
      const index = this.#rotated.length;
      const victim = this.#rotated.pop() as Rotated;
      victim.removed = true;
      try {
        unlinkSync(this.#name(index, victim.compressed));
      } catch {
        // already gone
      }
    }
  }

  /** gzips one rotated file (beyond `.1`) at a time, newest first; pruned ones are skipped. */
  #compressNext(): void {
    if (!this.#opts.compress || this.#compressing) return;
    const index = this.#rotated.findIndex((r, i) => i >= 1 && !r.compressed);
    if (index === -1) return;
    const entry = this.#rotated[index] as Rotated;
    const source = this.#name(index + 1, false);
    const tmp = join(dirname(this.path), `.${basename(this.path)}.${entry.id}.gz.tmp`);
    // Opened now, synchronously: a rotation may shift the files under these names before an
    // asynchronous open would run, and then another entry's file would be compressed in its
    // place (one file lost, another twice).
    let input: ReadStream;
    try {
      input = createReadStream(source, { fd: openSync(source, 'r') });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#fail(err);
      return;
    }
    this.#compressing = (async () => {
      try {
        const output = await open(tmp, 'w', this.#opts.mode);
        await pipeline(input, createGzip({ level: zlibConstants.Z_BEST_SPEED }), output.createWriteStream());
        // The file may have shifted or been pruned while it was read: name it by where it is now.
        const now = this.#rotated.indexOf(entry);
        if (entry.removed || now === -1) {
          unlinkSync(tmp);
          return;
        }
        renameSync(tmp, this.#name(now + 1, true));
        unlinkSync(this.#name(now + 1, false));
        entry.compressed = true;
        entry.size = statSync(this.#name(now + 1, true)).size;
      } catch (err) {
        input.destroy(); // closes the source
        try {
          unlinkSync(tmp);
        } catch {
          // nothing written
        }
        // A pruned source is expected; anything else is worth a line.
        if (!entry.removed && (err as NodeJS.ErrnoException).code !== 'ENOENT') this.#fail(err);
      }
    })().finally(() => {
      this.#compressing = undefined;
      this.#prune();
      if (!this.#closed) this.#compressNext();
    });
  }

  #scheduleMidnight(): void {
    const now = new Date();
    const next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 0, 0, 50);
    this.#dayTimer = setTimeout(() => {
      this.rotate();
      this.#scheduleMidnight();
    }, next.getTime() - now.getTime());
    this.#dayTimer.unref();
  }
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

function countLines(text: string | Buffer): number {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}
