/**
 * A signal that aborts when the client goes away (its connection closed before the answer), with
 * a `cancelled` ProviderError as reason: the model call stops (CUT_AFTER_MS later:
 * request-deadline.ts) and is not mistaken for a timeout or counted against the provider.
 */
import { ProviderError } from './providers/types.ts';

export function clientGone(request: Request): AbortSignal {
  const controller = new AbortController();
  const raw = request.signal;
  const abort = () => controller.abort(new ProviderError('cancelled', 'the client went away'));
  if (raw.aborted) abort();
  else raw.addEventListener('abort', abort, { once: true });
  return controller.signal;
}
