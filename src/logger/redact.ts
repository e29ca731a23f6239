/**
 * Removes secrets from text before it reaches a log line or an answer: passwords in connection
 * URLs, bearer tokens, `password=…`-style assignments, and every value registered as secret
 * (API keys, the admin key, the database password) wherever it appears.
 */

const MASK = '***';
const secretValues = new Set<string>();

/** Values shorter than this are too likely to collide with ordinary words to be replaced blindly. */
const MIN_SECRET_LENGTH = 4;

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= MIN_SECRET_LENGTH) secretValues.add(value);
}

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)([^\s@/]+)@/gi;
const BEARER = /\b(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
const ASSIGNMENT =
  /\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|admin[_-]?key)["']?\s*[:=]\s*["']?)([^\s"',;&]+)/gi;

const SENSITIVE_WORD =
  /password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|admin[_-]?key|bearer|authorization|cookie/i;

export function redact(text: string): string {
  let out = text;
  if (out.includes('://')) out = out.replace(URL_CREDENTIALS, `$1${MASK}@`);
  // Both patterns begin with one of the sensitive words: one search instead of two replaces on the
  // text of every log line and field, which almost never holds one.
  if (SENSITIVE_WORD.test(out)) out = out.replace(BEARER, `$1${MASK}`).replace(ASSIGNMENT, `$1${MASK}`);
  for (const secret of secretValues) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}

/**
 * The cheap subset for bulk text (children's output, hundreds of MiB/s): registered secret values
 * and passwords in URLs — native substring searches, and a regex only where `://` occurs.
 */
export function redactBulk(text: string): string {
  let out = text;
  for (const secret of secretValues) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  if (out.includes('://')) out = out.replace(URL_CREDENTIALS, `$1${MASK}@`);
  return out;
}

const URL_MARK = Buffer.from('://');

/** True when raw output bytes might hold something `redactBulk` would change (native searches only). */
export function mayNeedBulkRedaction(bytes: Buffer): boolean {
  if (bytes.indexOf(URL_MARK) !== -1) return true;
  for (const secret of secretValues) if (bytes.indexOf(secret) !== -1) return true;
  return false;
}

/** False when `redact` could not change `text` (cheap checks), so hot paths can skip it. */
export function mayNeedRedaction(text: string): boolean {
  if (text.includes('://') || SENSITIVE_WORD.test(text)) return true;
  for (const secret of secretValues) if (text.includes(secret)) return true;
  return false;
}

/** Redacts every string inside a JSON-like value (objects and arrays are copied, not changed). */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth + 1);
  return out;
}

/**
 * A secret URL as it may be shown: where it points, nothing else. Its credentials, path and query
 * are the secret (a password, Slack's /services/T…/B…/xyz).
 */
export function maskedUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/***`;
  } catch {
    return '***';
  }
}
