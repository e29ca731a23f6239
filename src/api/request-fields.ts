/** Checks every protocol's request schema shares: objects, numbers within bounds. */
import type { FieldProblem } from './errors.ts';

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
