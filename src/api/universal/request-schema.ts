/**
 * The body of POST /api/v2/universal/request, as the original clients send it, checked field by
 * field: every problem is reported (422) with the field's path and a reason, and every string has a
 * length cap (the original had none, defect 18).
 */
import { newId } from '../../storage/ids.ts';
import { SERVICES, type Service } from '../providers/model-router.ts';

export interface UniversalRequest {
  request_id: string;
  source: string;
  source_metadata: Record<string, unknown> | null;
  ai_service: Service;
  payload: {
    input: string;
    context: { content: string; [k: string]: unknown }[];
    parameters: { temperature?: number; top_p?: number; max_tokens?: number };
  };
  user_id: string;
  fetch_context: boolean;
}

export interface FieldError {
  field: string;
  reason: string;
}

export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_INPUT = 100_000;
const MAX_CONTEXT_ITEMS = 20;
const MAX_CONTEXT_CHARS = 20_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(
  v: unknown,
  field: string,
  max: number,
  errors: FieldError[],
  required: boolean,
): string | undefined {
  if (v === undefined || v === null) {
    if (required) errors.push({ field, reason: 'is required' });
    return undefined;
  }
  if (typeof v !== 'string') {
    errors.push({ field, reason: 'must be a string' });
    return undefined;
  }
  if (required && v.trim() === '') errors.push({ field, reason: 'must not be empty' });
  if (v.length > max) errors.push({ field, reason: `must be at most ${max} characters` });
  return v;
}

function num(
  v: unknown,
  field: string,
  min: number,
  max: number,
  errors: FieldError[],
  integer = false,
): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    errors.push({ field, reason: `must be ${integer ? 'a whole number' : 'a number'}` });
    return undefined;
  }
  if (v < min || v > max) errors.push({ field, reason: `must be between ${min} and ${max}` });
  return v;
}

/** Deeper JSON than this is refused: no client needs it, and walking it can exhaust the stack. */
export const MAX_JSON_DEPTH = 32;

/** A value met walking a body: where it is, as its parent and its key, so that a path is only built for an error. */
interface Walked {
  v: unknown;
  depth: number;
  parent: Walked | undefined;
  /** Its index in an array, or its key in an object. */
  key: number | string;
  /** Its key is one no store can hold: it is named by where it is, not by itself. */
  badKey: boolean;
}

/** Where a walked value is: `(body)` for the body itself, `a.b[2].c` below it. */
function pathOf(w: Walked | undefined): string {
  if (!w?.parent) return '';
  const parent = pathOf(w.parent);
  if (w.badKey) return `${parent || '(body)'} (a key)`;
  if (typeof w.key === 'number') return `${parent}[${w.key}]`;
  return parent ? `${parent}.${w.key}` : w.key;
}

/** Why a string cannot be stored, if it cannot. */
function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain NUL characters (U+0000)';
  if (!text.isWellFormed()) return 'must not contain unpaired surrogates (not valid Unicode)';
  return undefined;
}

/**
 * What no store can hold, refused at the edge (422) rather than stored altered: U+0000 (PostgreSQL
 * text and jsonb reject it) and unpaired surrogates (not UTF-8 at all), in any string or key, and
 * nesting deeper than MAX_JSON_DEPTH. Walked without recursion, so depth cannot overflow the stack;
 * every request's body is walked, so a path is built only for what is refused.
 */
export function unstorable(body: unknown): FieldError[] {
  const errors: FieldError[] = [];
  const stack: Walked[] = [{ v: body, depth: 0, parent: undefined, key: '', badKey: false }];
  for (let n = 0; stack.length > 0 && errors.length < 10 && n < 1_000_000; n++) {
    const w = stack.pop() as Walked;
    const { v, depth } = w;
    if (typeof v === 'string') {
      const reason = unstorableText(v);
      if (reason) errors.push({ field: pathOf(w) || '(body)', reason });
    } else if (typeof v === 'object' && v !== null) {
      if (depth >= MAX_JSON_DEPTH) {
        errors.push({
          field: pathOf(w) || '(body)',
          reason: `must not nest deeper than ${MAX_JSON_DEPTH} levels`,
        });
        continue;
      }
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++)
          stack.push({ v: v[i], depth: depth + 1, parent: w, key: i, badKey: false });
      } else
        for (const [k, x] of Object.entries(v)) {
          const reason = unstorableText(k);
          if (reason) errors.push({ field: `${pathOf(w) || '(body)'} (a key)`, reason });
          stack.push({ v: x, depth: depth + 1, parent: w, key: k, badKey: reason !== undefined });
        }
    }
  }
  return errors;
}

