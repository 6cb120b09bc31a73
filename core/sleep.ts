/**
 * Abortable waiting, shared by the long-running loops (worker retries, scrape rounds), and waiting
 * on work that takes no signal of its own (SDK calls, a run shared by several callers).
 *
 * @module
 */

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * `work`, or a rejection with `signal`'s reason as soon as it aborts (at once when it already has);
 * `work` itself goes on. Without a signal, `work` as it is.
 */
export function abortable<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
