/** Sample records for storage tests. */
import type { RequestRecord } from '../../src/storage/types.ts';

export function requestRecord(id: string, over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    request_id: id,
    timestamp: new Date().toISOString(),
    source: 'chat',
    source_metadata: { platform: 'test' },
    ai_service: 'chat',
    ai_model: 'echo',
    input_summary: 'hello',
    output_summary: 'hi',
    gatekeeper_status: 'approved',
    gatekeeper_confidence: 0.9,
    gatekeeper_reasoning: 'ok',
    processing_time_ms: 3,
    tokens_used: 5,
    user_id: 'allan',
    http_status: 200,
    response: { request_id: id, status: 'approved', robbie_response: { message: 'hi' } },
    request_fingerprint: null,
    ...over,
  };
}
