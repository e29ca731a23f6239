/**
 * The Universal Input API's answer shape (what the original clients read): the request id, the
 * gatekeeper's status and review, robbie's response, timing — and which provider served it.
 */
import { servedHeaders } from '../answer.ts';
import { errorBody, errorHeaders, problem } from '../errors.ts';
import {
  type AnswerFormat,
  type GatewayRequest,
  type Outcome,
  type Reply,
  type Review,
  spokenText,
} from '../pipeline/outcome.ts';
import type { AnswerFrames, SseMessage } from '../sse.ts';

export class UniversalFormat implements AnswerFormat {
  readonly name = 'universal';
  readonly #mood: string;

  constructor(mood: string) {
    this.#mood = mood;
  }

  #body(req: GatewayRequest, status: string, review: Review | null, response: unknown, elapsedMs: number) {
    return {
      request_id: req.id,
      status,
      robbie_response: response,
      gatekeeper_review: review,
      processing_time_ms: elapsedMs,
      timestamp: new Date().toISOString(),
    };
  }

  reply(req: GatewayRequest, outcome: Outcome, elapsedMs: number): Reply {
    if (outcome.kind === 'failed') {
      const p = outcome.problem;
      // A refusal by the rate limiter is still a review, as the original clients read it.
      const extra =
        p.error === 'rate_limited' && outcome.review
          ? this.#body(req, 'rejected', outcome.review, null, elapsedMs)
          : undefined;
      return {
        status: p.status,
        body: errorBody(extra ? { ...p, extra } : p, req.id, 'robbie'),
        headers: errorHeaders(p),
      };
    }
    if (outcome.kind === 'refused') {
      return { status: 200, body: this.#body(req, outcome.status, outcome.review, null, elapsedMs) };
    }
    const a = outcome.answer;
    const base = { mood: this.#mood, sticky_notes: [], personality_changes: {}, actions: [] };
    const embedding = a.embeddings?.[0];
    const response = embedding
      ? { message: '', ...base, embedding, dimensions: embedding.length }
      : { message: spokenText(a), ...base };
    const served = { provider: a.provider, model: a.model, ...(a.cache ? { cache: a.cache } : {}) };
    return {
      status: 200,
      body: { ...this.#body(req, outcome.status, outcome.review, response, elapsedMs), served_by: served },
      headers: servedHeaders(a),
    };
  }
}

/**
 * The events of a streamed universal answer: `delta` pieces of text, then the `answer` as a whole
 * (or an `error`); a whole answer (replayed, cached) to a client that asked for a stream is one
 * delta and the answer.
 */
export function universalFrames(req: GatewayRequest): AnswerFrames {
  const answer = (reply: Reply): SseMessage => ({ event: 'answer', data: JSON.stringify(reply.body) });
  return {
    start: () => [],
    piece: (text) => [{ event: 'delta', data: JSON.stringify({ text }) }],
    toolCalls: (calls) => [{ event: 'tool_calls', data: JSON.stringify({ tool_calls: calls }) }],
    end: (reply) => [answer(reply)],
    broken: (reason) => [
      {
        event: 'error',
        data: JSON.stringify(errorBody(problem(503, 'model_unavailable', reason), req.id, 'robbie')),
      },
    ],
    failed: (reply) => [{ event: 'error', data: JSON.stringify(reply.body) }],
    whole: (reply) => {
      const message = (reply.body as { robbie_response?: { message?: unknown } }).robbie_response?.message;
      return [
        { event: 'delta', data: JSON.stringify({ text: typeof message === 'string' ? message : '' }) },
        answer(reply),
      ];
    },
  };
}
