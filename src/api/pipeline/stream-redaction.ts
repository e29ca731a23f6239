/**
 * Post-flight redaction of a streamed answer. Text is let out only up to a point no secret pattern
 * can straddle: the end, when the word still being written cannot begin a secret (most words: it
 * is neither a secret's name, a token's prefix such as `sk-` or `AKIA`, nor a URL), else the last
 * whitespace that does not follow a secret's name (`password:` waits for its value) — never
 * inside a private key block. Each part let out is redacted on its own, so no unredacted secret is
 * ever emitted, and what is held back is at most a word that might begin one (or the key block).
 */
import { redactAnswer, SECRET_NAME_AT_END, SECRET_STARTS, SECRET_VALUE_AT_END } from './answer-redaction.ts';

const KEY_BEGIN = '-----BEGIN ';
const KEY_END = 'PRIVATE KEY-----';

const WORD_BOUNDARY = /\b/g;

/** Whether the last word of `text` (after its last whitespace) might be, or begin, a secret. */
function tailMayBeginSecret(text: string): boolean {
  let start = text.length;
  while (start > 0 && !/\s/.test(text[start - 1] as string)) start--;
  const tail = text.slice(start).toLowerCase();
  if (tail === '') return false;
  // URL credentials (`scheme://user:password@`) hide among a URL's colons and slashes.
  if (tail.includes(':') || tail.includes('/') || tail.includes('@')) return true;
  // Every place a rule may begin (the word's start, each \b): is what follows a secret's start, or
  // the start of one?
  const starts = [0, ...[...tail.matchAll(WORD_BOUNDARY)].map((m) => m.index)];
  return starts.some((at) => {
    const rest = tail.slice(at);
    return rest !== '' && SECRET_STARTS.some((s) => s.startsWith(rest) || rest.startsWith(s));
  });
}

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
  // The word being written cannot begin a secret: all of it may go (no waiting for its end).
  if (limit === text.length && !SECRET_VALUE_AT_END.test(text.slice(-200)) && !tailMayBeginSecret(text)) {
    return text.length;
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
