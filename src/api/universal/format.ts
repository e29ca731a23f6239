/**
 * The Universal Input API's answer shape (what the original clients read): the request id, the
 * gatekeeper's status and review, robbie's response, timing — and which provider served it.
 */
import { errorBody, errorHeaders } from '../errors.ts';
import type { AnswerFormat, GatewayRequest, Outcome, Reply, Review } from '../pipeline/outcome.ts';

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
      : { message: a.text ?? '', ...base };
    const served = { provider: a.provider, model: a.model, ...(a.cache ? { cache: a.cache } : {}) };
    return {
      status: 200,
      body: { ...this.#body(req, outcome.status, outcome.review, response, elapsedMs), served_by: served },
      headers: servedHeaders(a),
    };
  }
}

/** Which provider (and model) served an answer, and whether it came from the cache. */
export function servedHeaders(a: {
  provider: string;
  model: string;
  cache?: string;
}): Record<string, string> {
  return {
    'X-Robbie-Provider': a.provider,
    'X-Robbie-Model': a.model,
    ...(a.cache ? { 'X-Robbie-Cache': a.cache } : {}),
  };
}
