import { UsageError } from '../errors.ts';
import { parseDuration, parseSize } from './units.ts';

/**
 * Reads one setting with the documented precedence: the flag when given, else the environment
 * variable, else the default. A bad value is a one-line error naming where it came from.
 */
export interface Source {
  flag?: string | undefined;
  env?: string | undefined;
  flagName: string;
  envName?: string;
}

function pick(src: Source): { raw: string; origin: string } | undefined {
  if (src.flag !== undefined && src.flag !== '') return { raw: src.flag, origin: `--${src.flagName}` };
  if (src.env !== undefined && src.env !== '' && src.envName) return { raw: src.env, origin: src.envName };
  return undefined;
}

export function stringSetting(src: Source, fallback: string): string {
  return pick(src)?.raw ?? fallback;
}

export function optionalString(src: Source): string | undefined {
  return pick(src)?.raw;
}

export function intSetting(src: Source, fallback: number, min: number, max: number): number {
  const got = pick(src);
  if (!got) return fallback;
  const n = Number(got.raw);
  if (!/^\s*-?\d+\s*$/.test(got.raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${got.origin} must be a whole number from ${min} to ${max} (got '${got.raw}')`);
  }
  return n;
}

export function durationSetting(src: Source, fallback: number, minMs = 0): number {
  const got = pick(src);
  if (!got) return fallback;
  const ms = parseDuration(got.raw);
  if (ms === undefined || ms < minMs) {
    throw new UsageError(
      `${got.origin} must be a duration such as 500ms, 10s, 5m or 1h${minMs > 0 ? ` of at least ${minMs}ms` : ''} (got '${got.raw}')`,
    );
  }
  return ms;
}

export function sizeSetting(src: Source, fallback: number, minBytes = 0): number {
  const got = pick(src);
  if (!got) return fallback;
  const bytes = parseSize(got.raw);
  if (bytes === undefined || bytes < minBytes) {
    throw new UsageError(
      `${got.origin} must be a size such as 512KiB, 10MiB or 1GiB${minBytes > 0 ? ` of at least ${minBytes} bytes` : ''} (got '${got.raw}')`,
    );
  }
  return bytes;
}
