/** What the probes report about the process itself: when it started, and whether it is draining. */
export interface Lifecycle {
  readonly startedAt: number;
  draining: boolean;
}

export function newLifecycle(): Lifecycle {
  return { startedAt: Date.now(), draining: false };
}
