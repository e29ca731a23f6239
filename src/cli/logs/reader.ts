/**
 * Reading robbie's logs back: the current file and its rotated predecessors (gzipped or not), in
 * order, filtered by level, time and source; and following the current file across rotations.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { LEVEL_RANK, type LevelName } from '../../logger/levels.ts';

export interface LogFilter {
  minLevel?: LevelName | undefined;
  /** Epoch ms: lines older than this are skipped. */
  since?: number | undefined;
  source?: string | undefined;
}

/** The files of one stream, oldest first: name.N(.gz) … name.1, name. */
export function logFiles(dir: string, name: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const rotated: { n: number; file: string }[] = [];
  for (const e of entries) {
    const m = new RegExp(`^${name.replace(/[.]/g, '\\.')}\\.(\\d+)(\\.gz)?$`).exec(e);
    if (m) rotated.push({ n: Number(m[1]), file: join(dir, e) });
  }
  rotated.sort((a, b) => b.n - a.n);
  const files = rotated.map((r) => r.file);
  if (existsSync(join(dir, name))) files.push(join(dir, name));
  return files;
}

function readText(file: string): string {
  try {
    const raw = readFileSync(file);
    return file.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  } catch {
    // Rotated away or pruned between listing and reading.
    return '';
  }
}

export function matches(line: string, filter: LogFilter): boolean {
  if (!filter.minLevel && filter.since === undefined && !filter.source) return true;
  let rec: { level?: unknown; time?: unknown; source?: unknown };
  try {
    rec = JSON.parse(line) as typeof rec;
  } catch {
    return false;
  }
  if (filter.minLevel) {
    const rank = LEVEL_RANK[String(rec.level) as LevelName];
    if (rank === undefined || rank > LEVEL_RANK[filter.minLevel]) return false;
  }
  if (filter.since !== undefined) {
    const t = Date.parse(String(rec.time));
    if (!(t >= filter.since)) return false;
  }
  if (filter.source && rec.source !== filter.source) return false;
  return true;
}

/**
 * The last `limit` matching lines (0: all), oldest first. Files are read newest first so that a
 * short tail of a long history touches only the newest files.
 */
export function readLines(files: string[], filter: LogFilter, limit: number, newest?: string): string[] {
  const chunks: string[][] = [];
  let count = 0;
  const texts: (() => string)[] = files.map((f) => () => readText(f));
  if (newest !== undefined) texts.push(() => newest);
  for (let i = texts.length - 1; i >= 0; i--) {
    const lines = (texts[i] as () => string)().split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const kept = lines.filter((l) => l.length > 0 && matches(l, filter));
    chunks.unshift(kept);
    count += kept.length;
    if (limit > 0 && count >= limit) break;
  }
  const all = chunks.flat();
  return limit > 0 ? all.slice(-limit) : all;
}

/**
 * Follows `path` like `tail -F`: new lines as they are written; when the file is rotated (renamed
 * and replaced) the old one is read to its end before the new one is opened, so nothing is skipped.
 * Runs until `signal` aborts; polls every `everyMs`.
 */
