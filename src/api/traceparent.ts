import { randomUUID } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * W3C trace context: the caller's trace continues into the model call with a new span id; without a
 * valid traceparent a new trace starts.
 */
export function childTraceparent(incoming: string | undefined): { traceparent: string; traceId: string } {
  const m = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  // randomUUID draws from a pooled entropy buffer; randomBytes would make a system call each time.
  const fresh = randomUUID().replaceAll('-', '');
  const traceId = m && m[1] !== '0'.repeat(32) ? (m[1] as string) : fresh;
  const flags = m ? (m[3] as string) : '01';
  const spanId = (m ? fresh : randomUUID().replaceAll('-', '')).slice(0, 16);
  return { traceparent: `00-${traceId}-${spanId}-${flags}`, traceId };
}
