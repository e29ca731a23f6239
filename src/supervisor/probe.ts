/**
 * Liveness probing: an HTTP GET every `intervalMs` with a `timeoutMs` deadline; `failures`
 * consecutive failures declare the child hung. Probes run at a fixed rate — a probe that times out
 * does not push the next one back — so a hang is detected in about failures × interval + timeout.
 */
import http from 'node:http';
import type { Cancel, Clock } from './clock.ts';

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

export type ProbeFn = (url: string, timeoutMs: number) => Promise<ProbeResult>;

/** Probes `url` at a fixed rate until stopped, reporting each result with the failures in a row. */
export class Prober {
  readonly #url: string;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #probe: ProbeFn;
  readonly #onResult: (r: ProbeResult, consecutiveFailures: number) => void;
  #cancel: Cancel | undefined;
  #failures = 0;
  #stopped = false;

  constructor(
    url: string,
    opts: { intervalMs: number; timeoutMs: number },
    deps: { clock: Clock; probe: ProbeFn },
    onResult: (r: ProbeResult, consecutiveFailures: number) => void,
  ) {
    this.#url = url;
    this.#intervalMs = opts.intervalMs;
    this.#timeoutMs = opts.timeoutMs;
    this.#clock = deps.clock;
    this.#probe = deps.probe;
    this.#onResult = onResult;
    void this.#tick();
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const started = this.#clock.now();
    const r = await this.#probe(this.#url, this.#timeoutMs);
    if (this.#stopped) return;
    this.#failures = r.ok ? 0 : this.#failures + 1;
    this.#onResult(r, this.#failures);
    if (this.#stopped) return;
    // Fixed rate: the next probe is due one interval after this one started, at once if overdue.
    this.#cancel = this.#clock.after(
      Math.max(0, started + this.#intervalMs - this.#clock.now()),
      () => void this.#tick(),
    );
  }
}
