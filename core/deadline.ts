/**
 * Deadlines whose timers go when their work is done. `AbortSignal.timeout(ms)` keeps its signal,
 * its timer and what listens to it until the time has passed, however soon the work ended: one per
 * request with the 120 s request deadline held 257,000 signals (74 MB after a full collection)
 * once a flood of health checks had been answered. A {@link Deadline} is cleared at the end of its
 * work instead, and aborts like `AbortSignal.timeout` (a `TimeoutError` `DOMException`) if it is not.
 *
 * @module
 */

/** A signal that aborts after a time, unless {@link Deadline.clear} is called first. */
export interface Deadline {
  /** Aborts with a `TimeoutError` when the time has passed. */
  readonly signal: AbortSignal;
  /** Drops the timer (the signal then never aborts); idempotent. */
  clear(): void;
}

/** Starts a deadline `ms` milliseconds from now. */
export function startDeadline(ms: number): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("Signal timed out.", "TimeoutError")), ms);
  // Like AbortSignal.timeout, a pending deadline does not keep the process alive.
  Deno.unrefTimer(timer);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** Runs `work` with a deadline of `ms` milliseconds and clears the deadline when it settles. */
export async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = startDeadline(ms);
  try {
    return await work(deadline.signal);
  } finally {
    deadline.clear();
  }
}
