/**
 * Scripts carried after the end of the single executable, loaded only by the process that needs
 * them.
 *
 * Every byte of a CommonJS bundle costs its process about twice that in memory: V8 keeps the whole
 * source as a string, and reading it from the executable maps its pages. So on Linux the
 * executable's main script is the small bundle `robbie supervise` needs, and the rest travels here:
 * the complete CLI (`cli`, which every other command, `robbie serve` included, runs) and nodemailer
 * (`nodemailer`, loaded by a supervisor on its first email alert).
 *
 * Written by hand because Node's single-executable assets need a sea-config.json, which pkg's SEA
 * mode for a single script does not take. The layout is the simplest that can be found from the end:
 *
 *   …executable… | script | script | … | index (JSON: name → [offset, length]) | trailer (32 bytes)
 *
 * where the trailer is MAGIC (16 bytes) then the index's length in 16 zero-padded decimal digits.
 * The executable's own loaders ignore what follows their sections, so the binary runs unchanged.
 */
import { appendFileSync, closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { compileFunction } from 'node:vm';

export type EmbeddedName = 'cli' | 'nodemailer';

const MAGIC = 'robbie-embed-v1\n';
const TRAILER = 32;

/** Appends `scripts` to `file` (the build does this to each Linux executable). */
export function appendEmbedded(file: string, scripts: Record<EmbeddedName, string>): void {
  let offset = fstatSize(file);
  const index: Record<string, [number, number]> = {};
  const parts: Buffer[] = [];
  for (const [name, source] of Object.entries(scripts)) {
    const bytes = Buffer.from(source, 'utf8');
    index[name] = [offset, bytes.length];
    parts.push(bytes);
    offset += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(index), 'utf8');
  const trailer = Buffer.from(MAGIC + String(json.length).padStart(16, '0'), 'latin1');
  appendFileSync(file, Buffer.concat([...parts, json, trailer]));
}

function fstatSize(file: string): number {
  const fd = openSync(file, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
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

/** The source of one embedded script of `file`, or undefined when the file carries none. */
export function readEmbedded(file: string, name: EmbeddedName): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < TRAILER) return undefined;
    const trailer = readAt(fd, size - TRAILER, TRAILER).toString('latin1');
    if (!trailer.startsWith(MAGIC)) return undefined;
    const indexLength = Number(trailer.slice(MAGIC.length));
    if (!Number.isSafeInteger(indexLength) || indexLength <= 0 || indexLength > size - TRAILER)
      return undefined;
    const index = JSON.parse(
      readAt(fd, size - TRAILER - indexLength, indexLength).toString('utf8'),
    ) as Record<string, [number, number] | undefined>;
    const entry = index[name];
    if (!entry) return undefined;
    const [offset, length] = entry;
    return readAt(fd, offset, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Evaluates an embedded CommonJS bundle and returns its exports. It is read from the file this
 * process runs (`/proc/self/exe`: the same bytes as its main script even if the executable on disk
 * was replaced since), and sees the same `require` a main script does.
 */
export function loadEmbedded(name: EmbeddedName): unknown {
  const self = process.platform === 'linux' ? '/proc/self/exe' : process.execPath;
  const source = readEmbedded(self, name);
  if (source === undefined) {
    throw new Error(
      `this executable is incomplete: its embedded ${name} script is missing (reinstall robbie)`,
    );
  }
  const module = { exports: {} as unknown };
  const run = compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], {
    filename: `robbie-${name}.cjs`,
  });
  const require = createRequire(process.execPath);
  run(module.exports, require, module, process.execPath, dirname(process.execPath));
  return module.exports;
}
