/**
 * What an unauthenticated client may learn from a failure: answers and health reports never
 * carry filesystem paths (they reveal the deployment's layout) nor whole URLs (only their origin), and a failure's HTTP status
 * follows its cause — 507 when the disk or bucket is full, 503 when a dependency is
 * unavailable or has not answered by the request's deadline, 500 otherwise. The full error,
 * paths included, goes to the server's log only.
 *
 * @module
 */

/** Replaces absolute filesystem paths (`/var/lib/x`, `C:\data\x`) in `text` with `<path>`. */
export function scrubPaths(text: string): string {
  return text
    .replace(/(^|[\s"'(=:])\/(?:[^\s"'():/]+\/)*[^\s"'():/]+/g, "$1<path>")
    .replace(/(^|[\s"'(=:])[A-Za-z]:\\(?:[^\s"'():\\]+\\?)*/g, "$1<path>");
}

/**
 * URLs in `text` cut to their origin (`scheme://host:port`): an SDK's error names the whole
 * request URL — object keys, query strings, and any credentials written in it — where the
 * endpoint is what tells a client which dependency failed.
 */
export function originsOnly(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)(?:[^\s@/"'?#]*@)?([^\s/"'?#]+)[^\s"')]*/gi, "$1$2");
}

function causes(error: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && !out.includes(e) && out.length < 8;) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/** True when `error` (or a cause) says storage is full: ENOSPC, a quota, a full bucket. */
export function isStorageFull(error: unknown): boolean {
  return causes(error).some((e) => {
    const text = `${(e as { code?: unknown }).code ?? ""} ${e instanceof Error ? `${e.name} ${e.message}` : String(e)}`;
    return /ENOSPC|No space left on device|os error 28|EDQUOT|Disk quota exceeded|StorageFull|InsufficientStorage/i
      .test(text);
  });
}

/**
 * True when `error` (or a cause) is the request's deadline passing (an `AbortError` or
 * `TimeoutError`): what an SDK throws when it is still waiting for a store or bus that hangs.
 */
export function isDeadline(error: unknown): boolean {
  return causes(error).some((e) => e instanceof Error && (e.name === "AbortError" || e.name === "TimeoutError"));
}

/**
 * The HTTP status for an unexpected failure: 507 storage full, 503 dependency unavailable or
 * still not answering at the request's deadline, else 500.
 */
export function failureStatus(error: unknown): 500 | 503 | 507 {
  if (isStorageFull(error)) return 507;
  if (causes(error).some((e) => (e as { kind?: unknown }).kind === "unavailable") || isDeadline(error)) return 503;
  return 500;
}

/** The one-line message a client sees for an unexpected failure: no paths, no stack. */
export function publicMessage(error: unknown): string {
  if (isDeadline(error) && !isStorageFull(error)) {
    return "the request timed out waiting for the store or the event bus (--request-timeout); retry later";
  }
  const text = error instanceof Error ? error.message : String(error);
  return scrubPaths(originsOnly(text.replace(/\s+/g, " ").trim())).slice(0, 300);
}

/** A thrown value's message on one line (runs of white space, line breaks included, become one space). */
export function messageLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").trim();
}
