import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import type { LevelName } from '../../logger/levels.ts';
import { mayNeedBulkRedaction, mayNeedRedaction, redactBulk } from '../../logger/redact.ts';
import { MAX_LINE_CHARS } from './limits.ts';
import { frameLine, isErrorLevel, plainPrefix, type StreamName } from './log-record.ts';
import type { LogSink } from './log-sink.ts';

const NEWLINE = 10;
const QUOTE = 34;
const BACKSLASH = 92;
const CR = 13;
const BRACE = 123;
const LINE_THEN_BRACE = Buffer.from('\n{');
const SUFFIX = Buffer.from('"}\n');
/** What JSON must escape, but for \n (the line separator) — quote, backslash, CR are searched natively. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;

/**
 * Frames whole lines without turning them into strings: each line's bytes are copied between the
 * record prefix and `"}\n`. Only for bytes that need no JSON escaping, are valid UTF-8, hold no
 * JSON object line, no over-long line and nothing to redact; returns undefined otherwise (the
 * caller then goes line by line). Native searches and copies only, which is what lets the
 * supervisor keep up with a child writing hundreds of MiB/s.
 */
function frameBytes(bytes: Buffer, prefix: Buffer): Buffer | undefined {
  if (
    bytes.length === 0 ||
    bytes[0] === BRACE ||
    bytes.indexOf(QUOTE) !== -1 ||
    bytes.indexOf(BACKSLASH) !== -1 ||
    bytes.indexOf(CR) !== -1 ||
    bytes.indexOf(LINE_THEN_BRACE) !== -1 ||
    !isUtf8(bytes) ||
    mayNeedBulkRedaction(bytes)
  ) {
    return undefined;
  }
  // Newline positions, found once (a chunk is at most a few hundred KiB of lines).
  const ends: number[] = [];
  let start = 0;
  for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, nl + 1)) {
    if (nl - start > MAX_LINE_CHARS) return undefined;
    ends.push(nl);
    start = nl + 1;
  }
  if (bytes.length - start > MAX_LINE_CHARS) return undefined;
  ends.push(bytes.length);
  // The other control characters, on the latin1 view (UTF-8 bytes ≥ 0x80 are not in the class).
  if (CONTROL.test(bytes.toString('latin1'))) return undefined;
  const lines = ends.length;
  // Between two lines stands `"}\n` + the next prefix: one copy instead of two.
  const joint = Buffer.concat([SUFFIX, prefix]);
  const out = Buffer.allocUnsafe(lines * (prefix.length + SUFFIX.length) + bytes.length - (lines - 1));
  let o = prefix.copy(out, 0);
  start = 0;
  for (let i = 0; i < lines; i++) {
    const nl = ends[i] as number;
    o += bytes.copy(out, o, start, nl);
    o += (i === lines - 1 ? SUFFIX : joint).copy(out, o);
    start = nl + 1;
  }
  return out;
}

/**
 * Reads one of a child's pipes and writes each line to the log sink as a JSON record. The pipe
 * belongs to the supervisor, so a child that restarts or dies mid-line loses nothing: the
 * unterminated last line is written when the pipe closes. Multi-byte characters split across
 * reads stay whole; invalid bytes become U+FFFD; lines over 64 KiB are cut into pieces marked
 * `partial` — nothing is dropped.
 *
 * Plain lines (the common case) are framed as bytes by `frameBytes`; anything else — JSON lines
 * of the child's own, text to escape or redact, invalid UTF-8 — goes line by line through
 * `frameLine`.
 */
export function captureOutput(
  stream: Readable,
  meta: { source: string; pid: number; stream: StreamName },
  sink: LogSink,
): Promise<void> {
  const level: LevelName = meta.stream === 'stderr' ? 'error' : 'info';
  const fromStderr = meta.stream === 'stderr';
  let carry: Buffer | undefined;
  let time = '';
  let prefix = '';
  let prefixBytes = Buffer.alloc(0);

  const lineByLine = (lines: string[], isPartial: boolean): void => {
    let out = '';
    let errors = '';
    for (const raw of lines) {
      const line = mayNeedRedaction(raw) ? redactBulk(raw) : raw;
      // An empty line is one record too.
      const count = Math.max(1, Math.ceil(line.length / MAX_LINE_CHARS));
      for (let i = 0; i < count; i++) {
        const piece = count === 1 ? line : line.slice(i * MAX_LINE_CHARS, (i + 1) * MAX_LINE_CHARS);
        const framed = frameLine(piece, isPartial || i < count - 1, { ...meta, time }, prefix, level);
        out += framed.line;
        if (fromStderr || isErrorLevel(framed.level)) errors += framed.line;
      }
    }
    if (out) sink.writeFramed(out, errors);
  };

  /** Whole lines, joined by \n, without the last newline. */
  const frame = (bytes: Buffer): void => {
    const fast = frameBytes(bytes, prefixBytes);
    if (fast) {
      sink.writeFramed(fast, fromStderr ? fast : '');
      return;
    }
    // A chunk boundary never splits a line here, but it may split a character at the very end of
    // an unterminated line: the decoder keeps those bytes for the next read.
    const text = bytes.toString('utf8');
    lineByLine(
      text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)),
      false,
    );
  };

  const stamp = () => {
    // One timestamp per chunk: lines read together were written within microseconds.
    time = new Date().toISOString();
    prefix = plainPrefix({ ...meta, time }, level);
    prefixBytes = Buffer.from(`${prefix}"`);
  };

  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      stamp();
      const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
      const last = buf.lastIndexOf(NEWLINE);
      if (last === -1) {
        carry = buf;
      } else {
        frame(buf.subarray(0, last));
        carry = last + 1 < buf.length ? Buffer.from(buf.subarray(last + 1)) : undefined;
      }
      // A line with no end in sight is written in 64 KiB pieces rather than held without bound,
      // cut on a character boundary.
      if (carry && carry.length > MAX_LINE_CHARS) {
        let cut = carry.length - (carry.length % MAX_LINE_CHARS);
        while (cut > 0 && ((carry[cut] as number) & 0xc0) === 0x80) cut--;
        if (cut > 0) {
          lineByLine([carry.toString('utf8', 0, cut)], true);
          carry = Buffer.from(carry.subarray(cut));
        }
      }
    });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      stamp();
      const rest = carry ? carry.toString('utf8') : '';
      carry = undefined;
      if (rest.length > 0) lineByLine([rest.endsWith('\r') ? rest.slice(0, -1) : rest], false);
      resolve();
    };
    stream.once('end', finish);
    stream.once('error', finish);
  });
}
