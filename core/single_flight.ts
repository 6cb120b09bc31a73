/**
 * One run at a time of an expensive read that many requests may ask for at once (listing every
 * app's profile walks the whole store: one request per app on a cloud store). Callers that arrive
 * while a run is in flight share its result instead of starting their own, so a flood of listing
 * requests costs the store one listing at a time, not one per request. A caller that arrives after
 * a run has finished starts a new one: a result is never older than the run it came from.
 *
 * @module
 */

import { withDeadline } from "./deadline.ts";
import { abortable } from "./sleep.ts";

/**
 * Wraps `run` so that concurrent calls share one run. The shared run gets its own `AbortSignal`
 * (`timeoutMs` long), not a caller's: one caller's deadline must not fail the others. Each caller
 * waits at most until its own `signal` aborts (rejecting with its reason); the run goes on for the
 * others.
 */
export function singleFlight<T>(
  run: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
): (signal?: AbortSignal) => Promise<T> {
  const byKey = singleFlightByKey((_: null, signal) => run(signal), timeoutMs);
  return (signal) => byKey(null, signal);
}

/** {@link singleFlight} per key: concurrent calls for the same key share one run of `run(key)`. */
export function singleFlightByKey<K, T>(
  run: (key: K, signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
): (key: K, signal?: AbortSignal) => Promise<T> {
  const inFlight = new Map<K, Promise<T>>();
  return (key, signal) => {
    let current = inFlight.get(key);
    if (!current) {
      const started = withDeadline(timeoutMs, (deadline) => run(key, deadline)).finally(() => {
        if (inFlight.get(key) === started) inFlight.delete(key);
      });
      inFlight.set(key, current = started);
    }
    return abortable(current, signal);
  };
}
