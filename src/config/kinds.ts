/**
 * The kinds of value a setting can hold: how each is read from text, written back as text (for the
 * help, `robbie config` and the environment handed to children) and described when refused.
 */
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts';

export interface Codec<T> {
  /** The value, or undefined when the text is not one. */
  parse(raw: string): T | undefined;
  format(value: T): string;
  /** What is accepted, completing "must be …". */
  accepts: string;
  /** The value hint in the help: `--port <n>`. */
  hint: string;
}

/**
 * The longest wait robbie accepts for anything that becomes a timer: Node's timers hold at most
 * 2^31-1 ms (about 24.8 days) and fire after 1 ms beyond that, so the bound is a round 24 days.
 */
export const MAX_TIMER_MS = 24 * 86_400_000;

export function stringCodec(hint = 'text'): Codec<string> {
  return { parse: (raw) => raw, format: (v) => v, accepts: 'a value', hint };
}

/** The items of a comma-separated list, trimmed, empty ones left out. */
function listItems(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A comma-separated list whose every item `valid` accepts, each at most once, in the order given. */
function uniqueListCodec<T extends string>(
  valid: (item: string) => boolean,
  accepts: string,
  hint: string,
): Codec<T[]> {
  return {
    parse(raw) {
      const items = listItems(raw);
      if (!items.every(valid)) return undefined;
      return new Set(items).size === items.length ? (items as T[]) : undefined;
    },
    format: (v) => v.join(','),
    accepts,
    hint,
  };
}

export function listCodec(hint = 'a,b'): Codec<string[]> {
  return {
    parse: listItems,
    format: (v) => v.join(','),
    accepts: 'a comma-separated list',
    hint,
  };
}

export function intCodec(min: number, max: number): Codec<number> {
  return {
    parse(raw) {
      if (!/^\s*-?\d+\s*$/.test(raw)) return undefined;
      const n = Number(raw);
      return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
    },
    format: String,
    accepts: `a whole number from ${min} to ${max}`,
    hint: 'n',
  };
}

/** A duration; `bare` is the unit of a number without one (OpenTelemetry's variables count milliseconds). */
export function durationCodec(minMs = 0, maxMs = MAX_TIMER_MS, bare: 'ms' | 's' = 's'): Codec<number> {
  const range =
    minMs > 0
      ? ` from ${formatDuration(minMs)} to ${formatDuration(maxMs)}`
      : ` of at most ${formatDuration(maxMs)}`;
  return {
    parse(raw) {
      const ms = parseDuration(bare === 'ms' && /^\s*\d+\s*$/.test(raw) ? `${raw.trim()}ms` : raw);
      return ms !== undefined && ms >= minMs && ms <= maxMs ? ms : undefined;
    },
    format: formatDuration,
    accepts: `a duration such as 500ms, 10s, 5m or 1h${range}`,
    hint: 'duration',
  };
}

export function sizeCodec(minBytes = 0): Codec<number> {
  return {
    parse(raw) {
      const bytes = parseSize(raw);
      return bytes !== undefined && bytes >= minBytes ? bytes : undefined;
    },
    format: formatSize,
    accepts: `a size such as 512KiB, 10MiB or 1GiB${minBytes > 0 ? ` of at least ${formatSize(minBytes)}` : ''}`,
    hint: 'size',
  };
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

export const boolCodec: Codec<boolean> = {
  parse(raw) {
    const v = raw.trim().toLowerCase();
    return TRUE.includes(v) ? true : FALSE.includes(v) ? false : undefined;
  },
  format: (v) => (v ? 'on' : 'off'),
  accepts: '1/true/yes/on or 0/false/no/off',
  hint: '',
};

export function enumCodec<T extends string>(choices: readonly T[]): Codec<T> {
  return {
    parse: (raw) => ((choices as readonly string[]).includes(raw) ? (raw as T) : undefined),
    format: (v) => v,
    accepts: `one of ${choices.join(', ')}`,
    hint: choices.join('|'),
  };
}

export interface Rate {
  max: number;
  windowMs: number;
}

/** `60/1m` → 60 requests per minute. */
export const rateCodec: Codec<Rate> = {
  parse(raw) {
    const m = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(raw);
    if (!m) return undefined;
    const windowMs = parseDuration(m[2] as string);
    const max = Number(m[1]);
    if (windowMs === undefined || windowMs <= 0 || windowMs > MAX_TIMER_MS || max < 1) return undefined;
    return { max, windowMs };
  },
  format: (v) => `${v.max}/${formatDuration(v.windowMs)}`,
  accepts: 'a count per duration such as 60/1m',
  hint: 'n/duration',
};

/** An absolute URL whose scheme is one of `schemes` (`http:`); a base URL loses its trailing `/`. */
export function urlCodec(schemes: readonly string[], example: string, base = false): Codec<string> {
  return {
    parse(raw) {
      try {
        if (!schemes.includes(new URL(raw).protocol)) return undefined;
        return base ? raw.replace(/\/+$/, '') : raw;
      } catch {
        return undefined;
      }
    },
    format: (v) => v,
    accepts: `a URL such as ${example}`,
    hint: 'url',
  };
}

/** A comma-separated list of `choices`, each at most once, in the order given. */
export function enumListCodec<T extends string>(choices: readonly T[]): Codec<T[]> {
  return uniqueListCodec<T>(
    (i) => (choices as readonly string[]).includes(i),
    `a comma-separated list of ${choices.join(', ')}, each at most once`,
    choices.join(','),
  );
}

/** A name of something configured elsewhere (a provider): lower-case letters, digits, `_` and `-`. */
export const NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export function nameCodec(hint: string): Codec<string> {
  return {
    parse: (raw) => (NAME.test(raw.trim()) ? raw.trim() : undefined),
    format: (v) => v,
    accepts: 'a name of lower-case letters, digits, _ and - (at most 32)',
    hint,
  };
}

/** A comma-separated list of names, each at most once, in the order given. */
export function nameListCodec(hint: string): Codec<string[]> {
  return uniqueListCodec(
    (i) => NAME.test(i),
    'a comma-separated list of names (lower-case letters, digits, _ and -), each at most once',
    hint,
  );
}

/**
 * A service's model: `name` (on the primary provider), or per provider `ollama=llama3.1:8b,openai=gpt-4o-mini`
 * — a provider left out keeps its default model.
 */
export interface ModelChoice {
  primary?: string;
  byProvider: Partial<Record<string, string>>;
}

/** Provider names are checked against the chain where it is built (api/providers/providers-config.ts). */
export function modelChoiceCodec(): Codec<ModelChoice> {
  return {
    parse(raw) {
      const value = raw.trim();
      if (value === '') return undefined;
      if (!value.includes('=')) return /[\s,]/.test(value) ? undefined : { primary: value, byProvider: {} };
      const byProvider: Partial<Record<string, string>> = {};
      for (const part of value.split(',')) {
        const m = /^\s*([a-z][a-z0-9_-]*)\s*=\s*([^\s=,]+)\s*$/.exec(part);
        if (!m || byProvider[m[1] as string]) return undefined;
        byProvider[m[1] as string] = m[2] as string;
      }
      return { byProvider };
    },
    format: (v) =>
      v.primary ??
      Object.entries(v.byProvider)
        .map(([p, m]) => `${p}=${m}`)
        .join(','),
    accepts: 'a model name, or provider=model pairs separated by commas',
    hint: 'model',
  };
}

/** `k=v,k2=v2` with URL-encoded values (W3C Baggage's form, as the OTEL_* variables write them). */
export const pairsCodec: Codec<Record<string, string>> = {
  parse(raw) {
    const out: Record<string, string> = {};
    for (const item of listItems(raw)) {
      const eq = item.indexOf('=');
      if (eq <= 0) return undefined;
      try {
        out[item.slice(0, eq).trim()] = decodeURIComponent(item.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
    return out;
  },
  format: (v) =>
    Object.entries(v)
      .map(([k, x]) => `${k}=${encodeURIComponent(x)}`)
      .join(','),
  accepts: 'key=value pairs separated by commas, the values URL-encoded',
  hint: 'key=value,…',
};

/** A share from 0 to 1. */
export const ratioCodec: Codec<number> = {
  parse(raw) {
    if (!/^\s*\d+(?:\.\d+)?\s*$/.test(raw)) return undefined;
    const n = Number(raw);
    return n <= 1 ? n : undefined;
  },
  format: String,
  accepts: 'a number from 0 to 1',
  hint: 'ratio',
};