/** The first line of a log file (plain or gzipped), to recognise it after it was renamed. */
function firstLineOf(file: string): string | undefined {
  try {
    if (file.endsWith('.gz')) {
      const text = gunzipSync(readFileSync(file)).toString('utf8');
      const nl = text.indexOf('\n');
      return nl === -1 ? undefined : text.slice(0, nl);
    }
    const fd = openSync(file, 'r');
    try {
      return firstLineOfFd(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function firstLineOfFd(fd: number): string | undefined {
  const head = Buffer.alloc(128 * 1024);
  const n = readSync(fd, head, 0, head.length, 0);
  const nl = head.subarray(0, n).indexOf(10);
  return nl === -1 ? undefined : head.toString('utf8', 0, nl);
}

/**
 * Follows `path` across rotations, printing every whole line once. A rotation is seen at the next
 * poll; when several happened in between (a flood with a small --log-max-size), the file being
 * read is found again among the rotated ones by its first line, and every file rotated after it —
 * plain or already gzipped — is read in order before the new current file.
 */
export async function follow(
  path: string,
  onLine: (line: string) => void,
  signal: AbortSignal,
  start: OpenFile | undefined,
  everyMs = 200,
): Promise<void> {
  let fd: number | undefined = start?.fd;
  let ino = start?.ino ?? -1;
  let offset = start?.size ?? 0;
  let first = fd === undefined ? undefined : firstLineOfFd(fd);
  let rest = '';
  const buf = Buffer.alloc(256 * 1024);
  const open = () => {
    try {
      fd = openSync(path, 'r');
      ino = fstatSync(fd).ino;
      offset = 0;
      first = undefined;
    } catch {
      fd = undefined;
    }
  };
  const emit = (text: string) => {
    const lines = (rest + text).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      if (first === undefined) first = l;
      if (l) onLine(l);
    }
  };
  const drain = () => {
    if (fd === undefined) return;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n <= 0) break;
      offset += n;
      emit(buf.toString('utf8', 0, n));
    }
  };
  /** The rotated file right after the one whose first line is `last`, as the files are named now. */
  const after = (last: string): string | undefined => {
    // Newest first (.1, .2, …).
    const rotated = logFiles(dirname(path), basename(path))
      .filter((f) => f !== path)
      .reverse();
    const at = rotated.findIndex((f) => firstLineOf(f) === last);
    return at > 0 ? rotated[at - 1] : undefined;
  };
  const inodeOf = (file: string) => {
    try {
      return statSync(file).ino;
    } catch {
      return undefined;
    }
  };
  /**
   * Reads the files rotated after the one just finished (its first line is `done`), oldest first,
   * up to the one now open as current (inode `now`: it may itself have rotated meanwhile). Every
   * step finds its file afresh and checks it is still the one after the last file read: a rotation
   * meanwhile renames every file (and compresses the one it pushed to .2), so a name can hold
   * another file by the time it is read. The supervisor never rotates an empty file, so every
   * rotated file has a first line to be found by.
   */
  const catchUp = (done: string | undefined, now: number) => {
    let last = done;
    for (let step = 0; last !== undefined && step < 10_000; step++) {
      const file = after(last);
      if (file === undefined) return;
      if (!file.endsWith('.gz') && inodeOf(file) === now) {
        // The file open as current — unless a rotation moved the names since.
        const again = after(last);
        if (again !== undefined && !again.endsWith('.gz') && inodeOf(again) === now) return;
        continue;
      }
      const text = readText(file);
      const nl = text.indexOf('\n');
      const head = nl === -1 ? undefined : text.slice(0, nl);
      const again = after(last);
      if (head === undefined || again === undefined || firstLineOf(again) !== head) continue;
      rest = '';
      emit(text);
      last = head;
    }
  };
  if (!start) open();
  while (!signal.aborted) {
    drain();
    let current: number | undefined;
    try {
      current = statSync(path).ino;
    } catch {
      current = undefined;
    }
    if (current !== undefined && current !== ino) {
      // Rotated: finish the old file (still open), then what was rotated after it, then the new one.
      drain();
      if (fd !== undefined) closeSync(fd);
      const done = first;
      rest = '';
      open();
      const opened = { fd, ino, first };
      catchUp(done, ino);
      // catchUp emitted other files' lines: the file now open starts afresh.
      ({ fd, ino } = opened);
      first = opened.first;
      rest = '';
      continue;
    }
    if (fd === undefined && current !== undefined) open();
    await sleep(everyMs, undefined, { signal }).catch(() => undefined);
  }
  if (fd !== undefined) closeSync(fd);
}

export interface OpenFile {
  fd: number;
  ino: number;
  size: number;
}

/** Opens the current file and notes how far it reaches now: reading up to there, then following from there, misses nothing. */
export function openCurrent(path: string): OpenFile | undefined {
  try {
    const fd = openSync(path, 'r');
    const st = fstatSync(fd);
    return { fd, ino: st.ino, size: st.size };
  } catch {
    return undefined;
  }
}

export function readRange(fd: number, size: number): string {
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n <= 0) break;
    off += n;
  }
  return buf.toString('utf8', 0, off);
}

/** The rotated files of a stream (oldest first), leaving out the one `current` still points at. */
export function rotatedFiles(dir: string, name: string, current: OpenFile | undefined): string[] {
  return logFiles(dir, name).filter((f) => {
    if (basename(f) === name) return false;
    if (!current) return true;
    try {
      return statSync(f).ino !== current.ino;
    } catch {
      return false;
    }
  });
}

export function describeFiles(dir: string, name: string): string {
  const files = logFiles(dir, name);
  return files.length ? files.map((f) => basename(f)).join(', ') : `no ${name}*`;
}
