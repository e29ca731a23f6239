/**
 * Liveness probing: an HTTP GET every `intervalMs` with a `timeoutMs` deadline; `failures`
 * consecutive failures declare the child hung. Probes run at a fixed rate — a probe that times out
 * does not push the next one back — so a hang is detected in about failures × interval.
 */
import http from 'node:http';

export interface ProbeOptions {
  intervalMs: number;
  timeoutMs: number;
  failures: number;
}

export interface ProbeResult {
  ok: boolean;
  time: number;
  latencyMs: number;
  status?: number;
  error?: string;
}

/** One GET; 2xx and 3xx pass (Kubernetes' rule). No keep-alive: each probe is a fresh connection. */
export function probeOnce(url: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const time = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<ProbeResult, 'time' | 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, time, latencyMs: Math.round((performance.now() - started) * 100) / 100 });
    };
    const req = http.get(url, { agent: false, headers: { 'user-agent': 'robbie-supervisor' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      done({ ok: status >= 200 && status < 400, status });
    });
    req.once('error', (err) =>
      done({ ok: false, error: (err as NodeJS.ErrnoException).code ?? err.message }),
    );
    const timer = setTimeout(() => {
      done({ ok: false, error: `no answer within ${timeoutMs}ms` });
      req.destroy();
    }, timeoutMs);
  });
}

export class Prober {
  readonly #url: string;
  readonly #opts: ProbeOptions;
  readonly #onResult: (r: ProbeResult, consecutiveFailures: number) => void;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;
  last: ProbeResult | undefined;

  constructor(
    url: string,
    opts: ProbeOptions,
    onResult: (r: ProbeResult, consecutiveFailures: number) => void,
  ) {
    this.#url = url;
    this.#opts = opts;
    this.#onResult = onResult;
  }

  start(): void {
    void this.#tick();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const started = Date.now();
    const r = await probeOnce(this.#url, this.#opts.timeoutMs);
    if (this.#stopped) return;
    this.last = r;
    this.#failures = r.ok ? 0 : this.#failures + 1;
    this.#onResult(r, this.#failures);
    if (this.#stopped) return;
    // Fixed rate: the next probe is due one interval after this one started, at once if overdue.
    this.#timer = setTimeout(
      () => void this.#tick(),
      Math.max(0, started + this.#opts.intervalMs - Date.now()),
    );
  }
}
