/**
 * Options of one command run that are not settings of the service (`health --timeout`,
 * `stop --timeout`): read from the flag alone, a wrong one is a usage error.
 */
import { UsageError } from '../errors.ts';
import type { Codec } from './kinds.ts';

export function flagValue<T>(name: string, raw: string | undefined, codec: Codec<T>, fallback: T): T {
  if (raw === undefined) return fallback;
  if (raw.trim() === '') throw new UsageError(`--${name} needs a value`);
  const value = codec.parse(raw);
  if (value === undefined) throw new UsageError(`--${name} must be ${codec.accepts} (got '${raw}')`);
  return value;
}
