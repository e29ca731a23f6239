import http from 'node:http';
import https from 'node:https';
/** A model provider: chat completions and embeddings, each with a deadline (AbortSignal). */
export interface ChatRequest {
  model: string;
  system: string;
  input: string;
  context: string[];
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
}

export interface ChatResult {
  text: string;
  tokens: number | null;
}

export interface EmbedResult {
  embedding: number[];
  tokens: number | null;
}

export interface CallContext {
  signal: AbortSignal;
  /** W3C traceparent to send on, so a trace spans robbie and the model server. */
  traceparent: string;
}

export interface Provider {
  readonly name: string;
  /** The server it calls (for the reachability probe behind /health), none for a local one. */
  readonly endpoint: string | undefined;
  chat(req: ChatRequest, ctx: CallContext): Promise<ChatResult>;
  embed(model: string, input: string, ctx: CallContext): Promise<EmbedResult>;
}

/** The provider could not be reached, or answered in a way that means "not available now". */
export class ProviderError extends Error {
  override name = 'ProviderError';
  /** A connection that failed before any answer: worth one immediate retry. */
  readonly retryable: boolean;
  readonly reason: string;
  constructor(reason: string, retryable: boolean) {
    super(reason);
    this.reason = reason;
    this.retryable = retryable;
  }
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

/**
 * POSTs JSON and returns the parsed answer; maps every failure to a ProviderError with a short
 * reason. node:http with a keep-alive agent rather than fetch: per call it allocates a fraction of
 * what fetch does, which showed as garbage-collection time under load.
 */
export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  ctx: CallContext,
): Promise<unknown> {
  const payload = Buffer.from(JSON.stringify(body));
  const target = new URL(url);
  const mod = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    if (ctx.signal.aborted) {
      reject(new ProviderError('no answer before the deadline', false));
      return;
    }
    let answered = false;
    const req = mod.request(
      target,
      {
        method: 'POST',
        agent: target.protocol === 'https:' ? agents.https : agents.http,
        headers: {
          'content-type': 'application/json',
          'content-length': payload.length,
          traceparent: ctx.traceparent,
          ...headers,
        },
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => reject(new ProviderError('the model server broke off its answer', false)));
        res.on('end', () => {
          ctx.signal.removeEventListener('abort', onAbort);
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            reject(new ProviderError(`the model server answered HTTP ${status}`, false));
            return;
          }
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch {
            reject(new ProviderError('the model server sent an unreadable answer', false));
          }
        });
      },
    );
    const onAbort = () => {
      req.destroy();
      reject(new ProviderError('no answer before the deadline', false));
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => {
      ctx.signal.removeEventListener('abort', onAbort);
      if (ctx.signal.aborted) return;
      const code = err.code ?? 'error';
      // Refused, or reset before any answer: the request never reached a model; worth one retry.
      reject(
        new ProviderError(
          `cannot reach the model server (${code})`,
          !answered && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(code),
        ),
      );
    });
    req.end(payload);
  });
}
