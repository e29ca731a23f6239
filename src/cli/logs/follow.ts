/**
 * `robbie logs -f`: follows the current log file across rotations, printing every whole line once.
 *
 * A rotation is seen at the next poll. When several happened in between (a flood with a small
 * --log-max-size), every file rotated after the one being read is read, oldest first, before the
 * new current file. Which files those are is decided on a snapshot of the directory that did not
 * change while it was taken: each rotation renames every rotated file, and a directory read while
 * names move may miss a file or list it twice (readdir is not atomic against rename), so one
 * listing alone can skip a file. Written by hand: `tail -F` and the libraries like it follow one
 * name and lose whatever was rotated between two of their polls.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, constants as zlibConstants } from 'node:zlib';
import { type OpenFile, positionOf } from './reader.ts';

/** One file of the stream as the directory names it now: `index` 0 is the current file. */
interface Entry {
  file: string;
  index: number;
  gz: boolean;
  ino: number;
}

/** How long a snapshot is tried for before the follower goes on with the last one it took. */
const SNAPSHOT_TRIES = 200;
const SNAPSHOT_RETRY_MS = 5;

/**
 * The stream's files, newest first (current, .1, .2, …), plain before gzipped at one index;
 * undefined when a file vanished between the listing and its stat (a rotation is under way).
 */
function listing(dir: string, name: string): Entry[] | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const n of names) {
    const at = positionOf(n, name);
    if (!at) continue;
    const file = join(dir, n);
    try {
      out.push({ file, ...at, ino: statSync(file).ino });
    } catch {
      return undefined;
    }
  }
  return out.sort((a, b) => a.index - b.index || Number(a.gz) - Number(b.gz));
}

const sameListing = (a: Entry[], b: Entry[]): boolean =>
  a.length === b.length && a.every((e, i) => e.file === b[i]?.file && e.ino === b[i]?.ino);

function firstLineOfFd(fd: number): string | undefined {
  const head = Buffer.alloc(128 * 1024);
  const n = readSync(fd, head, 0, head.length, 0);
  const nl = head.subarray(0, n).indexOf(10);
  return nl === -1 ? undefined : head.toString('utf8', 0, nl);
}

/**
 * The first line of a gzipped file: only its first 64 KiB are inflated (a file newer than the one
 * sought is read whole afterwards, and need not be inflated twice); the whole file when its first
 * line is longer than that.
 */
