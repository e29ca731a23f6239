import type { LevelName } from '../../logger/levels.ts';
import { mayNeedRedaction, redactBulk } from '../../logger/redact.ts';
import { compiledLineFramer, lineFramer } from './frame-lines.ts';
import { MAX_LINE_CHARS } from './limits.ts';
import { frameLine, isErrorLevel, plainPrefix, type StreamName } from './log-record.ts';
import type { LogSink } from './log-sink.ts';
import type { ChunkReader } from './output-pipes.ts';

const NEWLINE = 10;
const BRACE = 123;
const TIME_FIELD = '{"time":"';
/**
 * Whole lines read together below this many bytes go line by line until the WebAssembly framer is
 * compiled: it pays off on a flood, and compiling it costs a supervisor about 1 MiB of memory,
 * which one whose children log a line now and then never has to pay.
 */
const COMPILE_BYTES = 16 * 1024;
/**
 * Once it is compiled, the framer takes every chunk of this many bytes or more (about ten lines of
 * a flood): a writer's large writes reach the pipe a few pages at a time, and a flood read in such
 * pieces went a quarter line by line (tests/fixtures/flood.mjs, 200 MiB, runs interleaved:
 * supervisor CPU 0.64–0.75 s with the 16 KiB rule alone, 0.56–0.59 s with this one).
 */
const FAST_PATH_BYTES = 1024;

/**
 * Reads one of a child's pipes and writes each line to the log sink as a JSON record. The pipe
 * belongs to the supervisor, so a child that restarts or dies mid-line loses nothing: the
 * unterminated last line is written when the pipe closes. Multi-byte characters split across
 * reads stay whole; invalid bytes become U+FFFD; lines over 64 KiB are cut into pieces marked
 * `partial` — nothing is dropped.
 *
 * Plain lines read in bulk (a flood) are framed as bytes by the WebAssembly `LineFramer`; anything
 * else — a few lines at a time, JSON lines of the child's own, text to escape or redact, invalid
 * UTF-8 — goes line by line through `frameLine`.
 */
export async function captureOutput(
  read: (onChunk: ChunkReader) => Promise<void>,
  meta: { source: string; pid: number; stream: StreamName },
  sink: LogSink,
): Promise<void> {
  const level: LevelName = meta.stream === 'stderr' ? 'error' : 'info';
  const fromStderr = meta.stream === 'stderr';
  let carry: Buffer | undefined;
  let time = '';
  let prefix = '';

  const lineByLine = (lines: string[], isPartial: boolean): void => {
    let out = '';
    let errors = '';
    for (const raw of lines) {
      // frameLine redacts each record; a line cut into pieces is redacted whole first, so a secret
      // across a cut is caught too.
      const line = raw.length > MAX_LINE_CHARS && mayNeedRedaction(raw) ? redactBulk(raw) : raw;
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

  /** Whole lines, joined by \n, without the last newline: `head` (if any) then `body`. */
  const frame = (head: Buffer | undefined, body: Buffer): void => {
    // A chunk that starts with one of the child's own JSON lines goes line by line at once.
    const first = head && head.length > 0 ? head[0] : body[0];
    const bytes = (head?.length ?? 0) + body.length;
    const framer =
      first === BRACE || bytes < FAST_PATH_BYTES
        ? undefined
        : bytes < COMPILE_BYTES
          ? compiledLineFramer()
          : lineFramer();
    const fast = framer?.frame(head, body, Buffer.from(`"}\n${prefix}"`), MAX_LINE_CHARS);
    if (fast) {
      // The framer's memory is reused by the next chunk: the sink writes or copies it now.
      sink.writeFramed(fast, fromStderr ? fast : '', true);
      return;
    }
    const whole = head ? Buffer.concat([head, body]) : body;
    // A chunk boundary never splits a line here, but it may split a character at the very end of
    // an unterminated line: the decoder keeps those bytes for the next read.
    const text = whole.toString('utf8');
    lineByLine(
      text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)),
      false,
    );
  };

  // The prefix after its time is the same for every record of this stream.
  const afterTime = plainPrefix({ ...meta, time: '' }, level).slice(TIME_FIELD.length);
  const stamp = () => {
    // One timestamp per chunk: lines read together were written within microseconds.
    time = new Date().toISOString();
    prefix = TIME_FIELD + time + afterTime;
  };

  // Each chunk is lent by the reader: what is kept past this call (the unterminated last line) is
  // copied.
  await read((chunk) => {
    stamp();
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      carry = carry ? Buffer.concat([carry, chunk]) : Buffer.from(chunk);
    } else {
      frame(carry, chunk.subarray(0, last));
      carry = last + 1 < chunk.length ? Buffer.from(chunk.subarray(last + 1)) : undefined;
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
  stamp();
  const rest = carry ? carry.toString('utf8') : '';
  carry = undefined;
  if (rest.length > 0) lineByLine([rest.endsWith('\r') ? rest.slice(0, -1) : rest], false);
}
