/**
 * Post-flight redaction of a streamed answer. Text is let out only up to a point no secret pattern
 * can straddle: the last whitespace that does not follow a secret's name (`password:` waits for
 * its value), outside an unfinished private key block. Everything before it is redacted on its
 * own — exactly as the whole answer would be — so no unredacted secret is ever emitted, and
 * what is held back is at most the last word (or the key block) still being written.
 */
import { redactAnswer, SECRET_NAME_AT_END } from './answer-redaction.ts';

const KEY_BEGIN = '-----BEGIN ';
const KEY_END = 'PRIVATE KEY-----';

/** Index just after the last place `text` may be cut, 0 when none. */
function safeCut(text: string): number {
  // A private key block is let out whole: an unfinished one is held from its start, and no cut
  // falls inside a finished one (its end marker has spaces too).
  const begin = text.lastIndexOf(KEY_BEGIN);
  let limit = text.length;
  let blockEnd = -1;
  if (begin !== -1) {
    const header = text.indexOf(KEY_END, begin);
    const closing = header === -1 ? -1 : text.indexOf('-----END ', header);
    const end = closing === -1 ? -1 : text.indexOf(KEY_END, closing);
    if (end === -1) limit = begin;
    else blockEnd = end + KEY_END.length;
  }
  for (let i = limit - 1; i >= 0; i--) {
    // No whitespace after a finished block to cut at: cut right after the block.
    if (i < blockEnd) return blockEnd;
    const ch = text.charCodeAt(i);
    if (ch !== 0x20 && ch !== 0x0a && ch !== 0x09 && ch !== 0x0d) continue;
    // `password: ` + value still to come: the name and its value must go out together.
    if (SECRET_NAME_AT_END.test(text.slice(Math.max(0, i - 64), i + 1))) continue;
    return i + 1;
  }
  return 0;
}

export class StreamRedactor {
  #held = '';
  #redactions = 0;
  /** All text let out so far (redacted), for the record. */
  #out = '';

  get redactions(): number {
    return this.#redactions;
  }

  get text(): string {
    return this.#out;
  }

  /** Takes the next piece of the answer; returns what may be sent now (possibly ''). */
  push(piece: string): string {
    this.#held += piece;
    const cut = safeCut(this.#held);
    if (cut === 0) return '';
    return this.#emit(this.#held.slice(0, cut), this.#held.slice(cut));
  }

  /** The end of the answer: everything still held, redacted. */
  end(): string {
    return this.#emit(this.#held, '');
  }

  #emit(ready: string, rest: string): string {
    this.#held = rest;
    const r = redactAnswer(ready);
    this.#redactions += r.redactions;
    this.#out += r.text;
    return r.text;
  }
}