function firstLineOfGz(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(64 * 1024);
    const n = readSync(fd, head, 0, head.length, 0);
    const start = gunzipSync(head.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    const nl = start.indexOf(10);
    if (nl !== -1) return start.toString('utf8', 0, nl);
    const text = readWhole(fd, true);
    const whole = text.indexOf('\n');
    return whole === -1 ? undefined : text.slice(0, whole);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readWhole(fd: number, gz: boolean): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(256 * 1024);
  for (let offset = 0; ; ) {
    const n = readSync(fd, buf, 0, buf.length, offset);
    if (n <= 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    offset += n;
  }
  const raw = Buffer.concat(chunks);
  try {
    return (gz ? gunzipSync(raw) : raw).toString('utf8');
  } catch {
    return ''; // a damaged archive: nothing of it can be printed
  }
}

/** The file just finished: its inode while it is plain, its first line once it was gzipped. */
interface Finished {
  ino: number;
  first: string | undefined;
}

interface CatchUp {
  /** The files rotated after the finished one, oldest first, open. */
  rotated: { fd: number; gz: boolean }[];
  /** The current file, open, or undefined when there is none. */
  current: { fd: number; ino: number } | undefined;
  /** False when the directory kept changing and the last snapshot was taken as it was. */
  settled: boolean;
}

/**
 * Opens what must be read after `done`: the files rotated after it and the current one. The
 * directory is listed, the files are opened, and it is listed again; only when both listings
 * agree (every name holds the same inode) are the open files a true picture of one moment.
 * `done` stays open meanwhile, so its inode cannot be reused. When `done` is not there at all it
 * was pruned, and every rotated file there is newer (retention removes the oldest first).
 */
async function openAfter(path: string, done: Finished, signal: AbortSignal): Promise<CatchUp> {
  const dir = dirname(path);
  const name = basename(path);
  let last: CatchUp = { rotated: [], current: undefined, settled: false };
  for (let attempt = 0; attempt < SNAPSHOT_TRIES && !signal.aborted; attempt++) {
    if (attempt > 0) await sleep(SNAPSHOT_RETRY_MS);
    const before = listing(dir, name);
    if (!before) continue;
    const wanted: Entry[] = [];
    for (const e of before) {
      if (e.index === 0) continue;
      if (e.gz ? done.first !== undefined && firstLineOfGz(e.file) === done.first : e.ino === done.ino) break;
      if (wanted.at(-1)?.index !== e.index) wanted.push(e);
    }
    const oldestFirst = wanted.reverse();
    const current = before.find((e) => e.index === 0);
    const opened: { fd: number; gz: boolean; ino: number }[] = [];
    let openedAll = true;
    for (const e of [...oldestFirst, ...(current ? [current] : [])]) {
      try {
        const fd = openSync(e.file, 'r');
        opened.push({ fd, gz: e.gz, ino: fstatSync(fd).ino });
      } catch {
        openedAll = false;
        break;
      }
    }
    if (!openedAll) {
      for (const o of opened) closeSync(o.fd);
      continue;
    }
    const after = listing(dir, name);
    const settled =
      after !== undefined &&
      sameListing(before, after) &&
      current !== undefined &&
      opened.every((o, i) => o.ino === (oldestFirst[i] ?? current).ino);
    for (const f of last.rotated) closeSync(f.fd);
    if (last.current) closeSync(last.current.fd);
    const cur = current ? opened.pop() : undefined;
    last = {
      rotated: opened.map(({ fd, gz }) => ({ fd, gz })),
      current: cur && { fd: cur.fd, ino: cur.ino },
      settled,
    };
    if (settled) return last;
  }
  return last;
}

/**
 * Follows `path` across rotations, printing every whole line once, until `signal` aborts; polls
 * every `everyMs`. `start` is the current file as already read up to its size; `onWarn` hears of a
 * catch-up that could not be sure it missed nothing.
 */
export async function follow(
  path: string,
  onLine: (line: string) => void,
  onWarn: (message: string) => void,
  signal: AbortSignal,
  start: OpenFile | undefined,
  everyMs = 200,
): Promise<void> {
  let fd: number | undefined = start?.fd;
  let ino = start?.ino ?? -1;
  let offset = start?.size ?? 0;
  let decoder = new StringDecoder('utf8');
  let rest = '';
  const buf = Buffer.alloc(256 * 1024);
  const emit = (text: string) => {
    const parts = (rest + text).split('\n');
    rest = parts.pop() ?? '';
    for (const l of parts) if (l) onLine(l);
  };
  /** A file read to its end: what is left of it is its last line, without a newline. */
  const endFile = () => {
    emit(`${decoder.end()}\n`);
    decoder = new StringDecoder('utf8');
  };
  const drain = () => {
    if (fd === undefined) return;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n <= 0) break;
      offset += n;
      emit(decoder.write(buf.subarray(0, n)));
    }
  };
  const openCurrent = () => {
    try {
      fd = openSync(path, 'r');
      ino = fstatSync(fd).ino;
      offset = 0;
    } catch {
      fd = undefined;
    }
  };
  if (!start) openCurrent();
  while (!signal.aborted) {
    drain();
    let now: number | undefined;
    try {
      now = statSync(path).ino;
    } catch {
      now = undefined;
    }
    if (now !== undefined && now !== ino) {
      if (fd === undefined) {
        openCurrent();
        continue;
      }
      // Rotated. The old file is complete (the supervisor closes it before renaming it): finish
      // it, then read what was rotated after it, then go on with the new current file.
      drain();
      endFile();
      const up = await openAfter(path, { ino, first: firstLineOfFd(fd) }, signal);
      closeSync(fd);
      for (const f of up.rotated) {
        emit(readWhole(f.fd, f.gz));
        endFile();
        closeSync(f.fd);
      }
      if (!up.settled) {
        onWarn(
          'the log files rotated faster than they could be listed: lines may be missing or repeated here (a larger --log-max-size avoids this)',
        );
      }
      fd = up.current?.fd;
      ino = up.current?.ino ?? -1;
      offset = 0;
      continue;
    }
    await sleep(everyMs, undefined, { signal }).catch(() => undefined);
  }
  if (fd !== undefined) closeSync(fd);
}
