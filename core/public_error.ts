/**
 * What an unauthenticated client may learn from a failure: answers and health reports never
 * carry filesystem paths (they reveal the deployment's layout), and a failure's HTTP status
 * follows its cause — 507 when the disk or bucket is full, 503 when a dependency is
 * unavailable, 500 otherwise. The full error, paths included, goes to the server's log only.
 *
 * @module
 */

/** Replaces absolute filesystem paths (`/var/lib/x`, `C:\data\x`) in `text` with `<path>`. */
export function scrubPaths(text: string): string {
  return text
    .replace(/(^|[\s"'(=:])\/(?:[^\s"'():/]+\/)*[^\s"'():/]+/g, "$1<path>")
    .replace(/(^|[\s"'(=:])[A-Za-z]:\\(?:[^\s"'():\\]+\\?)*/g, "$1<path>");
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

/** The HTTP status for an unexpected failure: 507 storage full, 503 dependency unavailable, else 500. */
export function failureStatus(error: unknown): 500 | 503 | 507 {
  if (isStorageFull(error)) return 507;
  if (causes(error).some((e) => (e as { kind?: unknown }).kind === "unavailable")) return 503;
  return 500;
}

/** The one-line message a client sees for an unexpected failure: no paths, no stack. */
export function publicMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return scrubPaths(text.replace(/\s+/g, " ").trim()).slice(0, 300);
}
