/**
 * Whether the model server can be reached at all, known before any request needs it: a TCP
 * connect to its host and port every 15 s (never an API call, so it costs the server nothing).
 * `/health` reads the last result, so a missing model server shows as degraded from the start
 * instead of after five failed requests open the circuit.
 */
import net from 'node:net';

const EVERY_MS = 15_000;
const TIMEOUT_MS = 1000;

export interface Reachability {
  state: 'reachable' | 'unreachable' | 'unknown';
  error?: string;
}

function connectOnce(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (error: string | undefined) => {
      sock.destroy();
      resolve(error);
    };
    sock.setTimeout(TIMEOUT_MS, () => done(`no answer within ${TIMEOUT_MS} ms`));
    sock.once('connect', () => done(undefined));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'connection failed'));
  });
}

/** Starts probing `endpoint` (an http(s) URL) for the life of the process; returns the latest result. */
export function watchReachability(endpoint: string | undefined): { get: () => Reachability } {
  if (!endpoint) return { get: () => ({ state: 'reachable' }) };
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  let last: Reachability = { state: 'unknown' };
  const tick = async () => {
    const error = await connectOnce(host, port);
    last = error ? { state: 'unreachable', error: `${url.host}: ${error}` } : { state: 'reachable' };
    setTimeout(() => void tick(), EVERY_MS).unref();
  };
  void tick();
  return { get: () => last };
}