/** `fallbackId`: the request's X-Request-Id, so that header and body agree when the body has none. */
export function parseUniversalRequest(
  body: unknown,
): { ok: true; value: UniversalRequest } | { ok: false; errors: FieldError[] } {
  if (!isObject(body)) return { ok: false, errors: [{ field: '(body)', reason: 'must be a JSON object' }] };
  const errors: FieldError[] = unstorable(body);
  if (errors.length > 0) return { ok: false, errors };
  let requestId = str(body.request_id, 'request_id', 128, errors, false);
  if (requestId !== undefined && !REQUEST_ID.test(requestId)) {
    errors.push({
      field: 'request_id',
      reason: 'may hold only letters, digits and . _ : - (1 to 128 of them)',
    });
  }
  requestId ??= newId();
  const source = str(body.source, 'source', 50, errors, true);
  const aiService = str(body.ai_service, 'ai_service', 50, errors, true);
  if (aiService !== undefined && !SERVICES.includes(aiService as Service)) {
    errors.push({ field: 'ai_service', reason: `must be one of ${SERVICES.join(', ')}` });
  }
  let sourceMetadata: Record<string, unknown> | null = null;
  if (body.source_metadata !== undefined && body.source_metadata !== null) {
    if (!isObject(body.source_metadata))
      errors.push({ field: 'source_metadata', reason: 'must be an object' });
    else {
      sourceMetadata = body.source_metadata;
      for (const k of ['sender', 'timestamp', 'platform'] as const)
        str(sourceMetadata[k], `source_metadata.${k}`, 255, errors, false);
      if (sourceMetadata.extra !== undefined && !isObject(sourceMetadata.extra)) {
        errors.push({ field: 'source_metadata.extra', reason: 'must be an object' });
      }
      if (JSON.stringify(sourceMetadata).length > 10_000)
        errors.push({ field: 'source_metadata', reason: 'must be at most 10000 characters as JSON' });
    }
  }
  const payload = body.payload;
  let input: string | undefined;
  const context: { content: string }[] = [];
  const parameters: UniversalRequest['payload']['parameters'] = {};
  if (!isObject(payload)) {
    errors.push({ field: 'payload', reason: payload === undefined ? 'is required' : 'must be an object' });
  } else {
    input = str(payload.input, 'payload.input', MAX_INPUT, errors, true);
    if (payload.context !== undefined && payload.context !== null) {
      if (!Array.isArray(payload.context))
        errors.push({ field: 'payload.context', reason: 'must be an array' });
      else {
        if (payload.context.length > MAX_CONTEXT_ITEMS)
          errors.push({ field: 'payload.context', reason: `must have at most ${MAX_CONTEXT_ITEMS} items` });
        payload.context.slice(0, MAX_CONTEXT_ITEMS).forEach((item, i) => {
          if (!isObject(item)) {
            errors.push({
              field: `payload.context[${i}]`,
              reason: 'must be an object with a content string',
            });
            return;
          }
          const c = str(item.content, `payload.context[${i}].content`, MAX_CONTEXT_CHARS, errors, true);
          if (c !== undefined) context.push({ ...item, content: c });
        });
      }
    }
    if (payload.parameters !== undefined && payload.parameters !== null) {
      if (!isObject(payload.parameters))
        errors.push({ field: 'payload.parameters', reason: 'must be an object' });
      else {
        const p = payload.parameters;
        const t = num(p.temperature, 'payload.parameters.temperature', 0, 2, errors);
        const tp = num(p.top_p, 'payload.parameters.top_p', 0, 1, errors);
        const mt = num(p.max_tokens, 'payload.parameters.max_tokens', 1, 32_768, errors, true);
        if (t !== undefined) parameters.temperature = t;
        if (tp !== undefined) parameters.top_p = tp;
        if (mt !== undefined) parameters.max_tokens = mt;
      }
    }
  }
  const userId = str(body.user_id, 'user_id', 255, errors, false) ?? 'allan';
  if (body.fetch_context !== undefined && typeof body.fetch_context !== 'boolean') {
    errors.push({ field: 'fetch_context', reason: 'must be true or false' });
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      request_id: requestId,
      source: source as string,
      source_metadata: sourceMetadata,
      ai_service: aiService as Service,
      payload: { input: input as string, context, parameters },
      user_id: userId,
      fetch_context: body.fetch_context !== false,
    },
  };
}
