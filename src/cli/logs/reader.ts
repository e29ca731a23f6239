/**
 * Reading robbie's logs back: the current file and its rotated predecessors (gzipped or not), in
 * order, filtered by level, time and source. Following them is follow.ts.
 */
import { fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { LEVEL_RANK, type LevelName } from '../../logger/levels.ts';

export interface LogFilter {
  minLevel?: LevelName | undefined;
  /** Epoch ms: lines older than this are skipped. */
  since?: number | undefined;
  source?: string | undefined;
}

/**
 * Where a directory entry stands in one stream's files: 0 for the current file (`name`), N for a
 * rotated one (`name.N`, gzipped as `name.N.gz`); undefined for anything else. The supervisor's
 * RotatingFile names them so.
 */
export function positionOf(entry: string, name: string): { index: number; gz: boolean } | undefined {
  if (entry === name) return { index: 0, gz: false };
  if (!entry.startsWith(`${name}.`)) return undefined;
  const m = /^(\d+)(\.gz)?$/.exec(entry.slice(name.length + 1));
  return m ? { index: Number(m[1]), gz: m[2] !== undefined } : undefined;
}

/**
 * The files of one stream, oldest first: name.N(.gz) … name.1, name. While a file is being
 * compressed both name.N and name.N.gz are there, with the same lines: only one is listed.
 */
export function logFiles(dir: string, name: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const byIndex = new Map<number, string>();
  for (const e of entries) {
    const at = positionOf(e, name);
    if (at && !(at.gz && byIndex.has(at.index))) byIndex.set(at.index, join(dir, e));
  }
  return [...byIndex.entries()].sort((a, b) => b[0] - a[0]).map(([, file]) => file);
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

export interface OpenFile {
  fd: number;
  ino: number;
  /** Where its whole lines end (a line still being written is left to the follower). */
  size: number;
  /** Its whole lines. */
  text: string;
}

/**
 * Opens the current file and reads its whole lines: printing those, then following from where
 * they end, misses nothing and cuts no line in two.
 */
export function openCurrent(path: string): OpenFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  const st = fstatSync(fd);
  const buf = Buffer.alloc(st.size);
  let off = 0;
  while (off < st.size) {
    const n = readSync(fd, buf, off, st.size - off, off);
    if (n <= 0) break;
    off += n;
  }
  const size = buf.subarray(0, off).lastIndexOf(10) + 1;
  return { fd, ino: st.ino, size, text: buf.toString('utf8', 0, size) };
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
