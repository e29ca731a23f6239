import { StringDecoder } from 'node:string_decoder';

/** Longest line written as one record; longer ones are cut into pieces marked `partial`. */
export const MAX_LINE_CHARS = 64 * 1024;

/**
 * Turns a byte stream into whole lines. Multi-byte characters split across chunks are kept
 * together; invalid bytes become U+FFFD; a last line without a newline comes out at `end()`.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #partial = '';
  readonly #emit: (line: string, partial: boolean) => void;

  constructor(emit: (line: string, partial: boolean) => void) {
    this.#emit = emit;
  }

  push(chunk: Buffer): void {
    let text = this.#decoder.write(chunk);
    if (this.#partial) {
      text = this.#partial + text;
      this.#partial = '';
    }
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.#line(text.slice(start, end));
      start = nl + 1;
    }
    let rest = text.slice(start);
    while (rest.length > MAX_LINE_CHARS) {
      this.#emit(rest.slice(0, MAX_LINE_CHARS), true);
      rest = rest.slice(MAX_LINE_CHARS);
    }
    this.#partial = rest;
  }

  /** The stream ended: whatever is left is a line of its own. */
  end(): void {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    if (rest.length > 0) this.#line(rest);
  }

  #line(line: string): void {
    if (line.length <= MAX_LINE_CHARS) {
      this.#emit(line, false);
      return;
    }
    for (let i = 0; i < line.length; i += MAX_LINE_CHARS) {
      this.#emit(line.slice(i, i + MAX_LINE_CHARS), i + MAX_LINE_CHARS < line.length);
    }
  }
}
