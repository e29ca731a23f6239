/**
 * Checks every protocol's request schema shares: objects, numbers within bounds.
 *
 * The schemas are written by hand rather than in a schema library, measured (`npm run bench --
 * schemas`, two runs on 12-06): on a typical chat completion body valibot checks the shape in
 * 0.8–1.7 µs and zod 4 in 0.7–1.5 µs; robbie's own parser takes 3.8–5.7 µs, of which 1.9–3.5 µs is
 * the scan for what no store can hold (U+0000, lone surrogates, depth) that a library schema would
 * need as a custom check too — against about 340 µs of CPU per request: 1–2 % either way. What decides it is the rest: each
 * protocol's own error shape (the universal 422 `detail[]`, OpenAI's `param`, Anthropic's type) with
 * the field paths robbie reports, the cross-field rules (a user message, the total text, `n`), and
 * the translation into the providers' request, none of which a library writes; zod adds 444 KiB to
 * a bundle, valibot 8 KiB, both run under Deno.
 */
import type { FieldProblem } from './errors.ts';
import { IMAGE_TYPES, type ImagePart } from './providers/types.ts';

/** A body checked against its schema: its value, or every field at fault. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: FieldProblem[] };

/** The `model` every protocol requires: a name of at most 200 characters ('' with a problem noted). */
export function modelField(body: Record<string, unknown>, errors: FieldProblem[]): string {
  const m = body.model;
  if (typeof m !== 'string' || m.trim() === '' || m.length > 200) {
    errors.push({ field: 'model', reason: 'is required: a model name of at most 200 characters' });
    return '';
  }
  return m;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `body[key]` when it is a number within [min, max] (whole, if asked); a problem noted otherwise. */
export function numberField(
  body: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  errors: FieldProblem[],
  integer = false,
): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (
    typeof v !== 'number' ||
    !Number.isFinite(v) ||
    (integer && !Number.isInteger(v)) ||
    v < min ||
    v > max
  ) {
    errors.push({
      field: key,
      reason: `must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`,
    });
    return undefined;
  }
  return v;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+);base64,/;

/** An image as base64 bytes of one of the taken types (Anthropic's `source`, or a data: URL's); undefined, a problem noted, otherwise. */
export function base64Image(
  mediaType: unknown,
  data: unknown,
  field: string,
  errors: FieldProblem[],
): ImagePart | undefined {
  if (typeof mediaType !== 'string' || !IMAGE_TYPES.includes(mediaType)) {
    errors.push({ field, reason: `the image type must be one of ${IMAGE_TYPES.join(', ')}` });
    return undefined;
  }
  if (typeof data !== 'string' || data === '' || data.length % 4 !== 0 || !BASE64.test(data)) {
    errors.push({ field, reason: 'the image must be base64' });
    return undefined;
  }
  return { kind: 'base64', mediaType, data };
}

/** An image given by URL: a base64 data: URL, or an http(s) one the provider fetches. */
export function urlImage(url: unknown, field: string, errors: FieldProblem[]): ImagePart | undefined {
  if (typeof url !== 'string') {
    errors.push({ field, reason: 'must be a URL' });
    return undefined;
  }
  const data = DATA_URL.exec(url);
  if (data) return base64Image(data[1], url.slice(data[0].length), field, errors);
  if (!/^https?:\/\/\S+$/i.test(url) || url.length > 2048) {
    errors.push({ field, reason: 'must be a base64 data: URL or an http(s) URL of at most 2048 characters' });
    return undefined;
  }
  return { kind: 'url', url };
}
