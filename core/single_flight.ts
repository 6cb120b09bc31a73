/**
 * One run at a time of an expensive read that many requests may ask for at once (listing every
 * app's profile walks the whole store: one request per app on a cloud store). Callers that arrive
 * while a run is in flight share its result instead of starting their own, so a flood of listing
 * requests costs the store one listing at a time, not one per request. A caller that arrives after
 * a run has finished starts a new one: a result is never older than the run it came from.
 *
 * @module
 */

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
  let inFlight: Promise<T> | undefined;
  return (signal) => {
    if (!inFlight) {
      const current = run(AbortSignal.timeout(timeoutMs)).finally(() => {
        if (inFlight === current) inFlight = undefined;
      });
      inFlight = current;
    }
    return signal ? raceSignal(inFlight, signal) : inFlight;
  };
}

/** `promise`, or a rejection with `signal`'s reason as soon as it aborts. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
