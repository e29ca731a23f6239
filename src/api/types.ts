import type { Logger } from '../logger/logger.ts';
import type { Span } from '../telemetry/tracer.ts';
import type { Principal } from '../tenancy/principal.ts';
import type { ErrorFormat } from './errors.ts';

/**
 * Per-request values every route can read: the request id, a logger that carries it, and the
 * shape its error bodies take (OpenAI's under /v1).
 */
export type AppEnv = {
  Variables: {
    requestId: string;
    /** The caller, once its key is checked (routes under an API key). */
    principal: Principal;
    log: Logger;
    errorFormat?: ErrorFormat;
    logFields?: Record<string, unknown>;
    /** The request's SERVER span: the caller's trace continued (recording nothing when tracing is off). */
    span: Span;
    /** A streamed answer: its span ends when this settles (the handler returns at the stream's start). */
    spanEndsWith?: Promise<unknown>;
  };
};
