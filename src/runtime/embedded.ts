/**
 * Scripts carried after the end of the single executable, loaded only by the process that needs
 * them.
 *
 * Every byte of a CommonJS bundle costs its process about twice that in memory: V8 keeps the whole
 * source as a string, and reading it from the executable maps its pages. So on Linux the
 * executable's main script is the small bundle `robbie supervise` needs, and the rest travels here:
 * the complete CLI (`cli`, which every other command, `robbie serve` included, runs, with its code
 * cache) and nodemailer (`nodemailer`, loaded by a supervisor on its first email alert).
 *
 * Written by hand because Node's single-executable assets need a sea-config.json, which pkg's SEA
 * mode for a single script does not take. The layout is the simplest that can be found from the end:
 *
 *   …executable… | entry | entry | … | index (JSON: name → [offset, length]) | trailer (32 bytes)
 *
 * where the trailer is MAGIC (16 bytes) then the index's length in 16 zero-padded decimal digits.
 * The executable's own loaders ignore what follows their sections, so the binary runs unchanged.
 */
import { appendFileSync, closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/**
 * `cli`: the complete CLI; `cli-cache`: V8's code cache for it, made at build time by the same
 * Node (compiling 1.8 MB of source costs ~30 ms a start, reading the cache ~4 ms); `nodemailer`.
 */
export type EmbeddedName = 'cli' | 'cli-cache' | 'nodemailer';

const MAGIC = 'robbie-embed-v1\n';
const TRAILER = 32;

/** Appends `entries` to `file` (the build does this to each Linux executable). */
export function appendEmbedded(file: string, entries: Partial<Record<EmbeddedName, string | Buffer>>): void {
  let offset = statSync(file).size;
  const index: Record<string, [number, number]> = {};
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(entries)) {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    index[name] = [offset, bytes.length];
    parts.push(bytes);
    offset += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(index), 'utf8');
  const trailer = Buffer.from(MAGIC + String(json.length).padStart(16, '0'), 'latin1');
  appendFileSync(file, Buffer.concat([...parts, json, trailer]));
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** The named entries `file` carries (none when it carries none, or its end was cut off). */
export function readEmbedded(file: string, ...names: EmbeddedName[]): Partial<Record<EmbeddedName, Buffer>> {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < TRAILER) return {};
    const trailer = readAt(fd, size - TRAILER, TRAILER).toString('latin1');
    if (!trailer.startsWith(MAGIC)) return {};
    const indexLength = Number(trailer.slice(MAGIC.length));
    if (!Number.isSafeInteger(indexLength) || indexLength <= 0 || indexLength > size - TRAILER) return {};
    const index = JSON.parse(
      readAt(fd, size - TRAILER - indexLength, indexLength).toString('utf8'),
    ) as Record<string, [number, number]>;
    const out: Partial<Record<EmbeddedName, Buffer>> = {};
    for (const name of names) {
      const entry = index[name];
      if (entry) out[name] = readAt(fd, entry[0], entry[1]);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

const PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];

/** A CommonJS bundle as one script whose value is its module function. */
function compile(source: string, name: EmbeddedName, cachedData?: Buffer): Script {
  return new Script(`(function (${PARAMS.join(', ')}) {${source}\n})`, {
    filename: `robbie-${name}.cjs`,
    ...(cachedData ? { cachedData } : {}),
  });
}

/** The code cache of a bundle (build time, by the Node the executable carries). */
export function codeCacheFor(source: string): Buffer {
  return compile(source, 'cli').createCachedData();
}

/**
 * Evaluates an embedded CommonJS bundle and returns its exports. It is read from the file this
 * process runs (`/proc/self/exe`: the same bytes as its main script even if the executable on disk
 * was replaced since), and sees the same `require` a main script does.
 */
export function loadEmbedded(name: 'cli' | 'nodemailer'): unknown {
  const self = process.platform === 'linux' ? '/proc/self/exe' : process.execPath;
  const entries = name === 'cli' ? readEmbedded(self, 'cli', 'cli-cache') : readEmbedded(self, name);
  const source = entries[name];
  if (source === undefined) {
    throw new Error(
      `this executable is incomplete: its embedded ${name} script is missing (reinstall robbie)`,
    );
  }
  const script = compile(source.toString('utf8'), name, name === 'cli' ? entries['cli-cache'] : undefined);
  if (script.cachedDataRejected && process.env.ROBBIE_DEBUG) {
    process.stderr.write(
      `robbie: the embedded ${name} script's code cache was rejected; compiled from source\n`,
    );
  }
  const module = { exports: {} as unknown };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(module.exports, createRequire(process.execPath), module, process.execPath, dirname(process.execPath));
  return module.exports;
}
