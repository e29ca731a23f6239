import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** The last `n` lines of a file (reads at most the last `maxBytes`); [] when it does not exist. */
export function tailLines(path: string, n: number, maxBytes = 256 * 1024): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    if (len < size) lines.shift(); // the first line is cut
    return lines.slice(-n);
  } finally {
    closeSync(fd);
  }
}
