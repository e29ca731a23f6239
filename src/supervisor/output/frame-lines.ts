/**
 * The bytes fast path of the child-output capture: frame-lines.wat (WebAssembly SIMD) frames a
 * run of whole plain lines as JSON records in one pass, in its own memory, so a flood costs a
 * copy of each chunk into that memory, one pass over its lines, and no string, allocation or
 * garbage.
 */
import { isUtf8 } from 'node:buffer';
import { mayNeedBulkRedaction } from '../../logger/redact.ts';
import { FRAME_LINES_WASM } from './frame-lines-wasm.ts';

// The few WebAssembly names used here (TypeScript declares them only in its DOM library); absent
// under `--jitless`.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

interface FrameExports {
  memory: WasmMemory;
  /** After a frame: 1 when every input byte was ASCII. */
  ascii: { readonly value: number };
  frame(
    input: number,
    length: number,
    joint: number,
    prefixLength: number,
    output: number,
    maxLine: number,
  ): number;
}

const PAGE = 65536;
/** Bytes of 'a' after the input, and room after each region: the module moves whole 16-byte blocks. */
const PAD = 16;
const SUFFIX_LENGTH = 3; // `"}\n`

let shared: LineFramer | null | undefined;

/** The process's framer if it is compiled already (`lineFramer` compiles it). */
export function compiledLineFramer(): LineFramer | undefined {
  return shared ?? undefined;
}

/** The process's framer, or undefined where WebAssembly is not available (e.g. `--jitless`). */
export function lineFramer(): LineFramer | undefined {
  if (shared === undefined) {
    if (!wasm) return undefined;
    try {
      shared = new LineFramer();
    } catch {
      shared = null;
    }
  }
  return shared ?? undefined;
}

export class LineFramer {
  readonly #exports: FrameExports;
  #memory: Buffer;

  constructor() {
    if (!wasm) throw new Error('WebAssembly is not available');
    const module = new wasm.Module(Buffer.from(FRAME_LINES_WASM, 'base64'));
    this.#exports = new wasm.Instance(module).exports as FrameExports;
    this.#memory = Buffer.from(this.#exports.memory.buffer);
  }

  /**
   * Frames `head` + `body` (whole lines joined by \n, without the last newline) as records
   * `prefix line "}\n`, where `joint` is `"}\n` + prefix. Returns undefined when the lines are not
   * plain — bytes JSON escapes, invalid UTF-8, a line starting with `{`, a line over `maxLine`
   * bytes, something to redact — for the caller's line-by-line path. The returned bytes live in
   * the framer's memory: valid until the next call, to be written or copied at once.
   */
  frame(
    head: Uint8Array | undefined,
    body: Uint8Array,
    joint: Uint8Array,
    maxLine: number,
  ): Buffer | undefined {
    const length = (head?.length ?? 0) + body.length;
    const input = align(joint.length + PAD);
    const output = align(input + length + PAD);
    const prefixLength = joint.length - SUFFIX_LENGTH;
    this.#reserve(output + (length + 1) * (prefixLength + SUFFIX_LENGTH + 1) + PAD);
    const memory = this.#memory;
    memory.set(joint, 0);
    if (head) memory.set(head, input);
    memory.set(body, input + (head?.length ?? 0));
    memory.fill(0x61, input + length, input + length + PAD);
    const lines = memory.subarray(input, input + length);
    if (mayNeedBulkRedaction(lines)) return undefined;
    const written = this.#exports.frame(input, length, 0, prefixLength, output, maxLine);
    // Only lines with bytes beyond ASCII need a UTF-8 check (the module tells while it frames).
    if (written < 0 || (this.#exports.ascii.value === 0 && !isUtf8(lines))) return undefined;
    return memory.subarray(output, output + written);
  }

  #reserve(bytes: number): void {
    const have = this.#exports.memory.buffer.byteLength;
    if (bytes <= have) return;
    this.#exports.memory.grow(Math.ceil((bytes - have) / PAGE));
    this.#memory = Buffer.from(this.#exports.memory.buffer);
  }
}

function align(n: number): number {
  return (n + 15) & ~15;
}
