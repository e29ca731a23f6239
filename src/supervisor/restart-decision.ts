/**
 * What to do when a child is gone — the whole restart policy in one pure function (the README's
 * table of cases is this function). The distinction that matters:
 *
 * - A child that became ready and then served for at least the minimum uptime failed *after
 *   starting*: it is replaced at once (the warm standby promoted, or a fresh start with no delay),
 *   however often that happened before. That is what keeps the API up when a poison request or an
 *   OOM kills it again and again.
 * - A child that exited or hung before it was ready, or within the minimum uptime after it,
 *   failed *to start*: those restarts back off exponentially, and too many within the window trip
 *   a cool-down (or, with --give-up, the end of the supervisor) — a crash loop stays bounded.
 * - Exit code 78 is the child refusing its configuration: restarting cannot help.
 */

import type { BackoffOptions } from './backoff.ts';
import { backoffDelay } from './backoff.ts';
import type { RestartPolicy } from './supervise-config.ts';

/** Why a child ended, as the supervisor classifies it. */
export type EndReason = 'exit' | 'crash' | 'hang' | 'config';

/** The exit code by which a program says its configuration is wrong (EX_CONFIG, sysexits.h). */
export const EXIT_CONFIG = 78;

export interface DecisionInput {
  policy: RestartPolicy;
  reason: EndReason;
  /** It ended before it was ready, or within the minimum uptime after becoming ready. */
  startFailure: boolean;
  /** Start failures in a row, this one included. */
  consecutiveStartFailures: number;
  /** Start failures within the restart window, this one included. */
  startFailuresInWindow: number;
  maxRestarts: number;
  giveUp: boolean;
  cooldownMs: number;
  backoff: BackoffOptions;
  /** A warm standby is booted and can take over now. */
  standbyReady: boolean;
  /** A number in [0, 1) for the jitter. */
  random: number;
}

export type Decision =
  /** The restart policy says to leave it stopped. */
  | { kind: 'stay' }
  /** Exit 78: report it and stop the supervisor with 78. */
  | { kind: 'config-error' }
  /** Hand the slot to the warm standby, now. */
  | { kind: 'promote' }
  /** Start a new child after `delayMs` (0: now). */
  | { kind: 'start'; delayMs: number }
  /** Too many start failures within the window: pause, then try again with a fresh budget. */
  | { kind: 'cooldown'; delayMs: number }
  /** Too many start failures, and --give-up: stop the supervisor with exit 1. */
  | { kind: 'give-up' };

export function decide(input: DecisionInput): Decision {
  if (input.reason === 'config') return { kind: 'config-error' };
  if (input.policy === 'never' || (input.policy === 'on-failure' && input.reason === 'exit')) {
    return { kind: 'stay' };
  }
  if (!input.startFailure) return input.standbyReady ? { kind: 'promote' } : { kind: 'start', delayMs: 0 };
  if (input.startFailuresInWindow > input.maxRestarts) {
    return input.giveUp ? { kind: 'give-up' } : { kind: 'cooldown', delayMs: input.cooldownMs };
  }
  // A booted standby is not a new start: it can take over without waiting.
  if (input.standbyReady) return { kind: 'promote' };
  return {
    kind: 'start',
    delayMs: backoffDelay(input.consecutiveStartFailures, input.backoff, input.random),
  };
}

/** How a child's end is classified: exit 78 → config, the supervisor's own kill for a hang → hang. */
export function endReason(
  info: { code: number | null; signal: NodeJS.Signals | null; error?: string },
  killedForHang: boolean,
): EndReason {
  if (killedForHang) return 'hang';
  if (info.code === EXIT_CONFIG) return 'config';
  return info.code === 0 && !info.signal && !info.error ? 'exit' : 'crash';
}

/** Whether an end counts as a failure to start (see the module comment). */
export function isStartFailure(readyAt: number | undefined, endedAt: number, minUptimeMs: number): boolean {
  return readyAt === undefined || endedAt - readyAt < minUptimeMs;
}
