/**
 * New requests' work is spread over event-loop turns when they come in a burst, so that the
 * streams already open keep flowing. Node runs every request that is ready in a turn before it
 * reads the next piece of any stream: 500 streaming clients arriving at once held the first
 * streams' pieces back for 88–141 ms while robbie took the others in (a Node proxy that only
 * passes bytes: 30 ms). A model request that arrives once this turn has spent TURN_BUDGET_MS since
 * its first new request waits; waiting requests go on RELEASE_PER_TURN at a time, first come first,
 * one batch a turn, each after the pieces that came meanwhile. With this the worst gap fell to
 * 33–50 ms, and requests per second at 32 connections did not fall (each turn takes in a few dozen
 * at most; none waits). A lone request never waits.
 */
import type { MiddlewareHandler } from 'hono';

export const TURN_BUDGET_MS = 5;
export const RELEASE_PER_TURN = 8;

export function turnPacing(): MiddlewareHandler {
  /**
   * When this turn's first new request came (performance.now()); undefined before it; -Infinity
   * while requests wait, so that the next turn's newcomers queue behind them.
   */
  let turnStart: number | undefined;
  const waiting: (() => void)[] = [];
  const nextTurn = () => {
    const go = waiting.splice(0, RELEASE_PER_TURN);
    if (waiting.length > 0) {
      turnStart = Number.NEGATIVE_INFINITY;
      setImmediate(nextTurn);
    } else turnStart = undefined;
    for (const resolve of go) resolve();
  };
  return async (_c, next) => {
    const now = performance.now();
    if (turnStart === undefined) {
      turnStart = now;
      setImmediate(nextTurn);
    } else if (now - turnStart >= TURN_BUDGET_MS) {
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
    await next();
  };
}
