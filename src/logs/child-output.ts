import type { Readable } from 'node:stream';
import type { LevelName } from '../logging/levels.ts';
import { LineSplitter } from './line-splitter.ts';
import { frameLine, plainPrefix, type StreamName } from './log-record.ts';
import type { LogSink } from './log-sink.ts';

/**
 * Reads one of a child's pipes and writes each line to the log sink as a JSON record. The pipe
 * belongs to the supervisor, so a child that restarts or dies mid-line loses nothing: the
 * unterminated last line is written when the pipe closes.
 */
export function captureOutput(
  stream: Readable,
  meta: { source: string; pid: number; stream: StreamName },
  sink: LogSink,
): Promise<void> {
  const level: LevelName = meta.stream === 'stderr' ? 'error' : 'info';
  const fromStderr = meta.stream === 'stderr';
  let time = '';
  let prefix = '';
  const splitter = new LineSplitter((text, partial) => {
    const framed = frameLine(text, partial, { ...meta, time }, prefix, level);
    sink.write(framed.line, framed.level, fromStderr);
  });
  const stamp = () => {
    // One timestamp per chunk: lines read together were written within microseconds.
    time = new Date().toISOString();
    prefix = plainPrefix({ ...meta, time }, level);
  };
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      stamp();
      splitter.push(chunk);
    });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      stamp();
      splitter.end();
      resolve();
    };
    stream.once('end', finish);
    stream.once('error', finish);
  });
}
