/**
 * Post-flight redaction of a streamed answer. Text is let out only up to a point no secret pattern
 * can straddle: the end, when the word still being written cannot begin a secret (most words: it
 * is neither a secret's name, a token's prefix such as `sk-` or `AKIA`, nor a URL), else the last
 * whitespace that does not follow a secret's name (`password:` waits for its value) — never
 * inside a private key block. Each part let out is redacted on its own, so no unredacted secret is
 * ever emitted, and what is held back is at most a word that might begin one (or the key block).
 *
 * The work per piece is bounded, whatever the answer: what is known of the held text (its last
 * whitespace, whether its last word holds `:` `/` `@`, where a key block begins and from where its
 * footer is looked for, which of the word's starts were checked) is kept between pieces and extended
 * by each new piece only, so a stream costs O(its length) — not a rescan of everything held per
 * piece, which made a minified JSON answer of 67 KB in 4-byte pieces cost 16.6 s of CPU. Two bounds
 * keep the held text itself bounded: a cut is looked for at most LOOKBACK characters back (past
 * that the text is held, which is safe), and past HOLD_CAP held characters everything held is
 * redacted and let out whole: a secret is then missed only if it straddles that point of an
 * unbroken run of HOLD_CAP characters.
 */
import {
  PRIVATE_KEY_FOOTER,
  PRIVATE_KEY_FOOTER_LONGEST,
  redactAnswer,
  SECRET_NAME_AT_END,
  SECRET_STARTS,
  SECRET_VALUE_AT_END,
} from './answer-redaction.ts';

const KEY_BEGIN = '-----BEGIN ';

/** The most held back before everything held is let out (redacted as a whole). */
export const HOLD_CAP = 256 * 1024;
/** How far back from the end a cut is looked for. */
const LOOKBACK = 512;
/**
 * The last characters of the held text: every decision but a key block's markers (MARKER_TAIL)
 * reads only these (a cut LOOKBACK back, the 200 a secret's value is matched in). The held text
 * itself is only appended to and sliced when let out: reading a character of a string grown by
 * `+=` flattens all of it, which made each piece cost the whole held text again.
 */
const RECENT = 1024;
/** Pieces of the text let out joined into one string at a time. */
const OUT_CHUNK = 64;
/** A secret's start is at most this long: a word's start this far from the end is settled. */
const LONGEST_START = Math.max(...SECRET_STARTS.map((s) => s.length));
/** The held text's last characters a marker that ends in the next piece can begin in. */
const MARKER_TAIL = Math.max(KEY_BEGIN.length, PRIVATE_KEY_FOOTER_LONGEST) - 1;
/** What the held text may end with while a KEY_BEGIN is still being written. */
const KEY_BEGIN_PREFIXES = Array.from({ length: KEY_BEGIN.length - 1 }, (_, i) => KEY_BEGIN.slice(0, i + 1));
/** A key block's footer, looked for from a given index (`lastIndex`). */
const FOOTER = new RegExp(PRIVATE_KEY_FOOTER.source, 'g');

function isSpace(ch: number): boolean {
  return ch === 0x20 || ch === 0x0a || ch === 0x09 || ch === 0x0d || ch === 0x0b || ch === 0x0c;
}

function isWordChar(ch: number): boolean {
  return (
    (ch >= 0x30 && ch <= 0x39) || (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a) || ch === 0x5f
  );
}

/** Whether a secret's start begins at `at` of `text` (case aside), or `text` from `at` begins one. */
function secretStartAt(text: string, at: number): boolean {
  const rest = text.slice(at, at + LONGEST_START).toLowerCase();
  if (rest === '') return false;
  const whole = at + LONGEST_START >= text.length; // `rest` reaches the end: it may still grow
  return SECRET_STARTS.some((s) => rest.startsWith(s) || (whole && s.startsWith(rest)));
}

export class StreamRedactor {
  #held = '';
  /** The last RECENT (up to twice that) characters of #held, flat. */
  #recent = '';
  /** The last MARKER_TAIL (or fewer) characters of #held: markers are looked for in it and a piece. */
  #tail = '';
  #redactions = 0;
  /**
   * All text let out so far (redacted), for the record: joined OUT_CHUNK pieces at a time, and the
   * pieces since. A string grown by `+=` keeps each piece as a node of its own: a streamed answer of
   * 2,000 pieces of 17 characters held 141 KiB that way, 39 KiB in chunks.
   */
  readonly #outChunks: string[] = [];
  readonly #outPieces: string[] = [];
  /** Index in #held of its last whitespace (-1: none). */
  #lastSpace = -1;
  /** The last word (after #lastSpace) holds `:` `/` or `@`: a URL's credentials may hide in it. */
  #wordUrlish = false;
  /** A settled start of the last word begins a secret. */
  #wordSecret = false;
  /** Word starts of the last word before this index are settled (checked once). */
  #settledTo = 0;
  /** The key block's KEY_BEGIN in #held (-1: none), and where its footer is looked for from. */
  #blockBegin = -1;
  #blockSearch = 0;
  /** Where the last key block ends, once it has (-1: unfinished or none). */
  #blockEnd = -1;
  /** What comes before the open key block was looked at: nothing more goes until it ends. */
  #blockLooked = false;

