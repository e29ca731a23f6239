/**
 * The Node floor of the log-flood path, for bench/flood-floor.ts: robbie's own pipe (a FIFO read
 * with `onread` into one reused buffer) and robbie's own framer, appending each run of whole lines
 * as JSON records with one write — and nothing else: no supervisor, no rotation, no error log.
 * Prints `{"ms":…,"cpu_s":…}` when the child's FLOOD_DONE line is written, as flood-floor.c does.
 *
 *   node bench/flood-floor-node.ts OUT CHILD [ARGS…]
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { lineFramer } from '../src/supervisor/output/frame-lines.ts';
import { openOutputPipes } from '../src/supervisor/output/output-pipes.ts';

const [out, command, ...args] = process.argv.slice(2);
if (!out || !command) process.exit(2);
const framer = lineFramer();
const [pipe] = openOutputPipes(1);
if (!framer || !pipe || pipe.stdio === 'pipe') {
  process.stderr.write('flood-floor-node: needs WebAssembly and mkfifo\n');
  process.exit(3);
}
const joint = Buffer.from(
  '"}\n{"time":"2026-12-02T05:38:08.766Z","level":"info","source":"app-0","pid":12345,"stream":"stdout","msg":"',
);
const fd = openSync(out, 'w');
const child = spawn(command, args, { stdio: ['ignore', pipe.stdio, 'inherit'] });
const MARK = 'FLOOD_DONE start_ms=';
let carry: Buffer | undefined;
let cpu0: NodeJS.CpuUsage | undefined;
let done = false;
void pipe.read(null, (chunk) => {
  cpu0 ??= process.cpuUsage();
  if (done) return;
  const last = chunk.lastIndexOf(10);
  if (last === -1) {
    carry = carry ? Buffer.concat([carry, chunk]) : Buffer.from(chunk);
    return;
  }
  const body = chunk.subarray(0, last);
  const framed = framer.frame(carry, body, joint, 65536);
  if (framed) writeSync(fd, framed);
  // The child's marker is its last line (it may have begun in the carried part of the line).
  const from = body.lastIndexOf(10) + 1;
  const lastLine = (from === 0 && carry ? Buffer.concat([carry, body]) : body.subarray(from)).toString(
    'latin1',
  );
  carry = last + 1 < chunk.length ? Buffer.from(chunk.subarray(last + 1)) : undefined;
  if (lastLine.startsWith(MARK)) {
    done = true;
    const startMs = Number.parseFloat(lastLine.slice(MARK.length));
    const ms = performance.timeOrigin + performance.now() - startMs;
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(
      `${JSON.stringify({ ms: Math.round(ms * 10) / 10, cpu_s: (cpu.user + cpu.system) / 1e6 })}\n`,
    );
    closeSync(fd);
    child.kill('SIGTERM');
    setTimeout(() => process.exit(0), 100).unref();
  }
});
