/** Where a server listening on `host:port` is reached: its URL, from this machine, and its health endpoint. */
import type { Resolved } from '../config/resolve.ts';

/** `http://host:port/path`, with an IPv6 address in brackets. */
export function httpUrl(host: string, port: number | string, path = ''): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
}

/** Where a local client reaches a server listening on `host` (a wildcard means loopback). */
export function reachableHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Where a local client finds the health endpoint of an API listening on `host:port`. */
export function localHealthUrl(host: string, port: number): string {
  return httpUrl(reachableHost(host), port, '/health');
}

/** Where a local client finds the API of these settings. */
export function healthUrl(s: Resolved): string {
  return localHealthUrl(s.values.host, s.values.port);
}
