import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { pbkdf2 } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { captureOutput } from '../../src/supervisor/output/child-output.ts';
import { type LineFramer, lineFramer } from '../../src/supervisor/output/frame-lines.ts';
import { LogSink } from '../../src/supervisor/output/log-sink.ts';
import { type OutputPipe, openOutputPipes, readStream } from '../../src/supervisor/output/output-pipes.ts';
import { RotatingFile } from '../../src/supervisor/output/rotating-file.ts';

const ROTATION = { maxBytes: 0, daily: false, keep: 3, maxTotalBytes: 0, compress: false, mode: 0o600 };

/** A deterministic pseudo-random source (tests must not flake on a seed). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function frame(framer: LineFramer, text: string, head = '', maxLine = 1000): string | undefined {
  const joint = Buffer.from('"}\n{"msg":"');
  const out = framer.frame(head ? Buffer.from(head) : undefined, Buffer.from(text), joint, maxLine);
  return out?.toString('utf8');
}

describe('LineFramer (the WebAssembly fast path)', () => {
  const framer = lineFramer();

  it('is available in this runtime', () => {
    assert.ok(framer);
  });

  it('frames every plain line as one JSON record, whatever the lengths and the split', () => {
    const rnd = random(7);
    const alphabet = Array.from('abcxyz 0123456789.,;/_-=+()[]<>!?é€😀'); // no ':' ("://" is redaction's);
    for (let round = 0; round < 200; round++) {
      const lines = Array.from({ length: 1 + Math.floor(rnd() * 40) }, () =>
        Array.from(
          { length: Math.floor(rnd() * 70) },
          () => alphabet[Math.floor(rnd() * alphabet.length)],
        ).join(''),
      );
      const text = lines.join('\n');
      const bytes = Buffer.from(text);
      const cut = Math.floor(rnd() * bytes.length);
      const out = (framer as LineFramer).frame(
        bytes.subarray(0, cut),
        bytes.subarray(cut),
        Buffer.from('"}\n{"msg":"'),
        1000,
      );
      assert.ok(out, `round ${round} declined`);
      const records = out.toString('utf8').split('\n');
      assert.equal(records.pop(), '', 'ends with a newline');
      assert.deepEqual(
        records.map((r) => (JSON.parse(r) as { msg: string }).msg),
        lines,
      );
    }
  });

  it('declines what needs escaping, merging, cutting or redaction', () => {
    const f = framer as LineFramer;
    for (const text of ['a"b', 'a\\b', 'tab\there', 'cr\r', 'x\u0001', 'ok\n{"level":"warn"}', '{"a":1}']) {
      assert.equal(frame(f, text), undefined, JSON.stringify(text));
    }
    // A byte to escape just after a newline, in the same 16-byte block as it or the next one.
    for (const text of ['ab\n"cd', 'ab\ncd\\', 'a\nb\nc\n\u0001', `${'z'.repeat(20)}\n${'w'.repeat(14)}\t`]) {
      assert.equal(frame(f, text), undefined, JSON.stringify(text));
    }
    assert.equal(frame(f, 'see postgres://u:pw@h/db'), undefined);
    const joint = Buffer.from('"}\n{"msg":"');
    assert.equal(f.frame(undefined, Buffer.from([0x61, 0xff, 0x62]), joint, 10), undefined, 'invalid UTF-8');
    // A character split between the carried head and the body is whole again.
    const euro = Buffer.from('€');
    assert.equal(f.frame(euro.subarray(0, 1), euro.subarray(1), joint, 10)?.toString(), '{"msg":"€"}\n');
    assert.equal(frame(f, 'x'.repeat(11), '', 10), undefined);
    assert.equal(frame(f, 'x'.repeat(10), '', 10), '{"msg":"xxxxxxxxxx"}\n');
    // A byte JSON escapes in the last, partial 16-byte block, and one just past it (padding).
    assert.equal(frame(f, `${'y'.repeat(17)}\u0007`), undefined);
    assert.equal(frame(f, 'y'.repeat(17)), `{"msg":"${'y'.repeat(17)}"}\n`);
    assert.equal(frame(f, ''), '{"msg":""}\n');
    assert.equal(frame(f, '\n'), '{"msg":""}\n{"msg":""}\n');
  });

  it('grows its memory for a chunk of many short lines', () => {
    const text = Array.from({ length: 50_000 }, (_, i) => String(i % 10)).join('\n');
    const out = frame(framer as LineFramer, text, '', 10) as string;
    assert.equal(out.split('\n').length - 1, 50_000);
  });
});

describe('captureOutput', () => {
  it('writes every line once, in order, whatever the chunks, on both paths', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-capture-'));
    try {
      const sink = new LogSink(dir, ROTATION, () => {});
      const input = new PassThrough();
      // Count the chunks the framer takes, to know both paths ran.
      const framer = lineFramer() as LineFramer;
      const frameBytes = framer.frame.bind(framer);
      let framed = 0;
      framer.frame = (...args) => {
        const out = frameBytes(...args);
        if (out) framed++;
        return out;
      };
      const done = captureOutput(
        (onChunk) => readStream(input, onChunk),
        { source: 'app-0', pid: 42, stream: 'stdout' },
        sink,
      );
      const rnd = random(11);
      const expected: string[] = [];
      for (let i = 0; i < 12_000; i++) {
        // Runs of plain lines (the framer's) between runs with lines it declines.
        const kind = Math.floor(i / 2000) % 2 === 0 ? 1 : rnd();
        const line =
          kind < 0.05
            ? `quote "${i}"`
            : kind < 0.08
              ? `tab\t${i}`
              : kind < 0.1
                ? `ünïcödé ${i} 😀`
                : `plain line ${i} ${'x'.repeat(Math.floor(rnd() * 120))}`;
        expected.push(line);
      }
      const bytes = Buffer.from(`${expected.join('\n')}\n`);
      // Chunks of a few bytes to 40 KB: under 16 KB they go line by line, above it the framer's turn.
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(rnd() * 40_000);
        input.write(Buffer.from(bytes.subarray(at, at + size)));
        at += size;
        if (rnd() < 0.2) await new Promise((r) => setImmediate(r));
      }
      input.end();
      await done;
      await sink.close();
      const records = readFileSync(join(dir, 'robbie.log'), 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; pid: number; stream: string });
      assert.deepEqual(
        records.map((r) => r.msg),
        expected,
      );
      assert.ok(records.every((r) => r.pid === 42 && r.stream === 'stdout'));
      assert.ok(framed >= 5, `the framer took ${framed} chunks`);
    } finally {
      delete (lineFramer() as Partial<LineFramer>).frame;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('captureOutput: which chunks the framer takes', () => {
  it('once compiled, every chunk of plain lines from 1 KiB up, but not below', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-capture-small-'));
    const framer = lineFramer() as LineFramer; // compiled, as after a first flood
    const frameBytes = framer.frame.bind(framer);
    const sizes: number[] = [];
    framer.frame = (head, body, ...rest) => {
      sizes.push((head?.length ?? 0) + body.length);
      return frameBytes(head, body, ...rest);
    };
    try {
      const sink = new LogSink(dir, ROTATION, () => {});
      const input = new PassThrough();
      const done = captureOutput(
        (onChunk) => readStream(input, onChunk),
        { source: 'app-0', pid: 7, stream: 'stdout' },
        sink,
      );
      const expected: string[] = [];
      const send = async (lines: number) => {
        const batch = Array.from({ length: lines }, () => `line ${expected.length} ${'x'.repeat(88)}`);
        expected.push(...batch);
        input.write(Buffer.from(`${batch.join('\n')}\n`));
        await new Promise((r) => setImmediate(r));
      };
      for (let i = 0; i < 10; i++) await send(40); // about 4 KiB a chunk
      for (let i = 0; i < 10; i++) await send(5); // about 500 bytes a chunk
      input.end();
      await done;
      await sink.close();
      const records = readFileSync(join(dir, 'robbie.log'), 'utf8').trimEnd().split('\n');
      assert.deepEqual(
        records.map((l) => (JSON.parse(l) as { msg: string }).msg),
        expected,
      );
      assert.equal(sizes.filter((n) => n >= 1024 && n < 16 * 1024).length, 10, 'the 4 KiB chunks');
      assert.equal(sizes.filter((n) => n < 1024).length, 0, 'none of the 500-byte chunks');
    } finally {
      delete (framer as Partial<LineFramer>).frame;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('RotatingFile borrowed writes', () => {
  it('writes borrowed bytes at once, after what is pending, and copies them when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-borrowed-'));
    try {
      const file = new RotatingFile(join(dir, 'a.log'), ROTATION, () => {});
      const scratch = Buffer.from('borrowed 1\n');
      file.write('pending first\n');
      file.write(scratch, true);
      scratch.write('XXXXXXXXXX\n'); // the caller reuses its memory at once
      assert.equal(readFileSync(join(dir, 'a.log'), 'utf8'), 'pending first\nborrowed 1\n');

      // A file where the directory should be: nothing can be opened, so borrowed bytes are copied
      // and held until the path works again.
      const blocked = join(dir, 'blocked');
      writeFileSync(blocked, '');
      const held = new RotatingFile(join(blocked, 'b.log'), ROTATION, () => {});
      assert.equal(held.health().ok, false);
      const again = Buffer.from('held line\n');
      held.write(again, true);
      again.fill(0x58);
      rmSync(blocked);
      held.reopen();
      held.flush();
      assert.equal(readFileSync(join(blocked, 'b.log'), 'utf8'), 'held line\n');
      assert.equal(held.health().droppedLines, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('RotatingFile rotation with compression', () => {
  it('rotations in quick succession never compress one file in place of another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-rotate-'));
    try {
      const file = new RotatingFile(join(dir, 'a.log'), { ...ROTATION, keep: 50, compress: true }, () => {});
      // Each rotation starts the compression of the file it shifted to .2; the next ones follow at
      // once, before any asynchronous open could run.
      const letters = 'ABCDEFGHIJ';
      // The threadpool busy (as under load): an asynchronous open would wait behind this work.
      const busy = Array.from(
        { length: 4 },
        () => new Promise((r) => pbkdf2('x', 'salt', 400_000, 32, 'sha256', r)),
      );
      for (const letter of letters) {
        file.write(`${letter.repeat(20)}\n`);
        file.flush();
        file.rotate();
      }
      await Promise.all(busy);
      await file.close(10_000);
      const seen = readdirSync(dir)
        .filter((f) => f.startsWith('a.log.'))
        .map((f) => {
          const raw = readFileSync(join(dir, f));
          return (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString().trim()[0];
        })
        .sort()
        .join('');
      assert.equal(seen, letters, 'every rotated file once, none lost, none twice');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('output pipes', () => {
  it('carry a child’s stdout and stderr whole, to the end its grandchild holds open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-pipes-'));
    try {
      const sink = new LogSink(dir, ROTATION, () => {});
      const [out, err] = openOutputPipes(2) as [OutputPipe, OutputPipe];
      // A FIFO where the machine has mkfifo (CI does), else Node's own pipe: both must hold.
      if (process.env.CI) assert.equal(typeof out.stdio, 'number', 'FIFO pipes on this machine');
      const script = [
        "const big = Array.from({ length: 3000 }, (_, i) => 'plain ' + i + ' ' + 'x'.repeat(i % 90)).join('\\n') + '\\n';",
        'process.stdout.write(big);',
        "process.stderr.write('oops on stderr\\n');",
        // A grandchild that writes after its parent has gone: the pipe ends only when it is done.
        "require('child_process').spawn(process.execPath, ['-e', \"setTimeout(() => process.stdout.write('late line\\\\nno newline at the end'), 300)\"], { stdio: ['ignore', 'inherit', 'inherit'], detached: true }).unref();",
      ].join('\n');
      const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', out.stdio, err.stdio] });
      const meta = (stream: 'stdout' | 'stderr') => ({ source: 'app-0', pid: proc.pid ?? 0, stream });
      await Promise.all([
        captureOutput((onChunk) => out.read(proc.stdout, onChunk), meta('stdout'), sink),
        captureOutput((onChunk) => err.read(proc.stderr, onChunk), meta('stderr'), sink),
      ]);
      await sink.close();
      const records = readFileSync(join(dir, 'robbie.log'), 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; stream: string });
      const stdout = records.filter((r) => r.stream === 'stdout').map((r) => r.msg);
      assert.equal(stdout.length, 3002);
      assert.equal(stdout[2999], `plain 2999 ${'x'.repeat(2999 % 90)}`);
      assert.deepEqual(stdout.slice(3000), ['late line', 'no newline at the end']);
      assert.deepEqual(
        records.filter((r) => r.stream === 'stderr').map((r) => r.msg),
        ['oops on stderr'],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
