import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * W3C trace context: the caller's trace continues into the model call with a new span id; without a
 * valid traceparent a new trace starts.
 */
export function childTraceparent(incoming: string | undefined): { traceparent: string; traceId: string } {
  const m = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  const traceId = m && m[1] !== '0'.repeat(32) ? (m[1] as string) : randomBytes(16).toString('hex');
  const flags = m ? (m[3] as string) : '01';
  return { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}`, traceId };
}
