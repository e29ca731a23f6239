import { ConfigError, UsageError } from '../errors.ts';
import { formatDuration, parseDuration, parseSize } from './units.ts';

/**
 * Reads one setting with the documented precedence: the flag when given, else the environment
 * variable, else the default. A bad value is a one-line error naming where it came from: exit 2
 * for a flag (a usage mistake), exit 78 for the environment or an env file (a configuration that
 * cannot work, which the service units do not restart on).
 */
export interface Source {
  flag?: string | undefined;
  env?: string | undefined;
  flagName: string;
  envName?: string;
}

/**
 * The longest wait robbie accepts for anything that becomes a timer: Node's timers hold at most
 * 2^31-1 ms (about 24.8 days) and fire after 1 ms beyond that, so the bound is a round 24 days.
 */
export const MAX_TIMER_MS = 24 * 86_400_000;

interface Picked {
  raw: string;
  origin: string;
  fromFlag: boolean;
}

function pick(src: Source): Picked | undefined {
  if (src.flag !== undefined) {
    if (src.flag.trim() === '') throw new UsageError(`--${src.flagName} needs a value`);
    return { raw: src.flag, origin: `--${src.flagName}`, fromFlag: true };
  }
  if (src.env !== undefined && src.env !== '' && src.envName)
    return { raw: src.env, origin: src.envName, fromFlag: false };
  return undefined;
}

function refuse(got: Picked, what: string): never {
  const message = `${got.origin} must be ${what} (got '${got.raw}')`;
  throw got.fromFlag ? new UsageError(message) : new ConfigError(message);
}

export function stringSetting(src: Source, fallback: string): string {
  return pick(src)?.raw ?? fallback;
}

export function optionalString(src: Source): string | undefined {
  return pick(src)?.raw;
}

/** One of `choices`; a wrong one is refused with the list. */
export function enumSetting<T extends string>(src: Source, choices: readonly T[], fallback: T): T {
  const got = pick(src);
  if (!got) return fallback;
  if (!(choices as readonly string[]).includes(got.raw)) refuse(got, `one of ${choices.join(', ')}`);
  return got.raw as T;
}

export function intSetting(src: Source, fallback: number, min: number, max: number): number {
  const got = pick(src);
  if (!got) return fallback;
  const n = Number(got.raw);
  if (!/^\s*-?\d+\s*$/.test(got.raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    refuse(got, `a whole number from ${min} to ${max}`);
  }
  return n;
}

/** A duration from `minMs` to `maxMs` (by default what a timer can hold). */
export function durationSetting(src: Source, fallback: number, minMs = 0, maxMs = MAX_TIMER_MS): number {
  const got = pick(src);
  if (!got) return fallback;
  const ms = parseDuration(got.raw);
  if (ms === undefined || ms < minMs || ms > maxMs) {
    const range =
      minMs > 0
        ? ` from ${formatDuration(minMs)} to ${formatDuration(maxMs)}`
        : ` of at most ${formatDuration(maxMs)}`;
    refuse(got, `a duration such as 500ms, 10s, 5m or 1h${range}`);
  }
  return ms;
}

export function sizeSetting(
  src: Source,
  fallback: number,
  minBytes = 0,
  maxBytes = Number.MAX_SAFE_INTEGER,
): number {
  const got = pick(src);
  if (!got) return fallback;
  const bytes = parseSize(got.raw);
  if (bytes === undefined || bytes < minBytes || bytes > maxBytes) {
    refuse(
      got,
      `a size such as 512KiB, 10MiB or 1GiB${minBytes > 0 ? ` of at least ${minBytes} bytes` : ''}`,
    );
  }
  return bytes;
}
