/**
 * The last hour of the API's traffic, for the dashboard: requests, errors and latency in 10-second
 * buckets, and the requests and tokens of each key and source. Each API process meters its own
 * traffic and hands it over every second as a sample; under `robbie supervise` the supervisor
 * keeps the history (one per service, across restarts, promotions and instances), else the
 * process keeps its own. Bounded: 360 buckets, at most 100 keys and 100 sources per sample (the
 * rest as "other"), as /metrics bounds its labels.
 */

/** Upper bounds of the latency bins, in milliseconds (the last bin is everything slower). */
export const LATENCY_BOUNDS_MS = [
  1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500,
  10_000, 15_000, 30_000, 60_000,
];
const BINS = LATENCY_BOUNDS_MS.length + 1;
const BUCKET_MS = 10_000;
const BUCKETS = 360;
const MAX_NAMES = 100;

export interface Usage {
  requests: number;
  tokens: number;
}

/** One process's traffic over about a second. */
export interface TrafficSample {
  /** When the second began (epoch ms). */
  at: number;
  requests: number;
  /** Answers of 500 and above. */
  errors: number;
  /** Requests per latency bin (LATENCY_BOUNDS_MS). */
  bins: number[];
  keys: Record<string, Usage>;
  sources: Record<string, Usage>;
}

export interface TrafficPoint {
  at: number;
  requests: number;
  errors: number;
  /** Milliseconds: the upper bound of the bin the percentile falls in (null: no requests). */
  p50: number | null;
  p99: number | null;
}

export interface TrafficSeries {
  bucketMs: number;
  /** The hour's first bucket (epoch ms) and how many buckets it has. */
  from: number;
  buckets: number;
  /** Oldest first, the buckets that saw requests (the others had none). */
  points: TrafficPoint[];
  hour: TrafficPoint;
  keys: Record<string, Usage>;
  sources: Record<string, Usage>;
}

function emptySample(at: number): TrafficSample {
  return { at, requests: 0, errors: 0, bins: new Array<number>(BINS).fill(0), keys: {}, sources: {} };
}

function binOf(ms: number): number {
  // A linear walk: 28 bounds, most requests land in the first dozen.
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) if (ms <= (LATENCY_BOUNDS_MS[i] as number)) return i;
  return LATENCY_BOUNDS_MS.length;
}

function addUsage(into: Record<string, Usage>, name: string, tokens: number, n = 1): void {
  let u = into[name];
  if (!u) {
    if (Object.keys(into).length >= MAX_NAMES && name !== 'other') {
      addUsage(into, 'other', tokens, n);
      return;
    }
    u = { requests: 0, tokens: 0 };
    into[name] = u;
  }
  u.requests += n;
  u.tokens += tokens;
}

/** One process's meter: what happened since the last sample was taken. */
export class TrafficMeter {
  #current = emptySample(Date.now());

  /** A request answered (its status) in `ms`. */
  request(ms: number, status: number): void {
    const c = this.#current;
    c.requests++;
    if (status >= 500) c.errors++;
    (c.bins[binOf(ms)] as number)++;
  }

  /** A gateway request's key and source, and the tokens its answer used. */
  usage(key: string, source: string, tokens: number): void {
    addUsage(this.#current.keys, key, tokens);
    addUsage(this.#current.sources, source, tokens);
  }

  /** What was metered since the last call (undefined when nothing), and a fresh start. */
  take(now = Date.now()): TrafficSample | undefined {
    const c = this.#current;
    this.#current = emptySample(now);
    const idle = c.requests === 0 && Object.keys(c.keys).length === 0;
    return idle ? undefined : c;
  }
}

function percentile(bins: readonly number[], total: number, p: number): number | null {
  if (total === 0) return null;
  const rank = Math.ceil(total * p);
  let seen = 0;
  for (let i = 0; i < bins.length; i++) {
    seen += bins[i] as number;
    if (seen >= rank) return LATENCY_BOUNDS_MS[i] ?? (LATENCY_BOUNDS_MS.at(-1) as number) * 2;
  }
  return null;
}

function pointOf(s: TrafficSample): TrafficPoint {
  return {
    at: s.at,
    requests: s.requests,
    errors: s.errors,
    p50: percentile(s.bins, s.requests, 0.5),
    p99: percentile(s.bins, s.requests, 0.99),
  };
}

function merge(into: TrafficSample, s: TrafficSample): void {
  into.requests += s.requests;
  into.errors += s.errors;
  for (let i = 0; i < BINS; i++) (into.bins[i] as number) += s.bins[i] ?? 0;
  for (const [k, u] of Object.entries(s.keys)) addUsage(into.keys, k, u.tokens, u.requests);
  for (const [k, u] of Object.entries(s.sources)) addUsage(into.sources, k, u.tokens, u.requests);
}

/** An hour of samples in 10-second buckets; older ones fall out as time passes. */
export class TrafficHistory {
  /** Keyed by bucket start (epoch ms). */
  readonly #buckets = new Map<number, TrafficSample>();

  add(s: TrafficSample): void {
    const start = Math.floor(s.at / BUCKET_MS) * BUCKET_MS;
    let b = this.#buckets.get(start);
    if (!b) {
      b = emptySample(start);
      this.#buckets.set(start, b);
      const oldest = start - BUCKETS * BUCKET_MS;
      for (const k of this.#buckets.keys()) if (k <= oldest) this.#buckets.delete(k);
    }
    merge(b, s);
  }

  series(now = Date.now()): TrafficSeries {
    const last = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    const hour = emptySample(last - (BUCKETS - 1) * BUCKET_MS);
    const points: TrafficPoint[] = [];
    for (let i = BUCKETS - 1; i >= 0; i--) {
      const b = this.#buckets.get(last - i * BUCKET_MS);
      if (!b) continue;
      merge(hour, b);
      if (b.requests > 0) points.push(pointOf(b));
    }
    return {
      bucketMs: BUCKET_MS,
      from: hour.at,
      buckets: BUCKETS,
      points,
      hour: pointOf(hour),
      keys: hour.keys,
      sources: hour.sources,
    };
  }
}

/** Whether a sample from another process has the shape of one (the IPC channel carries JSON). */
export function isTrafficSample(v: unknown): v is TrafficSample {
  const s = v as Partial<TrafficSample> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.at === 'number' &&
    typeof s.requests === 'number' &&
    typeof s.errors === 'number' &&
    Array.isArray(s.bins) &&
    s.bins.length === BINS &&
    typeof s.keys === 'object' &&
    typeof s.sources === 'object'
  );
}
