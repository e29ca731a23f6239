/**
 * PostgreSQL's text and jsonb cannot hold U+0000, not even escaped in JSON. The API refuses it in
 * what a client sends (422), so only what no client wrote reaches the store with one: a model's
 * answer, or a row queued by an older version. Stored, each U+0000 becomes U+FFFD; the client was
 * answered with the original. One rule for every value PostgreSQL stores, in strings and object
 * keys at any depth.
 */
const NUL = '\u0000';
const REPLACEMENT = '\ufffd';
/** Deeper than anything robbie builds or the API accepts; beyond it a value is left as it is. */
const MAX_DEPTH = 64;

/** `value` itself when it holds no U+0000 (nothing is copied), else a copy without any. */
export function withoutNul<T>(value: T): T {
  return clean(value, 0) as T;
}

function clean(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.includes(NUL) ? value.replaceAll(NUL, REPLACEMENT) : value;
  if (value === null || typeof value !== 'object' || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = clean(value[i], depth + 1);
      if (v !== value[i]) {
        copy ??= value.slice();
        copy[i] = v;
      }
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    const v = clean(source[key], depth + 1);
    const k = key.includes(NUL) ? key.replaceAll(NUL, REPLACEMENT) : key;
    if (v === source[key] && k === key) continue;
    if (!copy) {
      // No prototype: a key named __proto__ stays a key.
      copy = Object.create(null) as Record<string, unknown>;
      for (const other of Object.keys(source)) copy[other] = source[other];
    }
    if (k !== key) delete copy[key];
    copy[k] = v;
  }
  return copy ?? value;
}
