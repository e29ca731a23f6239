import { UsageError } from '../errors.ts';

/** A one-line error for a DATABASE_URL that is not a PostgreSQL URL (never echoing its password). */
export function checkDatabaseUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('DATABASE_URL is not a URL (expected postgres://user:password@host:5432/database)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new UsageError(`DATABASE_URL must start with postgres:// (got ${parsed.protocol}//…)`);
  }
}
