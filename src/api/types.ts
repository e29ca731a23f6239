import type { RequestIdVariables } from 'hono/request-id';
import type { Logger } from '../logger/logger.ts';

/** Per-request values every route can read: the request id and a logger that carries it. */
export type AppEnv = { Variables: RequestIdVariables & { log: Logger } };
