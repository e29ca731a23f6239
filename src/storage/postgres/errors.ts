/** PostgreSQL failures classified, described without secrets, and every query bounded in time. */
import { redact } from '../../logger/redact.ts';

export const QUERY_TIMEOUT_MS = 5000;
export const READ_TIMEOUT_MS = 1500;

/**
 * Errors that mean "the database cannot take this now" — unreachable, or stuck behind a lock, a
 * timeout, a serialization failure or a deadlock — as opposed to a bad statement: the write waits
 * in the outbox and is tried again, never quarantined.
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'QUERY_TIMEOUT',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
  '55P03',
  '40001',
  '40P01',
]);

export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return CONNECTION_CODES.has(code) || code.startsWith('08');
}

/** A reason fit for /health and logs: the error code and message, never the connection string. */
export function describePgError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return redact(`${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`).slice(0, 200);
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`no answer within ${ms}ms`), { code: 'QUERY_TIMEOUT' })),
        ms,
      );
    }),
  ]);
}
