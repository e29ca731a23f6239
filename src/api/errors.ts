/**
 * Every error body the API sends is built here, in one of three shapes: robbie's own
 * `{error, reason, request_id, …}` (what the original clients read); on the OpenAI-compatible
 * routes, OpenAI's `{error: {message, type, code, param}}`; on Anthropic's, `{type: "error",
 * error: {type, message}}` (what each SDK maps to its error classes). A reason is written for the client: never a stack, SQL, a path or a secret.
 */
import type { Context } from 'hono';
import { sendJson } from './answer.ts';
import type { AppEnv } from './types.ts';

export type ErrorCode =
  | 'bad_json'
  | 'bad_request'
  | 'validation_error'
  | 'unauthorized'
  | 'invalid_api_key'
  | 'keys_unavailable'
  | 'forbidden'
  | 'permission_denied'
  | 'budget_exceeded'
  | 'key_not_found'
  | 'key_conflict'
  | 'not_found'
  | 'model_not_found'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'idempotency_conflict'
  | 'rate_limited'
  | 'rejected'
  | 'content_policy_violation'
  | 'killswitch_active'
  | 'killswitch_unknown'
  | 'storage_unavailable'
  | 'model_unavailable'
  | 'upstream_rejected'
  | 'upstream_too_large'
  | 'busy'
  | 'not_supervised'
  | 'supervisor_unavailable'
  | 'internal_error';

export type FieldProblem = {
  field: string;
  reason: string;
};

export interface Problem {
  /** An HTTP status; 499 (nginx's "client closed request") is recorded, never sent. */
  status: number;
  error: ErrorCode;
  /** For the client; absent only on a 500 (which says nothing but its id). */
  reason?: string;
  retryAfterS?: number;
  /** Validation: every field at fault. */
  detail?: FieldProblem[];
  /** More fields of robbie's shape (e.g. a review) — not sent in OpenAI's. */
  extra?: Record<string, unknown>;
}

export type ErrorFormat = 'robbie' | 'openai' | 'anthropic';

export function problem(
  status: number,
  error: ErrorCode,
  reason?: string,
  more: Omit<Problem, 'status' | 'error' | 'reason'> = {},
): Problem {
  return { status, error, ...(reason === undefined ? {} : { reason }), ...more };
}

/** OpenAI's error `type` for a status, as its API uses them. */
function openAiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 409) return 'conflict_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'service_unavailable';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Anthropic's error `type` for a status, as its API and SDK use them. */
function anthropicType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

export function errorBody(p: Problem, requestId: string | undefined, format: ErrorFormat): object {
  if (format === 'openai' || format === 'anthropic') {
    const first = p.detail?.[0];
    const message = first
      ? `${first.field} ${first.reason}${p.detail && p.detail.length > 1 ? ` (and ${p.detail.length - 1} more)` : ''}`
      : (p.reason ?? 'the request failed');
    if (format === 'anthropic') {
      return {
        type: 'error',
        error: {
          type: anthropicType(p.status),
          message: requestId ? `${message} (request ${requestId})` : message,
        },
      };
    }
    return {
      error: {
        message: requestId ? `${message} (request ${requestId})` : message,
        type: openAiType(p.status),
        code: p.error,
        param: first?.field ?? null,
      },
    };
  }
  return {
    ...(p.extra ?? {}),
    error: p.error,
    ...(p.reason === undefined ? {} : { reason: p.reason }),
    ...(p.detail ? { detail: p.detail } : {}),
    ...(p.retryAfterS === undefined ? {} : { retry_after_s: p.retryAfterS }),
    ...(requestId === undefined ? {} : { request_id: requestId }),
  };
}

export function errorHeaders(p: Problem): Record<string, string> {
  const headers: Record<string, string> = {};
  if (p.retryAfterS !== undefined) headers['Retry-After'] = String(p.retryAfterS);
  if (p.status === 401) headers['WWW-Authenticate'] = 'Bearer';
  return headers;
}

/** The problem as this route's clients expect it (OpenAI's shape under /v1). */
export function sendProblem(c: Context<AppEnv>, p: Problem, requestId?: string): Response {
  const format: ErrorFormat = c.get('errorFormat') ?? 'robbie';
  return sendJson(c, errorBody(p, requestId ?? c.get('requestId'), format), p.status, errorHeaders(p));
}
