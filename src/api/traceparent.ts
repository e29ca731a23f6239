import { randomFillSync } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Random ids drawn from a pool refilled 4 KiB at a time: one system call per 170 requests, where
 * randomBytes makes one per id, and no UUID to strip of its dashes (randomUUID's own pool holds
 * UUIDs only).
 */
const pool = Buffer.alloc(4096);
let offset = pool.length;

function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

/**
 * W3C trace context: the caller's trace continues into the model call with a new span id; without a
 * valid traceparent a new trace starts.
 */
export function childTraceparent(incoming: string | undefined): { traceparent: string; traceId: string } {
  const m = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  const traceId = m && m[1] !== '0'.repeat(32) ? (m[1] as string) : randomHex(16);
  const flags = m ? (m[3] as string) : '01';
  return { traceparent: `00-${traceId}-${randomHex(8)}-${flags}`, traceId };
}
