/**
 * What the pipeline works on and what it ends with, in no route's shape: a `GatewayRequest` built
 * by the universal or the OpenAI routes, and an `Outcome` each stage may return. The responder
 * records an outcome and a route's `AnswerFormat` turns it into that route's answer.
 */
import type { RequestStatus } from '../../storage/types.ts';
import type { Span } from '../../telemetry/tracer.ts';
import type { Principal } from '../../tenancy/principal.ts';
import { type ErrorFormat, errorBody, errorHeaders, type Problem, problem } from '../errors.ts';
import type { ModelInput, ModelRoute } from '../providers/model-router.ts';
import type { Logprobs, TokenUsage, ToolCall } from '../providers/types.ts';

export interface GatewayRequest {
  /** Who sent it: everything kept per request (ids, claims, cache, limits, usage) is theirs. */
  principal: Principal;
  /** The universal `request_id`, an `Idempotency-Key`, or one made up. */
  id: string;
  /** The id is the client's: duplicates share one answer (and one model call). */
  idempotent: boolean;
  source: string;
  sourceMetadata: Record<string, unknown> | null;
  /** The model the client named (a service, `provider/model` or a model name), and where it leads. */
  route: ModelRoute;
  userId: string;
  /** What the request log summarises: the user's words. */
  input: string;
  /** Every text the model will read (the input, its context, the source): what the gatekeeper reviews. */
  reviewed?: string;
  model: ModelInput;
  /** The client asked for the answer as it is generated. */
  stream: boolean;
  /** Digest of what the client sent (everything but the id), format included; '' when not idempotent (nothing compares it). */
  fingerprint: string;
  /** The request's whole model budget in milliseconds (every attempt, retry and fallback). */
  budgetMs: number;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
  /** The request's SERVER span: model attempts, the cache and the store write are spans under it. */
  span: Span;
  /**
   * Fields for the request's access-log line, filled in by the responder (outcome, provider,
   * model, timing): one line per request says what happened to it.
   */
  note: Record<string, unknown>;
  /** Tokens the answer used, set by the responder once it is recorded (for the key's token limit). */
  spentTokens?: number;
  /** The key's budget hold while this request runs; its record's spend replaces it. */
  budgetHold?: string;
}

export interface Review {
  approved: boolean;
  confidence: number;
  reasoning: string;
  warnings: string[];
}

/** A model's answer, as served. */
export interface Answer {
  provider: string;
  model: string;
  /** Every token of the call (prompt and completion), when the provider said. */
  tokens: number | null;
  usage?: TokenUsage;
  latencyMs: number;
  text?: string;
  /** The tool calls the model asked for (OpenAI's shape), arguments redacted. */
  toolCalls?: ToolCall[];
  /** Why the model stopped, as the provider said. */
  finishReason?: string;
  /** The model's refusal (OpenAI's `refusal`), redacted like text. */
  refusal?: string;
  /** The tokens' log probabilities, passed back only when nothing was redacted (they spell the text). */
  logprobs?: Logprobs;
  /** An embeddings answer: one vector per input. */
  embeddings?: number[][];
  /** Served from the answer cache: `hit` fresh, `stale` while every provider is down. */
  cache?: 'hit' | 'stale';
  /** Streams: when the first piece was let out, and how the stream ended. */
  firstTokenMs?: number;
  stream?: 'complete' | 'cut' | 'broken';
}

export type Outcome =
  | { kind: 'answered'; status: 'approved' | 'revised'; review: Review; answer: Answer }
  | { kind: 'refused'; status: 'blocked' | 'rejected'; review: Review }
  | {
      kind: 'failed';
      status: RequestStatus;
      problem: Problem;
      review?: Review;
      model?: string;
      /** False for a rate-limit refusal: counted, not stored (a row per 429 would fill the disk). */
      recorded: boolean;
    };

/** An answer as a route sends it. */
export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** How a route family (universal, OpenAI) shapes outcomes. */
export interface AnswerFormat {
  readonly name: 'universal' | 'openai' | 'anthropic';
  reply(req: GatewayRequest, outcome: Outcome, elapsedMs: number): Reply;
}

/**
 * What the model said, for a protocol with no place for a refusal (Anthropic's, the Responses
 * API's, the universal route's): its text, and its refusal after it.
 */
export function spokenText(a: Answer): string {
  return [a.text, a.refusal].filter((t) => t !== undefined && t !== '').join('\n\n');
}

/** A failure's reply in the format's error shape, whatever the outcome. */
export function problemReply(req: GatewayRequest, p: Problem, format: AnswerFormat): Reply {
  const shape: ErrorFormat = format.name === 'universal' ? 'robbie' : format.name;
  return { status: p.status, body: errorBody(p, req.id, shape), headers: errorHeaders(p) };
}

/**
 * The reply to an outcome that is no answer, in an SDK's error shape (OpenAI's, Anthropic's): a
 * failure's own problem, a killswitch block 403, a gatekeeper rejection 400
 * `content_policy_violation` (as OpenAI's own moderation).
 */
export function refusalReply(
  req: GatewayRequest,
  outcome: Exclude<Outcome, { kind: 'answered' }>,
  format: ErrorFormat,
): Reply {
  const p =
    outcome.kind === 'failed'
      ? outcome.problem
      : outcome.status === 'blocked'
        ? problem(403, 'killswitch_active', outcome.review.reasoning)
        : problem(400, 'content_policy_violation', outcome.review.reasoning);
  return { status: p.status, body: errorBody(p, req.id, format), headers: errorHeaders(p) };
}

/** What an SDK-shaped answer carries as `robbie`: the request id, the gatekeeper status, who served it. */
export function robbieOf(req: GatewayRequest, outcome: Extract<Outcome, { kind: 'answered' }>) {
  const a = outcome.answer;
  return {
    request_id: req.id,
    status: outcome.status,
    provider: a.provider,
    ...(a.cache ? { cache: a.cache } : {}),
    ...(outcome.review.warnings.length > 0 ? { warnings: outcome.review.warnings } : {}),
  };
}