  get redactions(): number {
    return this.#redactions;
  }

  /** Joined once: the whole is kept as the one chunk, so a second read costs nothing. */
  get text(): string {
    const whole = this.#outChunks.join('') + this.#outPieces.join('');
    this.#outChunks.splice(0, this.#outChunks.length, whole);
    this.#outPieces.length = 0;
    return whole;
  }

  /** Takes the next piece of the answer; returns what may be sent now (possibly ''). */
  push(piece: string): string {
    const from = this.#held.length;
    this.#held += piece;
    this.#recent += piece;
    const spaced = this.#index(from, piece);
    if (this.#recent.length > 2 * RECENT) this.#recent = this.#recent.slice(-RECENT);
    if (this.#held.length > HOLD_CAP) return this.#emit(this.#held.length);
    // Nothing new can be let out: a key block whose start was looked at and that is still open, or
    // a last word that may hide a secret and got no whitespace since (more of it changes neither).
    const open = this.#blockBegin !== -1 && this.#blockEnd === -1;
    if ((open && this.#blockLooked) || (!spaced && (this.#wordUrlish || this.#wordSecret))) return '';
    const cut = this.#safeCut();
    if (open) this.#blockLooked = true;
    return cut === 0 ? '' : this.#emit(cut);
  }

  /** The end of the answer: everything still held, redacted. */
  end(): string {
    return this.#emit(this.#held.length);
  }

  /** Where #recent begins in #held. */
  get #base(): number {
    return this.#held.length - this.#recent.length;
  }

  /** Learns what `piece`, appended at `from`, adds; true when it holds whitespace. */
  #index(from: number, piece: string): boolean {
    let spaced = false;
    for (let i = 0; i < piece.length; i++) {
      const ch = piece.charCodeAt(i);
      if (isSpace(ch)) {
        spaced = true;
        this.#lastSpace = from + i;
        this.#wordUrlish = false;
        this.#wordSecret = false;
        this.#settledTo = from + i + 1;
      } else if (ch === 0x3a || ch === 0x2f || ch === 0x40) {
        this.#wordUrlish = true;
      }
    }
    // The word's starts (its first character, and each word boundary) that are now LONGEST_START
    // or more from the end are checked once; those nearer are checked by #wordMayBeginSecret.
    const settled = this.#held.length - LONGEST_START;
    if (!this.#wordUrlish) {
      const base = this.#base;
      for (let at = Math.max(this.#settledTo, this.#lastSpace + 1); at < settled && !this.#wordSecret; at++) {
        if (this.#isWordStart(at) && secretStartAt(this.#recent, at - base)) this.#wordSecret = true;
      }
    }
    this.#settledTo = Math.max(this.#settledTo, settled);
    this.#indexBlock(from, piece);
    return spaced;
  }

  /** Whether a word starts at `at` of #held, in the last word (which lies within #recent). */
  #isWordStart(at: number): boolean {
    if (at === this.#lastSpace + 1) return true;
    const w = this.#recent;
    const i = at - this.#base;
    return i > 0 && isWordChar(w.charCodeAt(i - 1)) !== isWordChar(w.charCodeAt(i));
  }

  /**
   * The key block a redaction of the whole text would find: it begins at the first KEY_BEGIN that
   * no earlier block holds (a header without its footer holds everything after it, as the whole
   * text's rule does, up to the first footer), and ends with the first footer after it. Looked for
   * in the piece and the few characters before it only: searching #recent made V8 flatten it,
   * growing by `+=`, on every piece (two thirds of the CPU of a minified JSON answer).
   */
  #indexBlock(from: number, piece: string): void {
    const w = this.#tail + piece;
    const base = from - this.#tail.length;
    this.#tail = w.length > MARKER_TAIL ? w.slice(-MARKER_TAIL) : w;
    // Each turn ends a block or returns: at most one turn per character of the piece.
    for (let turn = 0; turn <= w.length; turn++) {
      if (this.#blockBegin === -1 || this.#blockEnd !== -1) {
        const at = w.indexOf(KEY_BEGIN, this.#blockEnd === -1 ? 0 : Math.max(0, this.#blockEnd - base));
        if (at === -1 || base + at <= this.#blockBegin) return;
        this.#blockBegin = base + at;
        this.#blockSearch = base + at + KEY_BEGIN.length;
        this.#blockEnd = -1;
        this.#blockLooked = false;
      }
      FOOTER.lastIndex = Math.max(0, this.#blockSearch - base);
      const footer = FOOTER.exec(w);
      if (!footer) {
        // A footer that ends in a later piece begins in the last MARKER_TAIL characters.
        this.#blockSearch = Math.max(this.#blockSearch, base + w.length - MARKER_TAIL);
        return;
      }
      this.#blockEnd = base + footer.index + footer[0].length;
      this.#blockSearch = this.#blockEnd;
    }
  }

  /** Whether the last word might be, or begin, a secret. */
  #wordMayBeginSecret(): boolean {
    if (this.#wordUrlish || this.#wordSecret) return true;
    // A key block's header may begin anywhere in a word, not only at its start: the last dashes
    // of `KEY-----` may be the first of `-----BEGIN `.
    if (KEY_BEGIN_PREFIXES.some((p) => this.#tail.endsWith(p))) return true;
    const base = this.#base;
    for (let at = Math.max(this.#settledTo, this.#lastSpace + 1, base); at < this.#held.length; at++) {
      if (this.#isWordStart(at) && secretStartAt(this.#recent, at - base)) return true;
    }
    return false;
  }

  /** Index just after the last place the held text may be cut, 0 when none. */
  #safeCut(): number {
    const w = this.#recent;
    const base = this.#base;
    const length = this.#held.length;
    // A private key block is let out whole: an unfinished one is held from its start, and no cut
    // falls inside a finished one (its end marker has spaces too).
    const open = this.#blockBegin !== -1 && this.#blockEnd === -1;
    const limit = open ? this.#blockBegin : length;
    // The word being written cannot begin a secret: all of it may go (no waiting for its end).
    if (!open && !SECRET_VALUE_AT_END.test(w.slice(-200)) && !this.#wordMayBeginSecret()) return length;
    // Looked for only where #recent reaches (past it the text is held, which is safe).
    const floor = Math.max(0, limit - LOOKBACK, base > 0 ? base + 64 : 0);
    for (let i = Math.min(limit, this.#lastSpace + 1) - 1; i >= floor; i--) {
      // No whitespace after a finished block to cut at: cut right after the block.
      if (i < this.#blockEnd) return this.#blockEnd;
      if (!isSpace(w.charCodeAt(i - base))) continue;
      // `password: ` + value still to come: the name and its value must go out together.
      if (SECRET_NAME_AT_END.test(w.slice(Math.max(0, i - base - 64), i - base + 1))) continue;
      return i + 1;
    }
    return 0;
  }

  /** Lets out the first `cut` characters, redacted, and keeps the rest with what is known of it. */
  #emit(cut: number): string {
    const ready = this.#held.slice(0, cut);
    this.#held = this.#held.slice(cut);
    this.#lastSpace -= cut;
    this.#settledTo = Math.max(0, this.#settledTo - cut);
    if (this.#blockBegin !== -1) {
      this.#blockBegin -= cut;
      this.#blockSearch -= cut;
      if (this.#blockEnd !== -1) this.#blockEnd -= cut;
      if (this.#blockBegin < 0) {
        this.#blockBegin = -1;
        this.#blockEnd = -1;
      }
    }
    if (this.#lastSpace < -1) this.#lastSpace = -1;
    if (this.#recent.length > this.#held.length)
      this.#recent = this.#recent.slice(-this.#held.length || this.#recent.length);
    if (this.#tail.length > this.#held.length)
      this.#tail = this.#held === '' ? '' : this.#tail.slice(-this.#held.length);
    if (this.#held === '') this.#reset();
    const r = redactAnswer(ready);
    this.#redactions += r.redactions;
    if (r.text !== '') {
      this.#outPieces.push(r.text);
      if (this.#outPieces.length === OUT_CHUNK) {
        this.#outChunks.push(this.#outPieces.join(''));
        this.#outPieces.length = 0;
      }
    }
    return r.text;
  }

  #reset(): void {
    this.#recent = '';
    this.#tail = '';
    this.#lastSpace = -1;
    this.#wordUrlish = false;
    this.#wordSecret = false;
    this.#settledTo = 0;
    this.#blockBegin = -1;
    this.#blockSearch = 0;
    this.#blockEnd = -1;
    this.#blockLooked = false;
  }
}
