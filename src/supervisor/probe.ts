/**
 * Liveness probing: an HTTP GET every `intervalMs` with a `timeoutMs` deadline; `failures`
 * consecutive failures declare the child hung. Probes run at a fixed rate — a probe that times out
 * does not push the next one back — so a hang is detected in about failures × interval + timeout.
 */
import { connect } from 'node:net';
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

/** Longest status line read before the probe calls the answer malformed. */
const MAX_STATUS_LINE = 1024;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})[ \r]/;

/**
 * One GET; 2xx and 3xx pass (Kubernetes' rule). A fresh connection each time, closed as soon as
 * the status line has arrived: the status is all a liveness probe reads. Written on node:net
 * rather than node:http because an idle supervisor probes every second for months: the HTTP
 * client's request, response and parser objects for each probe were most of what it allocated and
 * what V8 went on to optimise, and its memory grew with them (measured: 58 → 66 MB RSS over four
 * idle minutes).
 */
export function probeOnce(url: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const time = Date.now();
  const target = new URL(url);
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<ProbeResult, 'time' | 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...r, time, latencyMs: Math.round((performance.now() - started) * 100) / 100 });
    };
    const socket = connect({
      host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(target.port) || 80,
      noDelay: true,
    });
    socket.write(
      `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
        'User-Agent: robbie-supervisor\r\nConnection: close\r\n\r\n',
    );
    let head = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      head += chunk;
      const status = STATUS_LINE.exec(head);
      if (status) {
        const code = Number(status[1]);
        done({ ok: code >= 200 && code < 400, status: code });
      } else if (head.includes('\n') || head.length > MAX_STATUS_LINE) {
        done({ ok: false, error: 'not an HTTP answer' });
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
    socket.once('close', () => done({ ok: false, error: 'closed without an answer' }));
    const timer = setTimeout(() => done({ ok: false, error: `no answer within ${timeoutMs}ms` }), timeoutMs);
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
