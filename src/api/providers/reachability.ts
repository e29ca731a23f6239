/**
 * Whether the model server can be reached at all, known before any request needs it: a TCP
 * connect to its host and port every 15 s (never an API call, so it costs the server nothing).
 * `/health` reads the last result, so a missing model server shows as degraded from the start
 * instead of after five failed requests open the circuit.
 */
import { tcpConnect } from '../../runtime/tcp-connect.ts';

const EVERY_MS = 15_000;
const TIMEOUT_MS = 1000;

export interface Reachability {
  state: 'reachable' | 'unreachable' | 'unknown';
  error?: string;
}

/** Starts probing `endpoint` (an http(s) URL) for the life of the process; returns the latest result. */
export function watchReachability(endpoint: string | undefined): { get: () => Reachability } {
  if (!endpoint) return { get: () => ({ state: 'reachable' }) };
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  let last: Reachability = { state: 'unknown' };
  const tick = async () => {
    const error = await tcpConnect(host, port, TIMEOUT_MS);
    last = error ? { state: 'unreachable', error: `${url.host}: ${error}` } : { state: 'reachable' };
    setTimeout(() => void tick(), EVERY_MS).unref();
  };
  void tick();
  return { get: () => last };
}
