import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { LevelName } from '../logging/levels.ts';
import { redactBulk } from '../logging/redact.ts';
import { MAX_LINE_CHARS } from './limits.ts';
import { frameLine, isErrorLevel, plainPrefix, type StreamName } from './log-record.ts';
import type { LogSink } from './log-sink.ts';

/**
 * A run of lines can be framed all at once when no line is a JSON object of its own (those are
 * merged field by field), none ends in \r, and there is no backslash: then, in
 * `JSON.stringify(text)`, every `\n` escape is a line break and nothing else, and the whole run is
 * escaped by one native call and split by one `replaceAll`.
 */
function framableAtOnce(text: string, chunkChars: number): boolean {
  // Lines over 64 KiB are cut line by line: the first line carries what was left from the last
  // read, every later one lies within this read, so two bounds cover them all.
  const firstBreak = text.indexOf('\n');
  return (
    (firstBreak === -1 ? text.length : firstBreak) <= MAX_LINE_CHARS &&
    chunkChars <= MAX_LINE_CHARS + 1 &&
    text.charCodeAt(0) !== 123 &&
    !text.includes('\n{') &&
    !text.includes('\\') &&
    !text.includes('\r')
  );
}

/**
 * Reads one of a child's pipes and writes each line to the log sink as a JSON record. The pipe
 * belongs to the supervisor, so a child that restarts or dies mid-line loses nothing: the
 * unterminated last line is written when the pipe closes. Multi-byte characters split across
 * reads stay whole; invalid bytes become U+FFFD; lines over 64 KiB are cut into pieces marked
 * `partial` — nothing is dropped.
 *
 * Throughput: a chunk whose complete lines need no escaping (the common case: plain text) is framed
 * with a single `replaceAll` over the whole chunk, so the per-line cost stays inside V8's native
 * string code; anything else goes line by line through `frameLine`.
 */
export function captureOutput(
  stream: Readable,
  meta: { source: string; pid: number; stream: StreamName },
  sink: LogSink,
): Promise<void> {
  const level: LevelName = meta.stream === 'stderr' ? 'error' : 'info';
  const fromStderr = meta.stream === 'stderr';
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let time = '';
  let prefix = '';

  const lineByLine = (lines: string[], isPartial: boolean): void => {
    let out = '';
    let errors = '';
    for (const raw of lines) {
      const line = redactBulk(raw);
      for (let i = 0; i < line.length || i === 0; i += MAX_LINE_CHARS) {
        const piece = line.length > MAX_LINE_CHARS ? line.slice(i, i + MAX_LINE_CHARS) : line;
        const cut = isPartial || i + MAX_LINE_CHARS < line.length;
        const framed = frameLine(piece, cut, { ...meta, time }, prefix, level);
        out += framed.line;
        if (fromStderr || isErrorLevel(framed.level)) errors += framed.line;
        if (line.length <= MAX_LINE_CHARS) break;
      }
    }
    if (out) sink.writeFramed(out, errors);
  };

  /** `complete`: whole lines joined by \n, without the last newline. */
  const frame = (raw: string, chunkChars: number): void => {
    const complete = redactBulk(raw);
    if (framableAtOnce(complete, chunkChars)) {
      const out = `${prefix}${JSON.stringify(complete).replaceAll('\\n', `"}\n${prefix}"`)}}\n`;
      sink.writeFramed(out, fromStderr ? out : '');
      return;
    }
    lineByLine(
      complete.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)),
      false,
    );
  };

  const stamp = () => {
    // One timestamp per chunk: lines read together were written within microseconds.
    time = new Date().toISOString();
    prefix = plainPrefix({ ...meta, time }, level);
  };

  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      stamp();
      const decoded = decoder.write(chunk);
      const text = partial + decoded;
      const last = text.lastIndexOf('\n');
      if (last === -1) {
        partial = text;
      } else {
        frame(text.slice(0, last), decoded.length);
        partial = text.slice(last + 1);
      }
      // A line with no end in sight is written in 64 KiB pieces rather than held without bound.
      if (partial.length > MAX_LINE_CHARS) {
        const keep = partial.length % MAX_LINE_CHARS;
        lineByLine([partial.slice(0, partial.length - keep)], true);
        partial = partial.slice(partial.length - keep);
      }
    });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      stamp();
      const rest = partial + decoder.end();
      partial = '';
      if (rest.length > 0) lineByLine([rest.endsWith('\r') ? rest.slice(0, -1) : rest], false);
      resolve();
    };
    stream.once('end', finish);
    stream.once('error', finish);
  });
}
